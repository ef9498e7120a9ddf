"""Tracing as a service: resolve cases to pseudonyms, trace them on the lake, store the results.

Cases are given by ID number or mobile phone; both are normalised and turned into the keyed hash
the ledger and the lake use (``core.crypto``). Results of one run are stored in one transaction:
a failure anywhere leaves the database as it was.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.core.events import publish
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.engine import QueryEngine
from zhikong.geo.models import AdminUnit
from zhikong.people.models import Household, Person
from zhikong.tracing.lake import LEDGER_SCHEMA
from zhikong.tracing.models import Case, Contact, ContactClass, Exposure, RunStatus, TraceRun
from zhikong.tracing.policy import Policy
from zhikong.tracing.result import NameDecoder
from zhikong.tracing.risk import explain
from zhikong.tracing.roster import RosterImport, import_roster
from zhikong.tracing.trace import IndexCase, TraceResult, trace


@dataclass(frozen=True)
class CaseInput:
    identifier: str
    onset_at: datetime
    isolated_at: datetime | None = None


@dataclass(frozen=True)
class ResolvedCase:
    person_key: str
    id_hash: str | None
    phone_hash: str | None
    person_id: int | None
    label: str


def normalise_identifier(raw: str) -> tuple[str, str]:
    """``("id", normalised ID number)`` or ``("phone", E.164)`` (``people.idcard``/``people.phone``)."""
    from zhikong.people import idcard, phone

    s = raw.strip()
    compact = re.sub(r"[\s-]", "", s)
    if len(compact) in (15, 18) and compact[:6].isdigit():
        try:
            return "id", idcard.normalise(compact)
        except InvalidInput as e:
            raise InvalidInput(f"case {raw!r}: {e.message}", field="case") from e
    try:
        return "phone", phone.normalise(s)
    except InvalidInput as e:
        raise InvalidInput(
            f"case {raw!r} is neither a valid ID number nor a mobile number: {e.message}", field="case"
        ) from e


def resolve_case(session: Session, raw: str) -> ResolvedCase:
    kind, norm = normalise_identifier(raw)
    h = get_cipher().keyed_hash(norm)
    col = Person.id_number_hash if kind == "id" else Person.phone_hash
    person = session.scalars(select(Person).where(col == h).order_by(Person.id)).first()
    if person is None:
        raise NotFound(
            f"case {mask_middle(norm, 4, 4)}: no person with this "
            f"{'ID number' if kind == 'id' else 'phone'} in the ledger",
            field="case",
        )
    id_hash = person.id_number_hash
    phone_hash = person.phone_hash
    return ResolvedCase(
        person_key=id_hash or phone_hash or h,
        id_hash=id_hash,
        phone_hash=phone_hash,
        person_id=person.id,
        label=person.id_number_masked or person.phone_masked or mask_middle(norm, 4, 4),
    )


def ledger_table(session: Session) -> pa.Table:
    """(pid_id, pid_phone, household, born_s, village) of the ledger, from the keyed hashes it stores."""
    rows = session.execute(
        select(Person.id_number_hash, Person.phone_hash, Household.code, Person.birth_date, AdminUnit.code)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(AdminUnit, AdminUnit.id == Person.village_id)
    ).all()
    return pa.table(
        {
            "pid_id": [r[0] for r in rows],
            "pid_phone": [r[1] for r in rows],
            "household": [r[2] for r in rows],
            "born_s": [_local_midnight_s(r[3]) for r in rows],
            "village": [r[4] for r in rows],
        },
        schema=LEDGER_SCHEMA,
    )


def _local_midnight_s(d: date | None) -> int | None:
    """Epoch seconds of local (China) midnight of ``d``."""
    if d is None:
        return None
    return int(datetime(d.year, d.month, d.day, tzinfo=CHINA_TZ).timestamp())


def _person_ids(session: Session, keys: set[str]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    key_list = sorted(keys)
    for i in range(0, len(key_list), 500):
        chunk = key_list[i : i + 500]
        for p in session.scalars(select(Person).where(Person.id_number_hash.in_(chunk))):
            out[str(p.id_number_hash)] = (p.id, p.id_number_masked or p.name)
        for p in session.scalars(select(Person).where(Person.phone_hash.in_(chunk))):
            out.setdefault(str(p.phone_hash), (p.id, p.phone_masked or p.name))
    return out


def register_cases(session: Session, cases: list[CaseInput], now: datetime | None = None) -> list[Case]:
    """Resolve and add (or update) cases; nothing is committed here."""
    now = now or utcnow()
    out = []
    for c in cases:
        if c.onset_at > now:
            raise InvalidInput(
                f"case {c.identifier}: onset/sampling time {c.onset_at.isoformat()} is in the future",
                field="onset",
            )
        if c.isolated_at is not None and c.isolated_at < c.onset_at:
            raise InvalidInput(f"case {c.identifier}: isolation time is before onset", field="isolated")
        r = resolve_case(session, c.identifier)
        row = session.scalars(select(Case).where(Case.person_key == r.person_key)).first()
        if row is None:
            row = Case(
                person_key=r.person_key,
                person_id=r.person_id,
                id_number_hash=r.id_hash,
                phone_hash=r.phone_hash,
                label=r.label,
                onset_at=c.onset_at,
                isolated_at=c.isolated_at,
            )
            session.add(row)
        else:
            row.onset_at, row.isolated_at = c.onset_at, c.isolated_at
        out.append(row)
    session.flush()
    publish("tracing.cases_registered", {"case_ids": [c.id for c in out], "at": now.isoformat()},
            session=session)
    return out


def new_cases(session: Session) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.traced_at.is_(None)).order_by(Case.id)))


def run_trace(
    session: Session,
    engine: QueryEngine,
    lake_dir: Path,
    cases: list[Case],
    policy: Policy,
    *,
    now: datetime | None = None,
) -> tuple[TraceRun, TraceResult]:
    """Trace ``cases`` and add the run, contacts and evidence to ``session`` (caller commits)."""
    now = now or utcnow()
    if not cases:
        raise InvalidInput("no cases to trace (give case IDs, or register cases for --all-new)", field="case")
    index = [
        IndexCase(
            key=str(c.id), person=c.person_key, onset_at=c.onset_at, end_at=min(c.isolated_at or now, now)
        )
        for c in cases
    ]
    result = trace(engine, lake_dir, ledger_table(session), index, policy, now=now)
    if len(result.without_trajectory) == len(cases):
        labels = ", ".join(c.label for c in cases)
        raise InvalidInput(
            f"no trajectory records for case(s) {labels} in the infectious window; "
            "check the onset time and that the feeds for those days are ingested",
            field="case",
        )
    run = TraceRun(
        policy=policy.name,
        policy_edition=policy.edition,
        engine=engine.dialect.name,
        status=RunStatus.COMPLETED if len(result) else RunStatus.EMPTY,
        cases=len(cases),
        contacts=len(result),
        sources=json.dumps(result.sources),
        started_at=now,
    )
    session.add(run)
    session.flush()
    store_contacts(session, run.id, result, {str(c.id): c.id for c in cases}, policy)
    for c in cases:
        c.traced_at = now
    run.finished_at = utcnow()
    session.flush()
    publish("tracing.run_finished", {"run_id": run.id, "contacts": run.contacts, "at": now.isoformat()},
            session=session)
    return run, result


def store_contacts(
    session: Session, run_id: int, result: TraceResult, case_ids: dict[str, int], policy: Policy
) -> None:
    """Add the contacts of ``result`` and their exposures to run ``run_id`` (``case_ids``: the case
    of each case key), from the result's columns, in bulk: one INSERT of all contacts, in order,
    and one of all exposures, in the order of the contacts."""
    case_key, key, cls, hop, score, close_minutes, first_s, last_s, via = result.columns(
        "case_key", "contact", "cls", "hop", "score", "close_minutes", "first_s", "last_s", "via"
    )
    contributions = result.contribution_dicts()
    people = _person_ids(session, set(key))
    quarantine = {c: getattr(policy.quarantine, c) for c in set(cls)}
    rows = [
        {
            "run_id": run_id,
            "case_id": case_ids[case_key[i]],
            "person_key": key[i],
            "person_id": people.get(key[i], (None, ""))[0],
            "cls": ContactClass(cls[i]),
            "hop": hop[i],
            "score": round(score[i], 3),
            "close_minutes": round(close_minutes[i], 1),
            "first_at": datetime.fromtimestamp(first_s[i], UTC),
            "last_at": datetime.fromtimestamp(last_s[i], UTC),
            "contributions": json.dumps(contributions[i]),
            "explanation": explain(score[i], contributions[i])[:255],
            "via_person_key": via[i],
            "quarantine_central_days": quarantine[cls[i]].central_days,
            "quarantine_home_days": quarantine[cls[i]].home_days,
        }
        for i in range(len(key))
    ]
    if not rows:
        return
    # Core executemany: the ORM's bulk insert costs a unit of work per row, and with RETURNING
    # its batches are spliced in quadratic time (minutes for 300,000 contacts). The ids are read
    # back by (case, person), which is unique in a run
    session.execute(insert(cast(Table, Contact.__table__)), rows)
    id_of = {
        (case_id, person): contact_id
        for contact_id, case_id, person in session.execute(
            select(Contact.id, Contact.case_id, Contact.person_key).where(Contact.run_id == run_id)
        )
    }
    spans, ev = exposure_rows(result.evidence_table)
    exposures = [
        exposure_row(id_of[(r["case_id"], r["person_key"])], ev, j)
        for r, ck in zip(rows, case_key, strict=True)
        for j in range(*spans.get((ck, r["person_key"]), (0, 0)))
    ]
    if exposures:
        session.execute(insert(cast(Table, Exposure.__table__)), exposures)


def exposure_row(contact_id: int, ev: dict[str, list[object]], i: int) -> dict[str, object]:
    """Row ``i`` of the sorted evidence (:func:`exposure_rows`) as an exposure of ``contact_id``."""
    return {
        "contact_id": contact_id,
        "source": str(ev["source"][i]),
        "place": str(ev["place"][i])[:128],
        "start_at": datetime.fromtimestamp(int(ev["start_s"][i]), UTC),  # type: ignore[call-overload]
        "end_at": datetime.fromtimestamp(int(ev["end_s"][i]), UTC),  # type: ignore[call-overload]
        "minutes": round(float(ev["minutes"][i]), 1),  # type: ignore[arg-type]
        "distance": str(ev["distance"][i]),
        "score": round(float(ev["score"][i]), 3),  # type: ignore[arg-type]
    }


#: the order of a contact's stored exposures: hop 1, then hop 2 by the close contact they came through
EXPOSURE_ORDER = [
    *("case_key", "contact", "hop", "via", "source"),
    *("start_s", "place", "end_s", "minutes", "distance"),
]


def exposure_rows(
    evidence: pd.DataFrame | pa.Table,
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[str, list[object]]]:
    """The evidence of a trace for storing (``TraceResult.evidence_table``, or the same as pandas):
    its columns as lists, sorted once by :data:`EXPOSURE_ORDER` (missing values last, names by
    their text), and for each (case, contact) the range of its rows (``[lo, hi)``)."""
    t = evidence if isinstance(evidence, pa.Table) else pa.Table.from_pandas(evidence, preserve_index=False)
    if t.num_rows == 0:
        return {}, {}
    keys = pa.table([_sort_key(t.column(c)) for c in EXPOSURE_ORDER], names=EXPOSURE_ORDER)
    order = pc.sort_indices(keys, sort_keys=[(c, "ascending", "at_end") for c in EXPOSURE_ORDER])
    t = t.take(order)
    decode = NameDecoder()
    cols = {c: _values(col, decode) for c, col in zip(t.column_names, t.columns, strict=True)}
    case, contact = cols["case_key"], cols["contact"]
    cut = [i for i in range(1, len(case)) if case[i] != case[i - 1] or contact[i] != contact[i - 1]]
    starts, ends = [0, *cut], [*cut, len(case)]
    spans = {(str(case[a]), str(contact[a])): (a, b) for a, b in zip(starts, ends, strict=True)}
    return spans, cols


def _values(col: pa.ChunkedArray, decode: NameDecoder) -> list[object]:
    """A column as a list: names and strings each distinct value one ``str``, None for null."""
    if pa.types.is_null(col.type):
        return [None] * len(col)
    if pa.types.is_dictionary(col.type) or pa.types.is_string(col.type):
        return list(decode(col).tolist())
    return list(col.to_numpy(zero_copy_only=False).tolist())


def _sort_key(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """``col`` as a sort key: a dictionary column as the ranks of its names (null stays null)."""
    if not pa.types.is_dictionary(col.type):
        return col
    chunks = []
    for chunk in col.chunks:
        rank = pc.rank(chunk.dictionary, sort_keys="ascending", tiebreaker="dense").to_numpy()
        idx = chunk.indices
        missing = idx.is_null().to_numpy(zero_copy_only=False)
        ranks = np.append(rank, 0)[idx.fill_null(len(rank)).to_numpy()]  # null: the extra 0, masked
        chunks.append(pa.array(ranks, pa.uint64(), mask=missing))
    return pa.chunked_array(chunks, type=pa.uint64())


def contacts_frame(session: Session, run_id: int) -> pd.DataFrame:
    """The stored contacts of a run for export (masked identifiers only)."""
    run = session.get(TraceRun, run_id)
    if run is None:
        raise NotFound(f"trace run {run_id} does not exist", field="run")
    rows = session.execute(
        select(Contact, Case.label, Person.name, Person.id_number_masked, Person.phone_masked)
        .join(Case, Case.id == Contact.case_id)
        .outerjoin(Person, Person.id == Contact.person_id)
        .where(Contact.run_id == run_id)
        .order_by(Contact.case_id, Contact.score.desc())
    ).all()
    return pd.DataFrame(
        [
            {
                "case": label,
                "class": c.cls.value,
                "hop": c.hop,
                "name": name or "",
                "id_number": idm or "",
                "phone": phm or "",
                "score": c.score,
                "close_minutes": c.close_minutes,
                "first_at": c.first_at.isoformat(),
                "last_at": c.last_at.isoformat(),
                "quarantine": f"{c.quarantine_central_days}+{c.quarantine_home_days}",
                "explanation": c.explanation,
            }
            for c, label, name, idm, phm in rows
        ]
    )


def exposures_frame(session: Session, run_id: int) -> pd.DataFrame:
    rows = session.execute(
        select(Exposure, Contact.person_key, Case.label)
        .join(Contact, Contact.id == Exposure.contact_id)
        .join(Case, Case.id == Contact.case_id)
        .where(Contact.run_id == run_id)
        .order_by(Exposure.id)
    ).all()
    return pd.DataFrame(
        [
            {
                "case": label,
                "contact": key[:12],
                "source": e.source,
                "place": e.place,
                "start_at": e.start_at.isoformat(),
                "end_at": e.end_at.isoformat(),
                "minutes": e.minutes,
                "distance": e.distance,
                "score": e.score,
            }
            for e, key, label in rows
        ]
    )


def export_run(session: Session, run_id: int, out: Path) -> list[Path]:
    """Write ``contacts-<run>.csv``, ``exposures-<run>.csv`` and ``trace-<run>.xlsx`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    contacts, exposures = contacts_frame(session, run_id), exposures_frame(session, run_id)
    paths = [out / f"contacts-{run_id}.csv", out / f"exposures-{run_id}.csv", out / f"trace-{run_id}.xlsx"]
    contacts.to_csv(paths[0], index=False, encoding="utf-8-sig")
    exposures.to_csv(paths[1], index=False, encoding="utf-8-sig")
    with pd.ExcelWriter(paths[2], engine="openpyxl") as xl:
        contacts.to_excel(xl, sheet_name="contacts", index=False)
        exposures.to_excel(xl, sheet_name="exposures", index=False)
    return paths


def import_school_roster(path: Path, lake_dir: Path) -> RosterImport:
    """Import a class roster (学校班级花名册) into the lake with the installation's keyed hash
    (``tracing.roster``): bad rows come back named, the file's good rows are stored."""
    return import_roster(path, lake_dir, get_cipher())

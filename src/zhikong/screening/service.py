"""Screening rules: import lists and risk areas, link lists to the ledger, act on the decisions.

Decisions of a link run (thresholds from the settings):

* ``auto_link``: the row is linked to the ledger person; arrivals from a risk area, netizen
  reports and CDC cases become key persons (重点人员) with the policy's control measure;
* ``review``: a verification task (来返人员核查) for the candidate's village, with the match
  explanation (the level each comparison reached and its match weight);
* ``not_in_ledger``: a registration task (排查登记) for the village of the stated address (or its
  town, or the district).

Tasks go through :func:`create_task`, the single bridge to ``zhikong.tasks``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.core.events import publish
from zhikong.core.time import day_bounds_utc, local_day, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.people.models import Person
from zhikong.screening.identifiers import phone_e164
from zhikong.screening.imports import parse_list, parse_risk_areas, read_table, sha256_of
from zhikong.screening.linkage import Backend, Candidate, Thresholds, decide, link
from zhikong.screening.models import (
    Decision,
    IncomingList,
    ListLink,
    ListRow,
    ListSource,
    RiskArea,
)

log = logging.getLogger(__name__)


# ---- tasks bridge --------------------------------------------------------------------------------

def create_task(session: Session, *, kind: str, unit_id: int, title: str, description: str,
                priority: str = "normal", subject_type: str = "none",
                subject_id: int | None = None) -> int | None:
    """Create a workflow task for a screening finding; ``None`` when the workflow module is not
    installed (the decision stays stored and can be dispatched later)."""
    try:
        from zhikong.tasks import service as tasks
    except ImportError:
        log.info("zhikong.tasks is not available; %s task for unit %s not created", kind, unit_id)
        return None
    task = tasks.create_task(session, kind=kind, unit_id=unit_id, title=title,
                             description=description, priority=priority,
                             subject_type=subject_type, subject_id=subject_id,
                             source="screening", actor="screening")
    return int(task.id)


# ---- lists ---------------------------------------------------------------------------------------

def import_list(session: Session, path: Path | str, *, source: ListSource | str, list_date: date,
                allow_duplicates: bool = False) -> IncomingList:
    """Import one list; every row is checked first and a bad file stores nothing."""
    path = Path(path)
    try:
        src = ListSource(source)
    except ValueError as e:
        raise InvalidInput(f"unknown list source {source!r}; one of "
                           + ", ".join(s.value for s in ListSource), field="source") from e
    rows = parse_list(read_table(path), path.name, allow_duplicates=allow_duplicates)
    cipher = get_cipher()
    lst = IncomingList(source=src, list_date=list_date, file_name=path.name,
                       sha256=sha256_of(path), rows_total=len(rows))
    session.add(lst)
    session.flush()
    for r in rows:
        e164 = phone_e164(r.phone)
        phone_plain = e164 or r.phone
        session.add(ListRow(
            list_id=lst.id, row_no=r.row_no, name=r.name, sex=r.sex, birth_date=r.birth_date,
            id_number_enc=cipher.encrypt(r.id_number) if r.id_number else None,
            id_number_hash=cipher.keyed_hash(r.id_number) if r.id_number else None,
            id_number_masked=mask_middle(r.id_number, 6, 4) if r.id_number else None,
            id_number_valid=r.id_number_valid,
            phone_enc=cipher.encrypt(phone_plain) if phone_plain else None,
            phone_hash=cipher.keyed_hash(e164) if e164 else None,
            phone_masked=(mask_middle(r.phone, 3, 4) if r.phone else
                          (r.phone_raw if r.phone_raw and "*" in r.phone_raw else None)),
            address=r.address, village_code=r.village_code, origin_city=r.origin_city,
            event_date=r.event_date, extra=r.extra))
    session.flush()
    return lst


def list_frame(session: Session, list_id: int) -> pd.DataFrame:
    """The rows of a list with decrypted identifiers, for linkage (never leaves the process)."""
    cipher = get_cipher()
    rows = session.scalars(select(ListRow).where(ListRow.list_id == list_id)
                           .order_by(ListRow.row_no)).all()
    return pd.DataFrame([{
        "unique_id": str(r.id), "name": r.name,
        "id_number": cipher.decrypt(r.id_number_enc) if r.id_number_enc else None,
        "phone": (cipher.decrypt(r.phone_enc) if r.phone_enc else r.phone_masked),
        "birth_date": r.birth_date.isoformat() if r.birth_date else None,
        "sex": r.sex, "village_code": r.village_code, "address": r.address,
    } for r in rows], columns=["unique_id", "name", "id_number", "phone", "birth_date", "sex",
                               "village_code", "address"])


def ledger_frame(session: Session) -> pd.DataFrame:
    """Every ledger person with decrypted identifiers and the village code, for linkage."""
    cipher = get_cipher()
    stmt = select(Person.id, Person.name, Person.sex, Person.birth_date, Person.id_number_enc,
                  Person.phone_enc, Person.address, AdminUnit.code).join(
        AdminUnit, AdminUnit.id == Person.village_id)
    recs = [{
        "unique_id": str(pid), "name": name, "sex": str(sex) if sex else None,
        "birth_date": bd.isoformat() if bd else None,
        "id_number": cipher.decrypt(ide) if ide else None,
        "phone": cipher.decrypt(ph) if ph else None, "address": addr, "village_code": code,
    } for pid, name, sex, bd, ide, ph, addr, code in session.execute(stmt)]
    return pd.DataFrame(recs, columns=["unique_id", "name", "sex", "birth_date", "id_number",
                                       "phone", "address", "village_code"])


@dataclass
class LinkSummary:
    list_id: int
    rows: int
    auto_link: int
    review: int
    not_in_ledger: int
    tasks: int
    key_persons: int


def _unit_for_code(session: Session, code: str | None) -> int | None:
    """The village of a code, else its town, else the district (first unit at district level)."""
    for c in ([code, code[:9], code[:9] + "000"] if code else []):
        uid = session.scalar(select(AdminUnit.id).where(AdminUnit.code == c))
        if uid is not None:
            return uid
    return session.scalar(select(AdminUnit.id).where(AdminUnit.level == UnitLevel.DISTRICT)
                          .order_by(AdminUnit.id).limit(1))


def _explain_text(c: Candidate) -> str:
    parts = [f"{k}: {v['level']} ({v['match_weight']:+.1f})" for k, v in c.explanation.items()
             if v.get("match_weight") is not None]
    return f"匹配概率 match probability {c.match_probability:.3f}; " + "; ".join(parts)


def link_list(session: Session, list_id: int, *, thresholds: Thresholds | None = None,
              backend: Backend = "duckdb", ledger: pd.DataFrame | None = None) -> LinkSummary:
    """Link a stored list to the ledger, store one decision per row and dispatch the tasks."""
    from zhikong.screening.keypersons import add_key_person, category_for

    lst = session.get(IncomingList, list_id)
    if lst is None:
        raise NotFound(f"list {list_id} does not exist")
    th = thresholds or Thresholds.from_settings()
    records = list_frame(session, list_id)
    ledger = ledger if ledger is not None else ledger_frame(session)
    if ledger.empty:
        raise InvalidInput("the ledger is empty: import it before linking lists", field="ledger")
    run = link(records, ledger, backend=backend, threshold=min(th.review, 0.05))
    cands = decide(run, list(records["unique_id"]), th)
    row_ids = [int(u) for u in records["unique_id"]]
    session.execute(delete(ListLink).where(ListLink.row_id.in_(row_ids)))
    rows = {r.id: r for r in session.scalars(select(ListRow).where(ListRow.id.in_(row_ids)))}
    summary = LinkSummary(list_id, len(cands), 0, 0, 0, 0, 0)
    for c in cands:
        row = rows[int(c.list_uid)]
        person = session.get(Person, int(c.ledger_uid)) if c.ledger_uid else None
        link_row = ListLink(row_id=row.id, person_id=person.id if person else None,
                            decision=Decision(c.decision), match_probability=c.match_probability,
                            match_weight=c.match_weight, explanation=c.explanation)
        session.add(link_row)
        if c.decision == "auto_link" and person is not None:
            summary.auto_link += 1
            cat = category_for(session, lst.source, row)
            if cat is not None and add_key_person(session, category=cat, person=person, row=row,
                              source=f"{lst.source.value}:{lst.id}",
                              start=row.event_date or lst.list_date) is not None:
                summary.key_persons += 1
        elif c.decision == "review" and person is not None:
            summary.review += 1
            link_row.unit_id = person.village_id
            link_row.task_id = create_task(
                session, kind="arrival_verification", unit_id=person.village_id,
                title=f"核实名单人员 {row.name}（{lst.source.value} 名单第 {row.row_no} 行）",
                description=_explain_text(c), priority="high", subject_type="person",
                subject_id=person.id)
        else:
            summary.not_in_ledger += 1
            unit = _unit_for_code(session, row.village_code)
            link_row.unit_id = unit
            if unit is not None:
                link_row.task_id = create_task(
                    session, kind="registration", unit_id=unit,
                    title=f"排查登记 {row.name}（台账外，{lst.source.value} 名单第 {row.row_no} 行）",
                    description=f"名单人员未在基础台账中找到 not in the ledger; 地址 {row.address or '-'}",
                    priority="high")
        summary.tasks += link_row.task_id is not None
    lst.linked_at = utcnow()
    session.flush()
    return summary


# ---- risk areas ----------------------------------------------------------------------------------

def import_risk_areas(session: Session, path: Path | str, *, published_on: date | None = None
                      ) -> int:
    """Import one publication of the risk-area list (all rows or nothing); returns rows stored."""
    path = Path(path)
    rows = parse_risk_areas(read_table(path), path.name)
    pub = published_on or max(date.fromisoformat(r["effective_from"]) for r in rows)
    for r in rows:
        start = day_bounds_utc(date.fromisoformat(r["effective_from"]))[0]
        end = day_bounds_utc(date.fromisoformat(r["effective_to"]))[1] if r["effective_to"] else None
        session.add(RiskArea(published_on=pub, level=r["level"], province=r["province"],
                             city=r["city"], area_code=r["area_code"], district=r["district"],
                             street=r["street"], effective_from=start, effective_to=end,
                             source_file=path.name))
    session.flush()
    publish("screening.risk_areas_imported", {"published_on": pub.isoformat(), "rows": len(rows)},
            session=session)
    return len(rows)


def _trim_code(code: str) -> str:
    """``420100`` → ``4201``, ``420106001000`` → ``420106001``: drop the zero tails of levels."""
    c = code
    while len(c) > 6 and c.endswith("000"):
        c = c[:-3]
    while len(c) <= 6 and len(c) > 2 and c.endswith("00"):
        c = c[:-2]
    return c


def _code_matches(entry: str | None, query: str) -> bool:
    if not entry:
        return False
    e, q = _trim_code(entry), _trim_code(query)
    return q.startswith(e) or e.startswith(q)


def risk_areas_at(session: Session, at: datetime) -> Sequence[RiskArea]:
    """Entries in effect at ``at`` according to the latest publication known by then."""
    pub = session.scalar(select(RiskArea.published_on).where(RiskArea.published_on <= local_day(at))
                         .order_by(RiskArea.published_on.desc()).limit(1))
    if pub is None:
        return []
    entries = session.scalars(select(RiskArea).where(RiskArea.published_on == pub)).all()
    return [e for e in entries if e.effective_from <= at
            and (e.effective_to is None or at < e.effective_to)]


def was_risk_area(session: Session, place: str, at: datetime) -> RiskArea | None:
    """The risk-area entry covering ``place`` (a GB/T 2260 code or a city/district/street name)
    at ``at``, or ``None``. A code matches an entry at the same level, above or below it."""
    place = place.strip()
    for e in risk_areas_at(session, at):
        if place.isdigit():
            if _code_matches(e.area_code, place):
                return e
        elif place in {e.city, e.district, e.street}:
            return e
    return None


def risk_frame(session: Session) -> pd.DataFrame:
    """All entries of the latest publication, for engines (city, area_code, UTC period)."""
    pub = session.scalar(select(RiskArea.published_on).order_by(RiskArea.published_on.desc())
                         .limit(1))
    rows: list[dict[str, Any]] = []
    if pub is not None:
        for e in session.scalars(select(RiskArea).where(RiskArea.published_on == pub)):
            rows.append({"city": e.city, "area_code": e.area_code,
                         "effective_from": e.effective_from, "effective_to": e.effective_to})
    return pd.DataFrame(rows, columns=["city", "area_code", "effective_from", "effective_to"])


# ---- concealment ---------------------------------------------------------------------------------

@dataclass
class ConcealmentSummary:
    checked: int
    flagged: int
    tasks: int


def run_concealment(session: Session, lake_dir: Path | None = None) -> ConcealmentSummary:
    """Flag ledger people whose declaration the lake contradicts; one task per new flag."""
    from zhikong.core.config import get_settings
    from zhikong.screening.concealment import find_concealment
    from zhikong.screening.models import ConcealmentFlag

    lake = lake_dir or get_settings().resolved_lake_dir
    persons = pd.DataFrame(
        [{"person_key": str(pid), "id_hash": ih, "phone_hash": ph} for pid, ih, ph in
         session.execute(select(Person.id, Person.id_number_hash, Person.phone_hash))],
        columns=["person_key", "id_hash", "phone_hash"])
    decl_stmt = (select(ListLink.person_id, ListRow.origin_city, ListRow.extra)
                 .join(ListRow, ListRow.id == ListLink.row_id)
                 .join(IncomingList, IncomingList.id == ListRow.list_id)
                 .where(IncomingList.source == ListSource.DECLARATION,
                        ListLink.decision == Decision.AUTO_LINK))
    declarations = pd.DataFrame([
        {"person_key": str(pid), "origin_city": origin,
         "declared_travel": str((extra or {}).get("declared_travel", "是" if origin else "否"))
         .strip().lower() in ("1", "true", "yes", "是", "y")}
        for pid, origin, extra in session.execute(decl_stmt)],
        columns=["person_key", "origin_city", "declared_travel"])
    flags = find_concealment(Path(lake), risk_frame(session), persons, declarations)
    already = set(session.scalars(select(ConcealmentFlag.person_id)))
    out = ConcealmentSummary(len(persons), 0, 0)
    for f in flags:
        pid = int(f.person_key)
        if pid in already:
            continue
        person = session.get(Person, pid)
        if person is None:
            continue
        where = ", ".join(sorted({str(e["city"]) for e in f.evidence}))
        flag = ConcealmentFlag(person_id=pid, evidence=f.evidence,
                               detail=f"申报与大数据不符 declaration contradicted: {where}")
        flag.task_id = create_task(
            session, kind="concealment", unit_id=person.village_id,
            title=f"瞒报核查 {person.name}", priority="urgent", subject_type="person",
            subject_id=pid,
            description=f"行程数据显示到过风险地区 {where}，但未如实申报。证据: "
                        + "; ".join(f"{e['source']} {e['city']} {e['from']}–{e['to']}"
                                    for e in f.evidence[:5]))
        session.add(flag)
        out.flagged += 1
        out.tasks += flag.task_id is not None
    session.flush()
    return out


def dedupe_list(session: Session, list_id: int, *, backend: Backend = "duckdb",
                threshold: float | None = None) -> list[list[int]]:
    """Groups of rows of one list that are the same person (row numbers, groups of ≥ 2)."""
    from zhikong.screening.linkage import dedupe

    if session.get(IncomingList, list_id) is None:
        raise NotFound(f"list {list_id} does not exist")
    records = list_frame(session, list_id)
    th = threshold if threshold is not None else Thresholds.from_settings().auto_link
    _, clusters = dedupe(records, backend=backend, cluster_threshold=th)
    row_no = dict(session.execute(select(ListRow.id, ListRow.row_no)
                                  .where(ListRow.list_id == list_id)).all())
    groups = clusters.groupby("cluster_id")["unique_id"].apply(list)
    return sorted(sorted(row_no[int(u)] for u in g) for g in groups if len(g) > 1)

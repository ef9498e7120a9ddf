"""Set-based risk recompute for registered employees, through a table of risk marks.

Reason categories are found for everybody, set-based, and kept as :class:`RiskMark` rows keyed by
the person's keyed hash (ID number or phone hash, the lake's ``pid``) or by the ledger person
(``p:<person id>``), each valid until an expiry:

* the operational database (SQL): tracing cases and contacts (by ``person_key``, the case's hashes
  and the ledger person) and active key persons with their control measure (screening, by ledger
  person);
* the lake (DuckDB over Parquet, one query for the whole population): travel records (``pid`` =
  ID-number hash) and mobile-network roaming (``pid`` = phone hash) within ``lookback_days`` in a city
  of the latest risk-area publication, during the entry's period.

:func:`refresh_marks` rewrites the marks that changed and returns the keys whose marks changed;
:func:`recompute` refreshes, joins employees to their marks (two indexed joins) and applies the policy
(:mod:`zhikong.enterprise.policy`); :func:`recompute_affected` recomputes only the employees whose
marks changed (what the event subscribers run). A registration looks up its own keys only
(:func:`categories_for`); nothing scans the lake per request. Only changes are written: the
employee row, one :class:`RiskResult` history row and notifications for the enterprise and the
employee.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import String, cast, delete, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from zhikong.core.time import as_utc, day_bounds_utc, local_day, utcnow
from zhikong.enterprise.models import (
    Audience,
    Employee,
    Level,
    Notification,
    RiskMark,
    RiskResult,
)
from zhikong.enterprise.policy import RiskPolicy, load_policy
from zhikong.screening.models import KeyCategory, KeyPerson, KeyStatus, RiskArea
from zhikong.tracing.models import Case, Contact

log = logging.getLogger(__name__)

_CONTACT_CATEGORY = {"close": "close_contact", "secondary": "secondary_contact",
                     "companion": "companion"}
_KEY_CATEGORY = {KeyCategory.CASE: "case", KeyCategory.CLOSE_CONTACT: "close_contact",
                 KeyCategory.SECONDARY_CONTACT: "secondary_contact",
                 KeyCategory.COMPANION: "companion"}
CHUNK = 5000
Marks = dict[tuple[str, str], datetime]


@dataclass
class RecomputeSummary:
    employees: int = 0
    changed: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    tasks: int = 0
    policy_version: str = ""
    seconds: float = 0.0
    #: keys (hashes / ``p:<person id>``) whose marks changed in this run's refresh
    marks_changed: int = 0


def person_key(person_id: int | None) -> str:
    """The mark key of a ledger person (marks found through the ledger rather than a hash)."""
    return f"p:{person_id}"


def employee_keys(id_hash: str, phone_hash: str, person_id: int | None) -> list[str]:
    keys = [id_hash, phone_hash]
    if person_id is not None:
        keys.append(person_key(person_id))
    return keys


def _employees(session: Session, employee_ids: Sequence[int] | None) -> pd.DataFrame:
    stmt: Any = select(Employee.id, Employee.level, Employee.reasons)
    cols = ["id", "level", "reasons"]
    frames = [pd.DataFrame(session.execute(q).all(), columns=cols)
              for q in _restrict(stmt, employee_ids)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _restrict(stmt: Any, employee_ids: Sequence[int] | None) -> list[Any]:
    if employee_ids is None:
        return [stmt]
    ids = list(employee_ids)
    return [stmt.where(Employee.id.in_(ids[i:i + CHUNK])) for i in range(0, len(ids), CHUNK)]


def _mark(marks: Marks, key: str | None, category: str, until: datetime) -> None:
    if not key:
        return
    until = as_utc(until)
    old = marks.get((key, category))
    if old is None or until > old:
        marks[(key, category)] = until


def oltp_marks(session: Session, policy: RiskPolicy, at: datetime) -> Marks:
    """Marks from tracing cases and contacts and active key persons, for everybody (SQL, no loops
    over people beyond reading the result)."""
    marks: Marks = {}
    case_days, contact_days = timedelta(days=policy.case_days), timedelta(days=policy.contact_days)
    for pk, id_hash, phone_hash, pid, onset in session.execute(
            select(Case.person_key, Case.id_number_hash, Case.phone_hash, Case.person_id,
                   Case.onset_at).where(Case.onset_at >= at - case_days)):
        for key in (pk, id_hash, phone_hash, person_key(pid) if pid else None):
            _mark(marks, key, "case", onset + case_days)
    for pk, pid, cls, last in session.execute(
            select(Contact.person_key, Contact.person_id, Contact.cls, Contact.last_at)
            .where(Contact.last_at >= at - contact_days)):
        cat = _CONTACT_CATEGORY[str(cls)]
        for key in (pk, person_key(pid) if pid else None):
            _mark(marks, key, cat, last + contact_days)
    today = local_day(at)
    for pid, cat, measure, end in session.execute(
            select(KeyPerson.person_id, KeyPerson.category, KeyPerson.measure, KeyPerson.end_date)
            .where(KeyPerson.person_id.is_not(None), KeyPerson.status == KeyStatus.ACTIVE,
                   KeyPerson.start_date <= today, KeyPerson.end_date >= today)):
        until = day_bounds_utc(end if isinstance(end, date) else date.fromisoformat(str(end)))[1]
        _mark(marks, person_key(pid), str(measure), until)
        extra = _KEY_CATEGORY.get(KeyCategory(cat))
        if extra:
            _mark(marks, person_key(pid), extra, until)
    return marks


def _risk_entries(session: Session, at: datetime) -> pd.DataFrame:
    pub = session.scalar(select(RiskArea.published_on).where(RiskArea.published_on <= local_day(at))
                         .order_by(RiskArea.published_on.desc()).limit(1))
    rows: list[dict[str, Any]] = []
    if pub is not None:
        for e in session.scalars(select(RiskArea).where(RiskArea.published_on == pub)):
            rows.append({"level": str(e.level), "city": e.city,
                         "city_key": (e.area_code[:4] if e.area_code and len(e.area_code) >= 4
                                      else None),
                         "effective_from": e.effective_from,
                         "effective_to": e.effective_to})
    return pd.DataFrame(rows, columns=["level", "city", "city_key", "effective_from", "effective_to"])


def _parquet(lake: Path, source: str) -> str | None:
    root = lake / source
    if not root.exists() or not any(root.rglob("*.parquet")):
        return None
    return (f"read_parquet('{(root / '**' / '*.parquet').as_posix()}', hive_partitioning = true, "
            "union_by_name = true)")


def lake_marks(lake: Path, risk: pd.DataFrame, policy: RiskPolicy, at: datetime) -> Marks:
    """Travel from / phone presence in a risk-area city within the lookback, for every ``pid`` of
    the lake (one DuckDB query; only pid, category and the last time come back)."""
    marks: Marks = {}
    if risk.empty:
        return marks
    travel, roaming = _parquet(lake, "travel"), _parquet(lake, "roaming")
    if travel is None and roaming is None:
        return marks
    import duckdb

    lookback = timedelta(days=policy.lookback_days)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.register("risk", risk)
        match = ("(r.city = x.city OR (r.city_key IS NOT NULL AND substr(x.code, 1, 4) = r.city_key))"
                 " AND x.t_end >= r.effective_from"
                 " AND (r.effective_to IS NULL OR x.t_start < r.effective_to)")
        parts = []
        if travel is not None:
            parts.append(f"""
                SELECT x.pid, r.level, 'travel' AS kind, x.t_end FROM
                  (SELECT pid, origin_city AS city, origin_code AS code,
                          coalesce(depart_ts, ts) AS t_start, ts AS t_end
                   FROM {travel} WHERE ts >= $since AND ts <= $at) x
                JOIN risk r ON {match}""")
        if roaming is not None:
            parts.append(f"""
                SELECT x.pid, r.level, 'roaming' AS kind, x.t_end FROM
                  (SELECT pid, city, city_code AS code, first_seen AS t_start, last_seen AS t_end
                   FROM {roaming} WHERE last_seen >= $since AND first_seen <= $at) x
                JOIN risk r ON {match}""")
        sql = ("SELECT pid, level, kind, max(t_end) FROM (" + " UNION ALL ".join(parts)
               + ") GROUP BY pid, level, kind")
        for pid, level, kind, last in con.execute(sql, {"since": at - lookback, "at": at}).fetchall():
            _mark(marks, str(pid), f"{level}_risk_{kind}", last + lookback)
    finally:
        con.close()
    return marks


def refresh_marks(session: Session, *, at: datetime | None = None, lake_dir: Path | None = None,
                  policy: RiskPolicy | None = None) -> set[str]:
    """Recompute every mark as of ``at`` and write the keys whose marks changed; returns them."""
    from zhikong.core.config import get_settings

    policy = policy or load_policy()
    at = at or utcnow()
    lake = Path(lake_dir or get_settings().resolved_lake_dir)
    new = oltp_marks(session, policy, at)
    for key, until in lake_marks(lake, _risk_entries(session, at), policy, at).items():
        _mark(new, key[0], key[1], until)
    old: Marks = {(pid, cat): as_utc(until) for pid, cat, until in session.execute(
        select(RiskMark.pid, RiskMark.category, RiskMark.until_at))}
    new_by: dict[str, dict[str, datetime]] = defaultdict(dict)
    old_by: dict[str, dict[str, datetime]] = defaultdict(dict)
    for (pid, cat), until in new.items():
        new_by[pid][cat] = until
    for (pid, cat), until in old.items():
        old_by[pid][cat] = until
    changed = {pid for pid in new_by.keys() | old_by.keys() if new_by.get(pid) != old_by.get(pid)}
    ordered = sorted(changed)
    for i in range(0, len(ordered), CHUNK):
        session.execute(delete(RiskMark).where(RiskMark.pid.in_(ordered[i:i + CHUNK])))
    rows = [{"pid": pid, "category": cat, "until_at": until, "refreshed_at": at}
            for pid in ordered for cat, until in new_by.get(pid, {}).items()]
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(RiskMark), rows[i:i + CHUNK])
    return changed


def categories_for(session: Session, keys: Iterable[str], at: datetime | None = None) -> set[str]:
    """The categories of one person's keys (a registration: one indexed lookup)."""
    at = at or utcnow()
    return set(session.scalars(select(RiskMark.category).where(
        RiskMark.pid.in_(list(keys)), RiskMark.until_at >= at)))


def employee_categories(session: Session, at: datetime,
                        employee_ids: Sequence[int] | None = None) -> dict[int, set[str]]:
    """Categories of employees from their marks: joins on the ID hash, the phone hash and the
    ledger person."""
    found: dict[int, set[str]] = defaultdict(set)
    for cond in (RiskMark.pid == Employee.id_number_hash, RiskMark.pid == Employee.phone_hash,
                 RiskMark.pid == literal("p:") + cast(Employee.person_id, String)):
        stmt = (select(Employee.id, RiskMark.category).join(RiskMark, cond)
                .where(RiskMark.until_at >= at))
        for q in _restrict(stmt, employee_ids):
            for emp_id, cat in session.execute(q):
                found[int(emp_id)].add(str(cat))
    return found


def affected_employees(session: Session, keys: set[str]) -> list[int]:
    """Employees having one of ``keys`` (hashes or ``p:<person id>``)."""
    hashes = sorted(k for k in keys if not k.startswith("p:"))
    persons = sorted(int(k[2:]) for k in keys if k.startswith("p:") and k[2:].isdigit())
    ids: set[int] = set()
    for i in range(0, len(hashes), CHUNK):
        part = hashes[i:i + CHUNK]
        ids.update(session.scalars(select(Employee.id).where(
            or_(Employee.id_number_hash.in_(part), Employee.phone_hash.in_(part)))))
    for i in range(0, len(persons), CHUNK):
        ids.update(session.scalars(select(Employee.id).where(
            Employee.person_id.in_(persons[i:i + CHUNK]))))
    return sorted(ids)


def recompute_affected(session: Session, *, at: datetime | None = None,
                       lake_dir: Path | None = None, policy: RiskPolicy | None = None,
                       notify: bool = True, create_tasks: bool = True) -> RecomputeSummary:
    """Refresh the marks and recompute only the employees whose marks changed."""
    at = at or utcnow()
    changed = refresh_marks(session, at=at, lake_dir=lake_dir, policy=policy)
    ids = affected_employees(session, changed) if changed else []
    out = (recompute(session, employee_ids=ids, at=at, policy=policy, notify=notify,
                     create_tasks=create_tasks, refresh=False)
           if ids else RecomputeSummary(policy_version=(policy or load_policy()).version))
    out.marks_changed = len(changed)
    return out


def recompute(session: Session, *, employee_ids: Sequence[int] | None = None,
              at: datetime | None = None, lake_dir: Path | None = None,
              policy: RiskPolicy | None = None, notify: bool = True,
              create_tasks: bool = True, refresh: bool = True) -> RecomputeSummary:
    """Recompute the level of every employee (or of ``employee_ids``); write changes only.

    ``refresh`` first rewrites the risk marks as of ``at`` (:func:`refresh_marks`)."""
    import time

    t0 = time.perf_counter()
    policy = policy or load_policy()
    at = at or utcnow()
    out = RecomputeSummary(policy_version=policy.version)
    if refresh:
        out.marks_changed = len(refresh_marks(session, at=at, lake_dir=lake_dir, policy=policy))
    emps = _employees(session, employee_ids)
    if emps.empty:
        return out
    found = employee_categories(session, at, employee_ids)
    ent_of = dict(session.execute(select(Employee.id, Employee.enterprise_id).where(
        Employee.id.in_([int(i) for i, cats in found.items()]))).all()) if found else {}
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    newly_red: list[int] = []
    counts: dict[str, int] = defaultdict(int)
    changed_ids: list[int] = []
    for emp_id, old_level, old_reasons in zip(emps["id"], emps["level"], emps["reasons"], strict=True):
        emp_id = int(emp_id)
        reasons = policy.reasons(found.get(emp_id, ()))
        level = policy.level_of(reasons)
        counts[level.value] += 1
        if Level(old_level) == level and list(old_reasons or []) == reasons:
            continue
        changed_ids.append(emp_id)
        updates.append({"id": emp_id, "level": level, "reasons": reasons,
                        "policy_version": policy.version, "computed_at": at,
                        "level_changed_at": at})
        history.append({"employee_id": emp_id, "level": level, "previous_level": Level(old_level),
                        "reasons": reasons, "policy_version": policy.version, "computed_at": at})
        if level == Level.RED and Level(old_level) != Level.RED:
            newly_red.append(emp_id)
    if changed_ids:
        missing = [i for i in changed_ids if i not in ent_of]
        for i in range(0, len(missing), CHUNK):
            ent_of.update(dict(session.execute(select(Employee.id, Employee.enterprise_id).where(
                Employee.id.in_(missing[i:i + CHUNK]))).all()))
        for h in history:
            h["enterprise_id"] = ent_of[h["employee_id"]]
        session.execute(update(Employee), updates)
        session.execute(insert(RiskResult), history)
        if notify:
            for h in history:
                labels = "、".join(policy.label(c) for c in h["reasons"]) or "未发现风险"
                msg = (f"风险等级由{_LEVEL_ZH[h['previous_level']]}变为{_LEVEL_ZH[h['level']]}："
                       f"{labels}")
                detail = {"level": h["level"].value, "previous": h["previous_level"].value,
                          "reasons": h["reasons"]}
                notes.append({"enterprise_id": h["enterprise_id"], "employee_id": h["employee_id"],
                              "audience": Audience.ENTERPRISE, "message": msg, "detail": detail,
                              "created_at": at})
                notes.append({"enterprise_id": h["enterprise_id"], "employee_id": h["employee_id"],
                              "audience": Audience.EMPLOYEE, "message": msg, "detail": detail,
                              "created_at": at})
            for i in range(0, len(notes), CHUNK):
                session.execute(insert(Notification), notes[i:i + CHUNK])
    # leaving red closes the episode: the next red gets a new task
    left_red = [u["id"] for u in updates if u["level"] != Level.RED]
    for i in range(0, len(left_red), CHUNK):
        session.execute(update(Employee).where(Employee.id.in_(left_red[i:i + CHUNK]))
                        .values(red_task_id=None))
    # a fresh registration is computed too: stamp unchanged rows' computed_at only for small sets
    if employee_ids is not None and len(emps) <= CHUNK:
        session.execute(update(Employee).where(Employee.id.in_([int(i) for i in emps["id"]]))
                        .values(computed_at=at, policy_version=policy.version))
    session.flush()
    if create_tasks and newly_red:
        from zhikong.enterprise.town import red_tasks

        out.tasks = red_tasks(session, newly_red)
    out.employees = len(emps)
    out.changed = len(changed_ids)
    out.by_level = dict(counts)
    out.seconds = time.perf_counter() - t0
    log.info("enterprise recompute: %d employees, %d changed in %.2fs", out.employees, out.changed,
             out.seconds)
    return out


_LEVEL_ZH = {Level.GREEN: "绿色", Level.YELLOW: "黄色", Level.RED: "红色"}

"""Set-based risk recompute for registered employees.

Reason categories come from three places, each found for all employees at once:

* the operational database (SQL): tracing cases and contacts (joined on the ledger person or the
  keyed hashes the tracing engine uses as ``person_key``) and active key persons with their control
  measure (screening);
* the lake (DuckDB over Parquet): travel records (``pid`` = ID-number hash) and mobile-network
  roaming (``pid`` = phone hash) within ``lookback_days`` in a city of the latest risk-area
  publication, during the entry's period.

The policy (:mod:`zhikong.enterprise.policy`) turns categories into a level. Only changes are written:
the employee row, one :class:`RiskResult` history row and notifications for the enterprise and the
employee.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from zhikong.core.time import local_day, utcnow
from zhikong.enterprise.models import Audience, Employee, Level, Notification, RiskResult
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


@dataclass
class RecomputeSummary:
    employees: int = 0
    changed: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    tasks: int = 0
    policy_version: str = ""
    seconds: float = 0.0


def _employees(session: Session, employee_ids: Sequence[int] | None) -> pd.DataFrame:
    stmt: Any = select(Employee.id, Employee.person_id, Employee.id_number_hash,
                               Employee.phone_hash, Employee.level, Employee.reasons)
    frames = []
    if employee_ids is None:
        frames.append(pd.DataFrame(session.execute(stmt).all(),
                                   columns=["id", "person_id", "id_hash", "phone_hash", "level",
                                            "reasons"]))
    else:
        ids = list(employee_ids)
        for i in range(0, len(ids), CHUNK):
            frames.append(pd.DataFrame(
                session.execute(stmt.where(Employee.id.in_(ids[i:i + CHUNK]))).all(),
                columns=["id", "person_id", "id_hash", "phone_hash", "level", "reasons"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _restrict(stmt: Any, employee_ids: Sequence[int] | None) -> list[Any]:
    if employee_ids is None:
        return [stmt]
    ids = list(employee_ids)
    return [stmt.where(Employee.id.in_(ids[i:i + CHUNK])) for i in range(0, len(ids), CHUNK)]


def oltp_categories(session: Session, policy: RiskPolicy, at: datetime,
                    employee_ids: Sequence[int] | None = None) -> dict[int, set[str]]:
    """Categories from cases, contacts and key persons, by employee id (SQL joins, no loops)."""
    found: dict[int, set[str]] = defaultdict(set)
    case_since = at - timedelta(days=policy.case_days)
    contact_since = at - timedelta(days=policy.contact_days)
    today = local_day(at)
    queries: list[tuple[Any, str | None]] = []
    for cond in (Case.person_id == Employee.person_id, Case.id_number_hash == Employee.id_number_hash,
                 Case.phone_hash == Employee.phone_hash):
        queries.append((select(Employee.id).join(Case, cond).where(Case.onset_at >= case_since)
                        .distinct(), "case"))
    for cond in (Contact.person_id == Employee.person_id,
                 Contact.person_key == Employee.id_number_hash,
                 Contact.person_key == Employee.phone_hash):
        queries.append((select(Employee.id, Contact.cls).join(Contact, cond)
                        .where(Contact.last_at >= contact_since).distinct(), None))
    kp = (select(Employee.id, KeyPerson.category, KeyPerson.measure)
          .join(KeyPerson, KeyPerson.person_id == Employee.person_id)
          .where(KeyPerson.status == KeyStatus.ACTIVE, KeyPerson.start_date <= today,
                 KeyPerson.end_date >= today).distinct())
    for stmt, category in queries:
        for q in _restrict(stmt, employee_ids):
            for row in session.execute(q):
                if category is not None:
                    found[row[0]].add(category)
                else:
                    found[row[0]].add(_CONTACT_CATEGORY[str(row[1])])
    for q in _restrict(kp, employee_ids):
        for emp_id, cat, measure in session.execute(q):
            found[emp_id].add(str(measure))
            extra = _KEY_CATEGORY.get(KeyCategory(cat))
            if extra:
                found[emp_id].add(extra)
    return found


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


def lake_categories(lake: Path, risk: pd.DataFrame, employees: pd.DataFrame, policy: RiskPolicy,
                    at: datetime) -> dict[int, set[str]]:
    """Travel from / phone presence in a risk-area city within the lookback, joined on keyed hashes
    inside DuckDB (the lake never leaves DuckDB; only employee ids and levels come back)."""
    found: dict[int, set[str]] = defaultdict(set)
    if risk.empty or employees.empty:
        return found
    travel, roaming = _parquet(lake, "travel"), _parquet(lake, "roaming")
    if travel is None and roaming is None:
        return found
    import duckdb

    since = at - timedelta(days=policy.lookback_days)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        if len(employees) <= 50:  # a registration: one thread, leave the cores to other requests
            con.execute("SET threads = 1")
        con.register("emp", employees[["id", "id_hash", "phone_hash"]])
        con.register("risk", risk)
        match = ("(r.city = x.city OR (r.city_key IS NOT NULL AND substr(x.code, 1, 4) = r.city_key))"
                 " AND x.t_end >= r.effective_from"
                 " AND (r.effective_to IS NULL OR x.t_start < r.effective_to)")
        parts = []
        if travel is not None:
            parts.append(f"""
                SELECT e.id, r.level, 'travel' AS kind FROM emp e
                JOIN (SELECT pid, origin_city AS city, origin_code AS code,
                             coalesce(depart_ts, ts) AS t_start, ts AS t_end
                      FROM {travel} WHERE ts >= $since AND ts <= $at) x ON x.pid = e.id_hash
                JOIN risk r ON {match}""")
        if roaming is not None:
            parts.append(f"""
                SELECT e.id, r.level, 'roaming' AS kind FROM emp e
                JOIN (SELECT pid, city, city_code AS code, first_seen AS t_start, last_seen AS t_end
                      FROM {roaming} WHERE last_seen >= $since AND first_seen <= $at) x
                  ON x.pid = e.phone_hash
                JOIN risk r ON {match}""")
        sql = "SELECT DISTINCT id, level, kind FROM (" + " UNION ALL ".join(parts) + ")"
        for emp_id, level, kind in con.execute(sql, {"since": since, "at": at}).fetchall():
            found[int(emp_id)].add(f"{level}_risk_{kind}")
    finally:
        con.close()
    return found


def recompute(session: Session, *, employee_ids: Sequence[int] | None = None,
              at: datetime | None = None, lake_dir: Path | None = None,
              policy: RiskPolicy | None = None, notify: bool = True,
              create_tasks: bool = True) -> RecomputeSummary:
    """Recompute the level of every employee (or of ``employee_ids``); write changes only."""
    import time

    from zhikong.core.config import get_settings

    t0 = time.perf_counter()
    policy = policy or load_policy()
    at = at or utcnow()
    lake = lake_dir or get_settings().resolved_lake_dir
    emps = _employees(session, employee_ids)
    out = RecomputeSummary(policy_version=policy.version)
    if emps.empty:
        return out
    found = oltp_categories(session, policy, at, employee_ids)
    for emp_id, cats in lake_categories(Path(lake), _risk_entries(session, at), emps, policy,
                                        at).items():
        found[emp_id] |= cats
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

"""The district daily summary 每日汇总: one day's cases, contacts, key persons by measure, screening,
alarms, reports and tasks done/overdue per town — gathered once, rendered as a page and a PDF."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from zhikong.alerts.models import Alert
from zhikong.core.time import day_bounds_utc, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.reporting import service
from zhikong.reporting.models import DailyReport, ReportForm
from zhikong.screening.models import IncomingList, KeyPerson, KeyStatus, ListLink, ListRow
from zhikong.tasks.models import Task, TaskState
from zhikong.tracing.models import Case, Contact

MEASURE_LABELS = {
    "home_quarantine": "居家隔离",
    "central_quarantine": "集中隔离",
    "health_monitoring": "健康监测",
}
OPEN_STATES = (
    TaskState.CREATED,
    TaskState.ASSIGNED,
    TaskState.SIGNED_FOR,
    TaskState.IN_PROGRESS,
    TaskState.SUBMITTED,
    TaskState.RETURNED,
    TaskState.ESCALATED,
)


@dataclass
class TownLine:
    code: str
    name: str
    key_persons: int = 0
    alerts: int = 0
    tasks_new: int = 0
    tasks_done: int = 0
    tasks_open: int = 0
    tasks_overdue: int = 0
    reports: str = ""


@dataclass
class DailySummary:
    day: date
    district: str
    generated_at: datetime
    cases_new: int
    cases_total: int
    contacts_by_class: dict[str, int]
    key_by_measure: dict[str, int]
    key_new: int
    key_released: int
    screening: dict[str, int]
    alerts_by_kind: dict[str, int]
    alerts_total: int
    towns: list[TownLine]
    forms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task_totals(self) -> dict[str, int]:
        return {
            k: sum(getattr(t, k) for t in self.towns)
            for k in ("tasks_new", "tasks_done", "tasks_open", "tasks_overdue")
        }


def _town_map(session: Session) -> tuple[dict[int, AdminUnit], dict[int, int]]:
    """Towns by id, and every unit id → its town id (towns map to themselves)."""
    towns = {
        u.id: u
        for u in session.scalars(
            select(AdminUnit).where(AdminUnit.level == UnitLevel.TOWN).order_by(AdminUnit.code)
        )
    }
    town_of: dict[int, int] = {t: t for t in towns}
    for uid, parent in session.execute(
        select(AdminUnit.id, AdminUnit.parent_id).where(AdminUnit.level == UnitLevel.VILLAGE)
    ):
        if parent in towns:
            town_of[uid] = parent
    return towns, town_of


def build_summary(session: Session, day: date, now: datetime | None = None) -> DailySummary:
    now = now or utcnow()
    start, end = day_bounds_utc(day)
    cutoff = min(end, now) if now >= start else end
    towns, town_of = _town_map(session)
    lines = {tid: TownLine(code=t.code, name=t.name) for tid, t in towns.items()}
    district = session.scalar(select(AdminUnit.name).where(AdminUnit.level == UnitLevel.DISTRICT)) or ""

    cases_new = session.scalar(
        select(func.count(Case.id)).where(Case.created_at >= start, Case.created_at < end)
    )
    cases_total = session.scalar(select(func.count(Case.id)).where(Case.created_at < end))
    contacts = {
        str(c): n
        for c, n in session.execute(
            select(Contact.cls, func.count(func.distinct(Contact.person_key))).group_by(Contact.cls)
        )
    }

    active = (
        (KeyPerson.start_date <= day)
        & ((KeyPerson.end_date >= day) | (KeyPerson.status == KeyStatus.ACTIVE))
        & (KeyPerson.status != KeyStatus.TRANSFERRED)
    )
    key_by_measure = {m: 0 for m in MEASURE_LABELS}
    for measure, unit_id, n in session.execute(
        select(KeyPerson.measure, KeyPerson.unit_id, func.count())
        .where(active)
        .group_by(KeyPerson.measure, KeyPerson.unit_id)
    ):
        key_by_measure[str(measure)] = key_by_measure.get(str(measure), 0) + n
        tid = town_of.get(unit_id) if unit_id is not None else None
        if tid is not None:
            lines[tid].key_persons += n
    key_new = session.scalar(select(func.count(KeyPerson.id)).where(KeyPerson.start_date == day)) or 0
    key_released = (
        session.scalar(select(func.count(KeyPerson.id)).where(KeyPerson.end_date == day - timedelta(days=1)))
        or 0
    )

    lists = (
        session.scalar(
            select(func.count(IncomingList.id)).where(
                IncomingList.created_at >= start, IncomingList.created_at < end
            )
        )
        or 0
    )
    rows = (
        session.scalar(
            select(func.count(ListRow.id))
            .join(IncomingList, IncomingList.id == ListRow.list_id)
            .where(IncomingList.created_at >= start, IncomingList.created_at < end)
        )
        or 0
    )
    decisions = {
        str(d): n
        for d, n in session.execute(
            select(ListLink.decision, func.count())
            .join(ListRow, ListRow.id == ListLink.row_id)
            .join(IncomingList, IncomingList.id == ListRow.list_id)
            .where(IncomingList.created_at >= start, IncomingList.created_at < end)
            .group_by(ListLink.decision)
        )
    }
    screening = {"lists": lists, "rows": rows, **decisions}

    alerts_by_kind: dict[str, int] = defaultdict(int)
    for kind, unit_id, n in session.execute(
        select(Alert.kind, Alert.unit_id, func.count())
        .where(Alert.occurred_at >= start, Alert.occurred_at < end)
        .group_by(Alert.kind, Alert.unit_id)
    ):
        alerts_by_kind[str(kind)] += n
        tid = town_of.get(unit_id)
        if tid is not None:
            lines[tid].alerts += n

    task_rows = session.execute(
        select(Task.unit_id, Task.state, Task.created_at, Task.closed_at, Task.deadline_at).where(
            Task.created_at < end, or_(Task.closed_at.is_(None), Task.closed_at >= start)
        )
    )
    for unit_id, state, created, closed, deadline in task_rows:
        tid = town_of.get(unit_id)
        if tid is None:
            continue
        line = lines[tid]
        if created >= start:
            line.tasks_new += 1
        if closed is not None and start <= closed < end and state in (TaskState.ACCEPTED, TaskState.CLOSED):
            line.tasks_done += 1
        elif state in OPEN_STATES:
            line.tasks_open += 1
            if deadline < cutoff:
                line.tasks_overdue += 1

    forms = []
    for form in session.scalars(select(ReportForm).order_by(ReportForm.code)):
        fd = service.form_def(form)
        units = service.reporting_units(session, fd)
        per_town: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for u in units:
            tid = town_of.get(u.id)
            if tid is not None:
                per_town[tid][1] += 1
        reported = set(
            session.scalars(
                select(DailyReport.unit_id).where(DailyReport.form_id == form.id, DailyReport.day == day)
            )
        )
        for uid in reported:
            tid = town_of.get(uid)
            if tid is not None:
                per_town[tid][0] += 1
        for tid, (got, want) in per_town.items():
            sep = "，" if lines[tid].reports else ""
            lines[tid].reports += f"{sep}{got}/{want}"
        forms.append({"code": fd.code, "name": fd.name, "reported": len(reported), "expected": len(units)})
    return DailySummary(
        day=day,
        district=district,
        generated_at=now,
        cases_new=cases_new or 0,
        cases_total=cases_total or 0,
        contacts_by_class=contacts,
        key_by_measure=key_by_measure,
        key_new=key_new,
        key_released=key_released,
        screening=screening,
        alerts_by_kind=dict(alerts_by_kind),
        alerts_total=sum(alerts_by_kind.values()),
        towns=list(lines.values()),
        forms=forms,
    )

"""Daily report rules: forms in the database, submission and correction, reminders, the district view.

Submitting checks the unit's tier and the user's jurisdiction, validates every value (all errors at
once) and writes the report, a revision row and the audit record in the caller's transaction. A second
submission for the same form/unit/day is refused unless it is a correction with a reason; identical
values are refused as a duplicate. ``remind`` is idempotent (one reminder row per stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.auth.models import User
from zhikong.auth.service import require_unit
from zhikong.core.errors import Conflict, InvalidInput, NotFound
from zhikong.core.time import CHINA_TZ, as_utc, local_day, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.reporting.forms import FormDef, builtin_forms, parse_form, validate_values
from zhikong.reporting.models import DailyReport, ReminderStage, ReportForm, ReportReminder, ReportRevision
from zhikong.tasks.models import Priority, TaskKind
from zhikong.tasks.service import create_task

MAX_REASON = 500


# ---- forms ----------------------------------------------------------------------------------
def sync_forms(session: Session, forms: list[FormDef] | None = None) -> list[ReportForm]:
    """Store (or update) the form definitions; returns the rows. Existing reports keep their values."""
    out = []
    for fd in forms if forms is not None else builtin_forms():
        row = session.scalar(select(ReportForm).where(ReportForm.code == fd.code))
        if row is None:
            row = ReportForm(code=fd.code)
            session.add(row)
        if row.sha256 != fd.sha256:
            row.name, row.tier, row.deadline = fd.name, fd.tier, fd.deadline
            row.definition, row.sha256, row.updated_at = fd.raw, fd.sha256, utcnow()
        out.append(row)
    session.flush()
    return out


def form_def(row: ReportForm) -> FormDef:
    return parse_form(row.definition, row.code)


def get_form(session: Session, code: str) -> tuple[ReportForm, FormDef]:
    row = session.scalar(select(ReportForm).where(ReportForm.code == code))
    if row is None:
        if code in {f.code for f in builtin_forms()}:
            sync_forms(session)
            return get_form(session, code)
        raise NotFound(f"no report form {code!r}", field="form")
    return row, form_def(row)


def list_forms(session: Session) -> list[ReportForm]:
    if session.scalar(select(ReportForm.id).limit(1)) is None:
        sync_forms(session)
    return list(session.scalars(select(ReportForm).order_by(ReportForm.code)))


def reporting_units(session: Session, fd: FormDef) -> list[AdminUnit]:
    return list(
        session.scalars(
            select(AdminUnit).where(AdminUnit.level == UnitLevel(fd.tier)).order_by(AdminUnit.code)
        )
    )


def deadline_at(fd: FormDef, day: date) -> datetime:
    """The UTC instant of the form's local deadline on ``day``."""
    hh, mm = (int(x) for x in fd.deadline.split(":"))
    return as_utc(datetime.combine(day, time(hh, mm), tzinfo=CHINA_TZ))


# ---- submission -----------------------------------------------------------------------------
def _actor_name(actor: User | str) -> tuple[int | None, str]:
    return (actor.id, actor.username) if isinstance(actor, User) else (None, actor[:64])


def _check_unit(session: Session, actor: User | str, unit_id: int, fd: FormDef) -> AdminUnit:
    if isinstance(actor, User):
        unit = require_unit(session, actor, unit_id)
    else:
        found = session.get(AdminUnit, unit_id)
        if found is None:
            raise InvalidInput(f"unknown administrative unit {unit_id}", field="unit_id")
        unit = found
    if unit.level.value != fd.tier:
        raise InvalidInput(
            f"{fd.name} is reported by {fd.tier} units; {unit.name} is a {unit.level.value}", field="unit_id"
        )
    return unit


def _check_day(day: date, now: datetime) -> None:
    today = local_day(now)
    if day > today:
        raise InvalidInput(f"cannot report for a future day {day.isoformat()}", field="day")
    if day < today - timedelta(days=60):
        raise InvalidInput(f"{day.isoformat()} is more than 60 days ago", field="day")


def submit_report(
    session: Session,
    actor: User | str,
    form_code: str,
    unit_id: int,
    day: date,
    values: dict[str, Any],
    *,
    source: str = "web",
    reason: str | None = None,
    now: datetime | None = None,
) -> DailyReport:
    """Submit (or, with ``reason``, correct) one report. Nothing is written if anything is wrong."""
    now = now or utcnow()
    row, fd = get_form(session, form_code)
    _check_unit(session, actor, unit_id, fd)
    _check_day(day, now)
    clean = validate_values(fd, values)
    actor_id, actor_name = _actor_name(actor)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters", field="reason")
    report = session.scalar(
        select(DailyReport).where(
            DailyReport.form_id == row.id, DailyReport.unit_id == unit_id, DailyReport.day == day
        )
    )
    if report is None:
        report = DailyReport(
            form_id=row.id,
            unit_id=unit_id,
            day=day,
            values=clean,
            revision=1,
            source=source,
            late=now > deadline_at(fd, day),
            submitted_by_id=actor_id,
            submitted_at=now,
            updated_at=now,
        )
        session.add(report)
        session.flush()
        action = "report.submit"
    else:
        if report.values == clean:
            raise Conflict(
                f"duplicate: the {day.isoformat()} report of this unit already has these values",
                field="values",
            )
        if reason is None:
            raise Conflict(
                f"the {day.isoformat()} report was already submitted; a correction needs a reason",
                field="reason",
            )
        report.values = clean
        report.revision += 1
        report.updated_at = now
        report.source = source
        action = "report.correct"
    session.add(
        ReportRevision(
            report_id=report.id,
            revision=report.revision,
            values=clean,
            reason=reason,
            source=source,
            actor=actor_name,
            at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        action,
        "daily_report",
        report.id,
        {"form": fd.code, "unit_id": unit_id, "day": day.isoformat(), "revision": report.revision},
    )
    return report


def report_history(session: Session, report_id: int) -> list[ReportRevision]:
    return list(
        session.scalars(
            select(ReportRevision)
            .where(ReportRevision.report_id == report_id)
            .order_by(ReportRevision.revision)
        )
    )


# ---- reminders ------------------------------------------------------------------------------
@dataclass
class RemindResult:
    reminded: list[str] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)


def remind(
    session: Session, day: date | None = None, now: datetime | None = None, actor: str = "reporting"
) -> RemindResult:
    """After a form's deadline, remind every unit with no report; ``overdue_after_hours`` later, give it
    an overdue task (``create_task``). Running it again changes nothing."""
    now = now or utcnow()
    day = day or local_day(now)
    result = RemindResult()
    for row in list_forms(session):
        fd = form_def(row)
        due = deadline_at(fd, day)
        if now <= due:
            continue
        reported = set(
            session.scalars(
                select(DailyReport.unit_id).where(DailyReport.form_id == row.id, DailyReport.day == day)
            )
        )
        sent = {
            (u, s)
            for u, s in session.execute(
                select(ReportReminder.unit_id, ReportReminder.stage).where(
                    ReportReminder.form_id == row.id, ReportReminder.day == day
                )
            )
        }
        overdue = now > due + timedelta(hours=fd.overdue_after_hours)
        for unit in reporting_units(session, fd):
            if unit.id in reported:
                continue
            if (unit.id, ReminderStage.REMIND) not in sent:
                msg = f"{unit.name}：{day.isoformat()} {fd.name} 未在 {fd.deadline} 前上报，请尽快填报"
                session.add(
                    ReportReminder(
                        form_id=row.id,
                        unit_id=unit.id,
                        day=day,
                        stage=ReminderStage.REMIND,
                        message=msg,
                        created_at=now,
                    )
                )
                result.reminded.append(unit.code)
            if overdue and (unit.id, ReminderStage.OVERDUE) not in sent:
                task = create_task(
                    session,
                    kind=TaskKind.OTHER,
                    unit_id=unit.id,
                    priority=Priority.HIGH,
                    source="reporting",
                    actor=actor,
                    title=f"逾期未报：{day.isoformat()} {fd.name}",
                    description=f"{unit.name} 未按时上报 {day.isoformat()} 的{fd.name}"
                    f"（截止 {fd.deadline}），"
                    f"请立即补报并说明原因。",
                )
                session.add(
                    ReportReminder(
                        form_id=row.id,
                        unit_id=unit.id,
                        day=day,
                        stage=ReminderStage.OVERDUE,
                        task_id=task.id,
                        message=task.title,
                        created_at=now,
                    )
                )
                result.tasks.append(task.id)
        session.flush()
    return result


def reminders_for(session: Session, unit_id: int, day: date) -> list[ReportReminder]:
    return list(
        session.scalars(
            select(ReportReminder).where(ReportReminder.unit_id == unit_id, ReportReminder.day == day)
        )
    )


# ---- the district view ----------------------------------------------------------------------
@dataclass
class DayView:
    form: FormDef
    day: date
    #: one row per town: code, name, values (summed over villages for a village form), reported, expected
    rows: list[dict[str, Any]]
    totals: dict[str, float]
    reported: int
    expected: int
    late: int
    #: per numeric field, the district total for each of the last days (oldest first)
    trend_days: list[str]
    trend: dict[str, list[float]]


def day_view(session: Session, form_code: str, day: date, trend_days: int = 14) -> DayView:
    """A day's figures per town with district totals and the recent trend."""
    row, fd = get_form(session, form_code)
    towns = list(
        session.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.TOWN).order_by(AdminUnit.code))
    )
    units = {u.id: u for u in reporting_units(session, fd)}
    town_of = {uid: (u.id if fd.tier == "town" else u.parent_id) for uid, u in units.items()}
    numeric = [f.key for f in fd.numeric]
    by_town: dict[int, dict[str, Any]] = {
        t.id: {
            "code": t.code,
            "name": t.name,
            "values": {k: 0.0 for k in numeric},
            "reported": 0,
            "expected": 0,
            "late": 0,
            "notes": [],
        }
        for t in towns
    }
    for tid in town_of.values():
        if tid in by_town:
            by_town[tid]["expected"] += 1
    reports = list(
        session.scalars(select(DailyReport).where(DailyReport.form_id == row.id, DailyReport.day == day))
    )
    for rep in reports:
        tid = town_of.get(rep.unit_id)
        if tid not in by_town:
            continue
        entry = by_town[tid]
        entry["reported"] += 1
        entry["late"] += int(rep.late)
        for k in numeric:
            entry["values"][k] += float(rep.values.get(k) or 0)
        for f in fd.fields:
            if f.type == "bool" and rep.values.get(f.key) is False:
                entry["notes"].append(f"{f.label}：否")
    totals = {k: sum(e["values"][k] for e in by_town.values()) for k in numeric}
    start = day - timedelta(days=trend_days - 1)
    days = [start + timedelta(days=i) for i in range(trend_days)]
    trend = {k: [0.0] * trend_days for k in numeric}
    for d, values in session.execute(
        select(DailyReport.day, DailyReport.values).where(
            DailyReport.form_id == row.id, DailyReport.day >= start, DailyReport.day <= day
        )
    ):
        i = (d - start).days
        for k in numeric:
            trend[k][i] += float(values.get(k) or 0)
    return DayView(
        form=fd,
        day=day,
        rows=list(by_town.values()),
        totals=totals,
        reported=len(reports),
        expected=len(units),
        late=sum(int(r.late) for r in reports),
        trend_days=[d.isoformat() for d in days],
        trend=trend,
    )

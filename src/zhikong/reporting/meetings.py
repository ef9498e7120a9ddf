"""Dispatch video meetings 视频调度会: schedule for chosen tiers/units, the room link from
``Settings.meeting_url_template``, attendance confirmation, minutes, decisions → bulk tasks."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.auth.models import User
from zhikong.auth.service import require_unit, restrict
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from zhikong.core.time import CHINA_TZ, as_utc, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.reporting.models import Meeting, MeetingAttendee, MeetingDecision
from zhikong.tasks.models import Priority, SubjectType, TaskKind
from zhikong.tasks.service import create_tasks_bulk


def _district_only(user: User) -> None:
    if not user.sees_all:
        raise PermissionDenied("dispatch meetings are called by the district")


def schedule(
    session: Session,
    user: User,
    *,
    title: str,
    starts_at: datetime,
    agenda: str = "",
    tiers: list[str] | None = None,
    unit_ids: list[int] | None = None,
) -> Meeting:
    """A meeting for every unit of the given tiers plus the named units."""
    _district_only(user)
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput("the title must be 1-200 characters", field="title")
    ids: list[int] = []
    for tier in tiers or []:
        try:
            level = UnitLevel(tier)
        except ValueError as e:
            raise InvalidInput(f"unknown tier {tier!r}", field="tiers") from e
        ids += list(
            session.scalars(select(AdminUnit.id).where(AdminUnit.level == level).order_by(AdminUnit.code))
        )
    for uid in unit_ids or []:
        require_unit(session, user, uid, field="unit_ids")
        ids.append(uid)
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InvalidInput("choose at least one tier or unit", field="unit_ids")
    room = secrets.token_hex(6)
    template = get_settings().meeting_url_template
    if "{room}" not in template:
        raise InvalidInput("Settings.meeting_url_template must contain {room}", field="meeting_url_template")
    meeting = Meeting(
        title=title,
        agenda=(agenda or "").strip()[:10000],
        starts_at=as_utc(starts_at),
        room=room,
        video_url=template.replace("{room}", room),
        created_by_id=user.id,
        created_at=utcnow(),
    )
    session.add(meeting)
    session.flush()
    for uid in ids:
        session.add(MeetingAttendee(meeting_id=meeting.id, unit_id=uid))
    session.flush()
    audit.record(session, user, "meeting.schedule", "dispatch_meeting", meeting.id, {"units": len(ids)})
    return meeting


def parse_start(value: str) -> datetime:
    """``YYYY-MM-DDTHH:MM`` (a datetime-local field, China time) or ISO-8601 with an offset."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError as e:
        raise InvalidInput(f"start time {value!r} is not YYYY-MM-DDTHH:MM", field="starts_at") from e
    return at.replace(tzinfo=CHINA_TZ) if at.tzinfo is None else at


def unit_ids_by_code(session: Session, codes: list[str], field: str = "unit_codes") -> list[int]:
    """Admin unit codes → ids, in order; every code must exist."""
    if len(codes) > 500:
        raise InvalidInput("at most 500 unit codes", field=field)
    rows = session.execute(select(AdminUnit.code, AdminUnit.id).where(AdminUnit.code.in_(codes)))
    found: dict[str, int] = {code: uid for code, uid in rows}
    missing = [c for c in codes if c not in found]
    if missing:
        raise InvalidInput(f"unknown unit code(s): {', '.join(missing[:10])}", field=field)
    return [found[c] for c in codes]


def _meeting(session: Session, meeting_id: int) -> Meeting:
    m = session.get(Meeting, meeting_id)
    if m is None:
        raise NotFound(f"no meeting {meeting_id}")
    return m


def confirm(session: Session, user: User, meeting_id: int, unit_id: int) -> MeetingAttendee:
    """A unit confirms attendance (by a user of that unit or above)."""
    _meeting(session, meeting_id)
    require_unit(session, user, unit_id)
    att = session.scalar(
        select(MeetingAttendee).where(
            MeetingAttendee.meeting_id == meeting_id, MeetingAttendee.unit_id == unit_id
        )
    )
    if att is None:
        raise NotFound("this unit is not invited to the meeting", field="unit_id")
    if att.confirmed_at is None:
        att.confirmed_at, att.confirmed_by_id = utcnow(), user.id
    return att


def attendance(session: Session, meeting_id: int) -> tuple[int, int]:
    rows = list(session.scalars(select(MeetingAttendee).where(MeetingAttendee.meeting_id == meeting_id)))
    return sum(1 for a in rows if a.confirmed_at is not None), len(rows)


def record_minutes(session: Session, user: User, meeting_id: int, minutes: str) -> Meeting:
    _district_only(user)
    m = _meeting(session, meeting_id)
    if not (minutes or "").strip():
        raise InvalidInput("the minutes must not be empty", field="minutes")
    m.minutes = minutes.strip()[:50000]
    audit.record(session, user, "meeting.minutes", "dispatch_meeting", m.id, {})
    return m


def decide(
    session: Session,
    user: User,
    meeting_id: int,
    text: str,
    unit_ids: list[int],
    priority: Priority | str = Priority.HIGH,
) -> MeetingDecision:
    """A decision → one task per named unit (``create_tasks_bulk``), linked back to the meeting."""
    _district_only(user)
    m = _meeting(session, meeting_id)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("the decision must not be empty", field="text")
    if session.scalar(
        select(MeetingDecision.id).where(MeetingDecision.meeting_id == m.id, MeetingDecision.text == text)
    ):
        raise Conflict("this decision was already recorded", field="text")
    tasks = create_tasks_bulk(
        session,
        unit_ids=unit_ids,
        actor=user,
        kind=TaskKind.MEETING_DECISION,
        title=f"调度会决定：{text[:60]}",
        priority=priority,
        source="meeting",
        subject_type=SubjectType.NONE,
        description=f"{m.title}（{m.starts_at.date().isoformat()}）决定：{text}\n会议编号 {m.id}",
    )
    decision = MeetingDecision(
        meeting_id=m.id,
        text=text,
        batch_id=tasks[0].batch_id,
        task_ids=[t.id for t in tasks],
        created_at=utcnow(),
    )
    session.add(decision)
    session.flush()
    audit.record(session, user, "meeting.decide", "dispatch_meeting", m.id, {"tasks": decision.task_ids})
    return decision


def list_meetings(session: Session, user: User, limit: int = 100) -> list[Meeting]:
    """Meetings the user's jurisdiction is invited to (all of them for district roles), newest first."""
    stmt = select(Meeting).order_by(Meeting.starts_at.desc()).limit(limit)
    if not user.sees_all:
        invited = restrict(select(MeetingAttendee.meeting_id), user, MeetingAttendee.unit_id)
        stmt = stmt.where(Meeting.id.in_(invited))
    return list(session.scalars(stmt))


def get_meeting(session: Session, user: User, meeting_id: int) -> Meeting:
    """One meeting, if the user's jurisdiction is invited (else not found)."""
    m = _meeting(session, meeting_id)
    if not user.sees_all:
        invited = session.scalar(
            restrict(select(MeetingAttendee.id), user, MeetingAttendee.unit_id)
            .where(MeetingAttendee.meeting_id == meeting_id)
            .limit(1)
        )
        if invited is None:
            raise NotFound(f"no meeting {meeting_id} in your jurisdiction")
    return m


def attendees(session: Session, meeting_id: int) -> list[tuple[MeetingAttendee, AdminUnit]]:
    rows = session.execute(
        select(MeetingAttendee, AdminUnit)
        .join(AdminUnit, AdminUnit.id == MeetingAttendee.unit_id)
        .where(MeetingAttendee.meeting_id == meeting_id)
        .order_by(AdminUnit.code)
    )
    return [(a, u) for a, u in rows]


def decisions(session: Session, meeting_id: int) -> list[MeetingDecision]:
    return list(
        session.scalars(
            select(MeetingDecision)
            .where(MeetingDecision.meeting_id == meeting_id)
            .order_by(MeetingDecision.id)
        )
    )

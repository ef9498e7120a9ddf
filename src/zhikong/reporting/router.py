"""``/api/meetings``: dispatch video meetings 视频调度会 — schedule, confirm, minutes, decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from zhikong.reporting import meetings
from zhikong.reporting.models import Meeting
from zhikong.tasks.models import Priority
from zhikong.web.deps import CurrentUser, IdPath, SessionDep

router = APIRouter(prefix="/api/meetings", tags=["meetings"])

UnitId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class MeetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    agenda: str = Field(default="", max_length=10000)
    tiers: list[str] = Field(default_factory=list, max_length=3, description="town and/or village")
    unit_ids: list[UnitId] = Field(default_factory=list, max_length=500)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: UnitId


class MinutesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    minutes: str = Field(min_length=1, max_length=50000)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)
    unit_ids: list[UnitId] = Field(min_length=1, max_length=500)
    priority: Priority = Priority.HIGH


class AttendeeOut(BaseModel):
    unit_id: int
    unit_code: str
    unit_name: str
    confirmed_at: datetime | None


class DecisionOut(BaseModel):
    id: int
    text: str
    batch_id: str | None
    task_ids: list[int]
    created_at: datetime


class MeetingOut(BaseModel):
    id: int
    title: str
    agenda: str
    starts_at: datetime
    video_url: str
    minutes: str | None
    confirmed: int
    invited: int


class MeetingDetail(MeetingOut):
    attendees: list[AttendeeOut]
    decisions: list[DecisionOut]


def _out(session: Session, m: Meeting) -> MeetingOut:
    confirmed, invited = meetings.attendance(session, m.id)
    return MeetingOut(id=m.id, title=m.title, agenda=m.agenda, starts_at=m.starts_at,
                      video_url=m.video_url, minutes=m.minutes, confirmed=confirmed, invited=invited)


def _detail(session: Session, m: Meeting) -> MeetingDetail:
    return MeetingDetail(
        **_out(session, m).model_dump(),
        attendees=[AttendeeOut(unit_id=u.id, unit_code=u.code, unit_name=u.name, confirmed_at=a.confirmed_at)
                   for a, u in meetings.attendees(session, m.id)],
        decisions=[DecisionOut(id=d.id, text=d.text, batch_id=d.batch_id, task_ids=list(d.task_ids),
                               created_at=d.created_at) for d in meetings.decisions(session, m.id)],
    )


@router.get("", response_model=list[MeetingOut])
def list_meetings(session: SessionDep, user: CurrentUser,
                  limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[MeetingOut]:
    """Meetings your unit is invited to, newest first."""
    return [_out(session, m) for m in meetings.list_meetings(session, user, limit)]


@router.post("", response_model=MeetingDetail, status_code=201)
def schedule(body: MeetingIn, session: SessionDep, user: CurrentUser) -> MeetingDetail:
    """Schedule a meeting for whole tiers and/or named units (district roles)."""
    m = meetings.schedule(session, user, title=body.title, starts_at=body.starts_at, agenda=body.agenda,
                          tiers=body.tiers, unit_ids=list(body.unit_ids))
    return _detail(session, m)


@router.get("/{meeting_id}", response_model=MeetingDetail)
def get_meeting(meeting_id: IdPath, session: SessionDep, user: CurrentUser) -> MeetingDetail:
    """A meeting with its attendance and decisions."""
    return _detail(session, meetings.get_meeting(session, user, meeting_id))


@router.post("/{meeting_id}/confirm", response_model=MeetingDetail)
def confirm(meeting_id: IdPath, body: ConfirmIn, session: SessionDep, user: CurrentUser) -> MeetingDetail:
    """Confirm a unit's attendance."""
    meetings.confirm(session, user, meeting_id, body.unit_id)
    return _detail(session, meetings.get_meeting(session, user, meeting_id))


@router.put("/{meeting_id}/minutes", response_model=MeetingDetail)
def minutes(meeting_id: IdPath, body: MinutesIn, session: SessionDep, user: CurrentUser) -> MeetingDetail:
    """Keep the minutes (district roles)."""
    return _detail(session, meetings.record_minutes(session, user, meeting_id, body.minutes))


@router.post("/{meeting_id}/decisions", response_model=MeetingDetail, status_code=201)
def decide(meeting_id: IdPath, body: DecisionIn, session: SessionDep, user: CurrentUser) -> MeetingDetail:
    """Record a decision: one task per named unit, linked back to the meeting."""
    meetings.decide(session, user, meeting_id, body.text, list(body.unit_ids), body.priority)
    return _detail(session, meetings.get_meeting(session, user, meeting_id))

"""Dispatch meetings 视频调度会 pages: the meetings the user's jurisdiction is invited to (with the
district's schedule form), and one meeting: agenda, video link, attendance, minutes, decisions → tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.auth.service import restrict
from zhikong.core.errors import InvalidInput, ZhikongError
from zhikong.core.time import CHINA_TZ, as_utc
from zhikong.reporting import meetings
from zhikong.reporting.models import Meeting, MeetingAttendee
from zhikong.tasks.models import Priority
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.pages import labels
from zhikong.web.pages.common import RowId, error_page, login_redirect, page

router = APIRouter(include_in_schema=False)

TIERS = ("town", "village")


def local_time(value: datetime) -> str:
    return as_utc(value).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


parse_start = meetings.parse_start


def unit_ids_by_code(session: Session, codes_text: str, field: str) -> list[int]:
    """Unit codes separated by spaces, commas or new lines → ids (every code must exist)."""
    codes = [c for c in codes_text.replace(",", " ").replace("，", " ").split() if c]
    return meetings.unit_ids_by_code(session, codes, field)


def _status(e: ZhikongError) -> int:
    return e.http_status if e.http_status < 500 else 400


def _list_context(session: Session, user: User) -> dict[str, Any]:
    rows = []
    for m in meetings.list_meetings(session, user):
        confirmed, invited = meetings.attendance(session, m.id)
        rows.append({"m": m, "at": local_time(m.starts_at), "confirmed": confirmed, "invited": invited})
    return {"rows": rows, "tiers": TIERS, "district": user.sees_all, "errors": {}, "values": {"tiers": []}}


@router.get("/meetings")
def meetings_home(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The meetings the user's jurisdiction is invited to; the schedule form for the district."""
    if user is None:
        return login_redirect(request)
    return page(request, user, "meetings.html", _list_context(session, user))


@router.post("/meetings")
async def meetings_schedule(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Schedule a meeting; errors come back beside the field and nothing is stored."""
    data = await request.form()
    values = {k: str(data.get(k) or "") for k in ("title", "starts_at", "agenda", "units")}
    tiers = [str(t) for t in data.getlist("tiers")]
    try:
        starts_at = parse_start(values["starts_at"])
        unit_ids = unit_ids_by_code(session, values["units"], "units")
        m = meetings.schedule(
            session,
            user,
            title=values["title"],
            starts_at=starts_at,
            agenda=values["agenda"],
            tiers=tiers,
            unit_ids=unit_ids,
        )
    except ZhikongError as e:
        session.rollback()
        ctx = _list_context(session, user)
        field = {"unit_ids": "units"}.get(e.field or "", e.field or "form")
        ctx.update({"errors": {field: e.message}, "values": {**values, "tiers": tiers}})
        return page(request, user, "meetings.html", ctx, status_code=_status(e))
    return RedirectResponse(f"/meetings/{m.id}", status_code=303)


def _mine(session: Session, user: User, meeting_id: int) -> set[int]:
    stmt = select(MeetingAttendee.unit_id).where(MeetingAttendee.meeting_id == meeting_id)
    return set(session.scalars(restrict(stmt, user, MeetingAttendee.unit_id)))


def _detail_context(session: Session, user: User, m: Meeting) -> dict[str, Any]:
    mine = _mine(session, user, m.id)
    confirmed, invited = meetings.attendance(session, m.id)
    return {
        "m": m,
        "at": local_time(m.starts_at),
        "confirmed": confirmed,
        "invited": invited,
        "attendees": [
            {
                "unit": u,
                "confirmed_at": local_time(a.confirmed_at) if a.confirmed_at else None,
                "mine": u.id in mine,
            }
            for a, u in meetings.attendees(session, m.id)
        ],
        "decisions": meetings.decisions(session, m.id),
        "priorities": [p.value for p in Priority],
        "labels": labels,
        "district": user.sees_all,
        "errors": {},
        "values": {"minutes": m.minutes or "", "priority": Priority.HIGH.value},
    }


@router.get("/meetings/{meeting_id}")
def meeting_page(request: Request, meeting_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """One meeting; another jurisdiction's meeting is a 404."""
    if user is None:
        return login_redirect(request)
    try:
        m = meetings.get_meeting(session, user, meeting_id)
    except ZhikongError as e:
        return error_page(request, user, e)
    return page(request, user, "meeting.html", _detail_context(session, user, m))


async def _post(request: Request, session: Session, user: User, meeting_id: int, action: str) -> Response:
    data = await request.form()
    values = {k: str(v) for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        m = meetings.get_meeting(session, user, meeting_id)
    except ZhikongError as e:
        return error_page(request, user, e)
    try:
        if action == "confirm":
            try:
                unit_id = int(values.get("unit_id", ""))
            except ValueError as e:
                raise InvalidInput("choose a unit", field="unit_id") from e
            meetings.confirm(session, user, m.id, unit_id)
        elif action == "minutes":
            meetings.record_minutes(session, user, m.id, values.get("minutes", ""))
        else:
            unit_ids = unit_ids_by_code(session, values.get("units", ""), "units")
            if not unit_ids:
                raise InvalidInput("name at least one unit code", field="units")
            priority = values.get("priority") or Priority.HIGH.value
            if priority not in {p.value for p in Priority}:
                raise InvalidInput(f"unknown priority {priority!r}", field="priority")
            meetings.decide(session, user, m.id, values.get("text", ""), unit_ids, priority)
    except ZhikongError as e:
        session.rollback()
        m = meetings.get_meeting(session, user, meeting_id)
        ctx = _detail_context(session, user, m)
        field = {"unit_ids": "units"}.get(e.field or "", e.field or action)
        ctx.update({"errors": {field: e.message}, "values": {**ctx["values"], **values}})
        return page(request, user, "meeting.html", ctx, status_code=_status(e))
    return RedirectResponse(f"/meetings/{meeting_id}?saved={action}", status_code=303)


@router.post("/meetings/{meeting_id}/confirm")
async def meeting_confirm(
    request: Request, meeting_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """Confirm attendance for one of the user's invited units."""
    return await _post(request, session, user, meeting_id, "confirm")


@router.post("/meetings/{meeting_id}/minutes")
async def meeting_minutes(
    request: Request, meeting_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """Record the minutes (district)."""
    return await _post(request, session, user, meeting_id, "minutes")


@router.post("/meetings/{meeting_id}/decisions")
async def meeting_decide(
    request: Request, meeting_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """A decision → one task per named unit (district)."""
    return await _post(request, session, user, meeting_id, "decide")

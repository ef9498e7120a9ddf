"""The video wall (视频墙) and the patroller's screen (视频巡查).

The wall shows the user's cameras (jurisdiction-filtered) with their latest frame and open alarms; the
patrol screen cycles a plan's cameras and records findings through ``video.service`` (finding → video
alarm → alert → task). Pages stay thin: every rule is in the video and alert services.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.auth.service import restrict
from zhikong.core.config import get_settings
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied, ZhikongError
from zhikong.video import service as video_service
from zhikong.video.models import Camera, FindingKind, PatrolPlan
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages.common import RowId, error_page, login_redirect, page
from zhikong.web.pages.tasks import local_time
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter(include_in_schema=False)

#: seconds between reloads of a frame on the wall
REFRESH_S = 5

FINDING_KINDS: dict[str, str] = {
    FindingKind.GATHERING.value: N_("People gathering"),
    FindingKind.NO_MASKS.value: N_("No masks worn"),
    FindingKind.MEASURES_MISSING.value: N_("Prevention measures missing (scan, temperature)"),
    FindingKind.PROCEDURE.value: N_("Staff not following procedure"),
    FindingKind.OTHER.value: N_("Other"),
}
CAMERA_STATUS: dict[str, str] = {"online": N_("Online"), "offline": N_("Offline"), "unknown": N_("Unknown")}


def _has_frame(code: str) -> bool:
    return (get_settings().data_dir / "video" / "latest" / f"{code}.jpg").is_file()


def _cameras(session: Session, user: User) -> list[Camera]:
    return list(session.scalars(restrict(select(Camera).order_by(Camera.code), user, Camera.unit_id)))


@router.get("/video")
def video_wall(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The video wall: the user's cameras with their latest frame and open alarms."""
    if user is None:
        return login_redirect(request)
    video_service.close_handled_alarms(session)  # alerts confirmed into tasks or dismissed elsewhere
    cams = _cameras(session, user)
    alarms: dict[int, list[Any]] = {c.id: [] for c in cams}
    for a in video_service.open_alarms(session, [c.id for c in cams]):
        alarms[a.camera_id].append(a)
    tasked: dict[int, list[Any]] = {c.id: [] for c in cams}
    recent = video_service.recent_task_alarms(session, [c.id for c in cams])
    for a in recent:
        tasked[a.camera_id].append(a)
    return page(request, user, "video.html", {
        "cameras": cams, "alarms": alarms, "has_frame": _has_frame, "status_labels": CAMERA_STATUS,
        "tasked": tasked, "task_of": video_service.alarm_tasks(session, recent),
        "local_time": local_time, "refresh_s": REFRESH_S,
        "plans": video_service.visible_patrol_plans(session, user),
    })


@router.get("/video/patrol")
def patrol_list(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The patrol plans the user may run."""
    if user is None:
        return login_redirect(request)
    plans = video_service.visible_patrol_plans(session, user)
    ctx = {"plans": plans, "cameras_of": video_service.patrol_cameras}
    return page(request, user, "video_patrols.html", ctx)


def _patrol_context(session: Session, user: User, plan: PatrolPlan) -> dict[str, Any]:
    codes = video_service.patrol_cameras(plan)
    by_code = {c.code: c for c in session.scalars(select(Camera).where(Camera.code.in_(codes)))}
    cams = [by_code[c] for c in codes if c in by_code]
    return {"plan": plan, "cameras": cams, "has_frame": _has_frame, "kinds": FINDING_KINDS,
            "status_labels": CAMERA_STATUS, "errors": {}, "form": {}, "recorded": None}


@router.get("/video/patrol/{plan_id}")
def patrol_screen(request: Request, plan_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """The patroller's screen: the plan's cameras in turn, the latest frame and the finding form."""
    if user is None:
        return login_redirect(request)
    try:
        plan = video_service.visible_patrol_plan(session, user, plan_id)
    except NotFound as e:
        return error_page(request, user, e)
    ctx = _patrol_context(session, user, plan)
    task_id = request.query_params.get("task", "")
    if task_id.isdigit():
        ctx["recorded"] = int(task_id)
    elif request.query_params.get("recorded") == "1":
        ctx["recorded"] = 0
    return page(request, user, "video_patrol.html", ctx)


@router.post("/video/patrol/{plan_id}/findings")
async def patrol_finding(
    request: Request, plan_id: RowId, session: SessionDep, user: CurrentUser
) -> Response:
    """Record a finding on the current camera with its latest frame (form post with the CSRF token)."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    try:
        plan = video_service.visible_patrol_plan(session, user, plan_id)
    except NotFound as e:
        return error_page(request, user, e)
    gettext, _ = gettext_for(request_locale(request))
    try:
        camera = values.get("camera", "")
        if camera not in video_service.patrol_cameras(plan):
            raise InvalidInput(gettext("Choose a camera of this patrol plan."), field="camera")
        try:
            kind = FindingKind(values.get("kind", ""))
        except ValueError as e:
            raise InvalidInput(gettext("Choose what you found."), field="kind") from e
        note = values.get("note", "").strip()
        if len(note) > 500:
            raise InvalidInput(gettext("The note is at most 500 characters."), field="note")
        data_dir = get_settings().data_dir
        latest = data_dir / "video" / "latest" / f"{camera}.jpg"
        snap = latest.read_bytes() if latest.is_file() else None
        finding = video_service.record_finding(session, camera, kind, user.username, note, snap, plan.id,
                                               data_dir=data_dir)
        task_id = video_service.finding_to_task(session, user, finding)
    except (InvalidInput, PermissionDenied, ZhikongError) as e:
        session.rollback()
        plan = video_service.visible_patrol_plan(session, user, plan_id)
        field = e.field if e.field in {"camera", "kind", "note"} else "form"
        ctx = _patrol_context(session, user, plan)
        return page(request, user, "video_patrol.html", {**ctx, "errors": {field: e.message}, "form": values},
                    status_code=e.http_status if e.http_status < 500 else 400)
    target = f"/video/patrol/{plan.id}?" + (f"task={task_id}" if task_id else "recorded=1")
    return RedirectResponse(target, status_code=303)

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
    plans = video_service.visible_patrol_plans(session, user, inactive=True)
    saved = request.query_params.get("saved", "")
    ctx = {"plans": plans, "cameras_of": video_service.patrol_cameras,
           "saved": int(saved) if saved.isdigit() else None}
    return page(request, user, "video_patrols.html", ctx)


PLAN_FIELDS = {"name", "patroller", "cameras", "interval_s"}


def _plan_form(
    request: Request, session: Session, user: User, plan: PatrolPlan | None, form: dict[str, Any],
    errors: dict[str, str], status_code: int = 200,
) -> Response:
    cams = _cameras(session, user)
    chosen = list(form.get("cameras", []))
    # the plan's cameras first, in their patrol order, then the others
    order = {code: i for i, code in enumerate(chosen)}
    cams.sort(key=lambda c: (order.get(c.code, len(order)), c.code))
    return page(request, user, "video_plan_form.html", {
        "plan": plan, "cameras": cams, "form": form, "chosen": set(chosen), "errors": errors,
    }, status_code=status_code)


@router.get("/video/patrol/new")
def plan_new(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Form for a new patrol plan over cameras in the user's jurisdiction."""
    if user is None:
        return login_redirect(request)
    form = {"name": "", "patroller": user.username, "cameras": [], "interval_s": "20", "active": True}
    return _plan_form(request, session, user, None, form, {})


@router.get("/video/patrol/{plan_id}/edit")
def plan_edit(request: Request, plan_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """Form to change a patrol plan (cameras, order, interval, patroller) or stop it."""
    if user is None:
        return login_redirect(request)
    try:
        plan = video_service.visible_patrol_plan(session, user, plan_id, inactive=True)
    except NotFound as e:
        return error_page(request, user, e)
    form = {"name": plan.name, "patroller": plan.patroller, "cameras": video_service.patrol_cameras(plan),
            "interval_s": str(plan.interval_s), "active": plan.active}
    return _plan_form(request, session, user, plan, form, {})


async def _save_plan(request: Request, session: Session, user: User, plan_id: int | None) -> Response:
    data = await request.form()
    gettext, _ = gettext_for(request_locale(request))
    form: dict[str, Any] = {
        "name": str(data.get("name", "")).strip(), "patroller": str(data.get("patroller", "")).strip(),
        "cameras": [str(c) for c in data.getlist("cameras")], "interval_s": str(data.get("interval_s", "")),
        "active": data.get("active") == "1" if plan_id is not None else True,
    }
    plan = None
    try:
        if plan_id is not None:
            plan = video_service.visible_patrol_plan(session, user, plan_id, inactive=True)
        visible = {c.code for c in _cameras(session, user)}
        if not form["cameras"]:
            raise InvalidInput(gettext("Choose at least one camera."), field="cameras")
        if not set(form["cameras"]) <= visible:
            raise InvalidInput(gettext("Choose cameras of your jurisdiction only."), field="cameras")
        try:
            interval = int(form["interval_s"])
        except ValueError:
            interval = 0
        if not 5 <= interval <= 3600:
            raise InvalidInput(gettext("Seconds per camera: a whole number from 5 to 3600."),
                               field="interval_s")
        if not form["name"] or len(form["name"]) > 128:
            raise InvalidInput(gettext("Give the plan a name of at most 128 characters."), field="name")
        if not form["patroller"] or len(form["patroller"]) > 64:
            raise InvalidInput(gettext("Give the patroller's user name."), field="patroller")
        if plan is None:
            plan = video_service.create_patrol_plan(session, form["name"], form["patroller"],
                                                    form["cameras"], interval)
        else:
            video_service.update_patrol_plan(session, plan, name=form["name"], patroller=form["patroller"],
                                             camera_codes=form["cameras"], interval_s=interval,
                                             active=bool(form["active"]))
    except NotFound as e:
        session.rollback()
        return error_page(request, user, e)
    except ZhikongError as e:
        session.rollback()
        if plan_id is not None:
            plan = video_service.visible_patrol_plan(session, user, plan_id, inactive=True)
        field = e.field if e.field in PLAN_FIELDS else "form"
        return _plan_form(request, session, user, plan, form, {field: e.message},
                          status_code=e.http_status if e.http_status < 500 else 400)
    return RedirectResponse(f"/video/patrol?saved={plan.id}", status_code=303)


@router.post("/video/patrol/new")
async def plan_create(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Create a patrol plan (form post with the CSRF token)."""
    return await _save_plan(request, session, user, None)


@router.post("/video/patrol/{plan_id}/edit")
async def plan_update(request: Request, plan_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Save a changed patrol plan (form post with the CSRF token)."""
    return await _save_plan(request, session, user, plan_id)


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

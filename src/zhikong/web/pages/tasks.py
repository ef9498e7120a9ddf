"""The task board (任务看板): tasks of the user's units with filters, a task's page and its actions.

Every action calls ``tasks.service``; a refused action is shown beside the field it concerns, and a
task outside the user's jurisdiction is a 404 page, never its data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from zhikong.auth.models import User
from zhikong.auth.service import require_unit
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied, ZhikongError
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.tasks import service as task_service
from zhikong.tasks.models import Task, TaskKind, TaskState
from zhikong.tasks.workflow import (
    DEADLINE_REQUIRED,
    FEEDBACK_REQUIRED,
    FINAL_STATES,
    REASON_REQUIRED,
    UNIT_REQUIRED,
    allowed_actions,
)
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.pages import labels
from zhikong.web.pages.common import RowId, error_page, login_redirect, page
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter(include_in_schema=False)

MAX_PHOTOS = 6


def is_overdue(task: Task) -> bool:
    return task.state not in FINAL_STATES and task.deadline_at < utcnow()


def local_time(at: datetime | None) -> str:
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if at else ""


def _filters(request: Request) -> tuple[task_service.TaskFilter, dict[str, Any], dict[str, str]]:
    q = request.query_params
    values = {"state": q.get("state", ""), "kind": q.get("kind", ""), "overdue": q.get("overdue", ""),
              "unit": q.get("unit", "")}
    errors: dict[str, str] = {}
    gettext, _ = gettext_for(request_locale(request))
    flt = task_service.TaskFilter(limit=200)
    if values["state"]:
        try:
            flt.state = [TaskState(values["state"])]
        except ValueError:
            errors["state"] = gettext("Unknown state.")
    elif not values["overdue"]:
        flt.state = [s for s in TaskState if s not in FINAL_STATES]
    if values["kind"]:
        try:
            flt.kind = TaskKind(values["kind"])
        except ValueError:
            errors["kind"] = gettext("Unknown kind.")
    if values["overdue"] == "1":
        flt.overdue = True
    if values["unit"]:
        if not values["unit"].isdigit():
            errors["unit"] = gettext("Unknown unit.")
        else:
            flt.unit_id = int(values["unit"])
    return flt, values, errors


def _child_units(session: Session, user: User) -> list[tuple[int, str]]:
    """The units one level below the user's (a district's towns, a town's villages) for the filter."""
    parent = user.unit
    if user.sees_all:
        parent = session.scalar(select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT)) or parent
    rows = session.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.parent_id == parent.id)
                           .order_by(AdminUnit.code)).all()
    return [(parent.id, parent.name)] + [(uid, name) for uid, name in rows]


@router.get("/tasks")
def task_board(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The task board with filters by state, kind and overdue."""
    if user is None:
        return login_redirect(request)
    flt, values, errors = _filters(request)
    if flt.unit_id is not None:
        try:  # another unit's board is refused, not shown empty
            require_unit(session, user, flt.unit_id, field="unit")
        except (InvalidInput, PermissionDenied) as e:
            return error_page(request, user, e)
    tasks, total = ([], 0) if errors else task_service.list_tasks(session, user, flt)
    return page(request, user, "tasks.html", {
        "tasks": tasks, "total": total, "values": values, "errors": errors, "labels": labels,
        "is_overdue": is_overdue, "local_time": local_time, "units": _child_units(session, user),
    }, status_code=422 if errors else 200)


def _task_context(session: Any, user: Any, task: Task) -> dict[str, Any]:
    return {
        "task": task, "labels": labels, "is_overdue": is_overdue, "local_time": local_time,
        "events": task_service.task_events(session, task),
        "attachments": task_service.task_attachments(session, task),
        "actions": [a.value for a in allowed_actions(task.state, user.role)],
        "needs_reason": {a.value for a in REASON_REQUIRED},
        "needs_feedback": {a.value for a in FEEDBACK_REQUIRED},
        "needs_unit": {a.value for a in UNIT_REQUIRED},
        "needs_deadline": {a.value for a in DEADLINE_REQUIRED},
        "max_photos": MAX_PHOTOS,
    }


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: RowId, session: SessionDep, user: OptionalUser) -> Response:
    """One task: details, history, photos and the actions the user may take."""
    if user is None:
        return login_redirect(request)
    try:
        task = task_service.get_task(session, user, task_id)
    except (NotFound, PermissionDenied) as e:
        return error_page(request, user, e)
    return page(request, user, "task.html", {**_task_context(session, user, task), "errors": {}, "form": {}})


def _parse_deadline(text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidInput("deadline must be a date and time such as 2020-03-01T18:00",
                           field="deadline") from e
    return value.replace(tzinfo=CHINA_TZ) if value.tzinfo is None else value


@router.post("/tasks/{task_id}/act")
async def task_act(request: Request, task_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Take an action on a task (form post with the CSRF token); errors are shown beside the field."""
    form = await request.form()
    action = str(form.get("action", ""))
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    try:
        task = task_service.get_task(session, user, task_id)
    except (NotFound, PermissionDenied) as e:
        return error_page(request, user, e)
    gettext, _ = gettext_for(request_locale(request))
    try:
        if len(photos) > MAX_PHOTOS:
            raise InvalidInput(gettext("At most %(n)s photos.", n=MAX_PHOTOS), field="photos")
        version = int(values["version"]) if values.get("version", "").isdigit() else None
        unit_text = values.get("unit_id", "")
        if action in {a.value for a in UNIT_REQUIRED} and not unit_text.isdigit():
            raise InvalidInput(gettext("Choose the unit to reassign to."), field="unit_id")
        for photo in photos:
            data = await photo.read()
            task_service.add_attachment(session, user, task_id, photo.filename or "photo", data)
        task_service.transition(
            session, user, task_id, action, version=version,
            reason=values.get("reason") or None, feedback=values.get("feedback") or None,
            unit_id=int(unit_text) if unit_text.isdigit() else None,
            deadline=_parse_deadline(values.get("deadline", "")))
    except ZhikongError as e:
        session.rollback()
        task = task_service.get_task(session, user, task_id)
        field = "photos" if e.field == "file" else (e.field or "action")
        if field not in {"reason", "feedback", "photos", "unit_id", "deadline"}:
            field = "action"
        ctx = _task_context(session, user, task)
        return page(request, user, "task.html", {**ctx, "errors": {field: e.message}, "form": values,
                                                 "failed_action": action},
                    status_code=e.http_status if e.http_status < 500 else 400)
    return RedirectResponse(f"/tasks/{task.id}", status_code=303)

"""``/api/tasks``: 交办/督办 — list, create (single and bulk), act, edit, attach photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.auth.service import require_role
from zhikong.core.config import get_settings
from zhikong.core.errors import InvalidInput
from zhikong.tasks import service
from zhikong.tasks.models import Priority, Task, TaskKind, TaskState
from zhikong.tasks.schemas import (
    AttachmentOut,
    TaskActionIn,
    TaskBulkCreate,
    TaskCreate,
    TaskDetail,
    TaskEventOut,
    TaskOut,
    TaskPage,
    TaskPatch,
)
from zhikong.tasks.workflow import DISPATCH, Action, allowed_actions
from zhikong.web.deps import CurrentUser, IdPath, SessionDep, SessionUserDep, run_as_user

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

#: the columns of a task in API output (``TaskOut``'s fields are the task table's column names)
_TASK_FIELDS = tuple(TaskOut.model_fields)


def _json(model: BaseModel) -> Response:
    """A model already in its output shape, serialised once by pydantic (the hot endpoints return
    this instead of letting FastAPI validate the return value against ``response_model`` again)."""
    return Response(model.model_dump_json(), media_type="application/json")


def _detail(session: SessionDep, user: CurrentUser, task: Task) -> TaskDetail:
    return TaskDetail(
        **TaskOut.model_validate(task).model_dump(),
        events=[TaskEventOut.model_validate(e) for e in service.task_events(session, task)],
        attachments=[AttachmentOut.model_validate(a) for a in service.task_attachments(session, task)],
        allowed_actions=allowed_actions(task.state, user.role),
    )


@router.get("", response_model=TaskPage)
async def list_tasks(
    su: SessionUserDep,
    state: Annotated[list[TaskState] | None, Query()] = None,
    kind: TaskKind | None = None,
    priority: Priority | None = None,
    unit_id: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="This unit and below.")] = None,
    overdue: bool | None = None,
    batch_id: Annotated[str | None, Query(max_length=36)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """Tasks in your jurisdiction, most urgent deadline first."""
    flt = service.TaskFilter(
        state=state or (),
        kind=kind,
        priority=priority,
        unit_id=unit_id,
        overdue=overdue,
        batch_id=batch_id,
        q=q,
        limit=limit,
        offset=offset,
    )

    def work(session: Session, user: User) -> Response:
        items, total = service.list_task_rows(session, user, _TASK_FIELDS, flt)
        # the rows are the task table's own typed values: built without validation, dumped by pydantic
        page = TaskPage.model_construct(total=total, items=[TaskOut.model_construct(**r) for r in items])
        return _json(page)

    return await run_as_user(su, work, read_only=True)


@router.post("", response_model=TaskOut, status_code=201)
def create_task(body: TaskCreate, session: SessionDep, user: CurrentUser) -> Task:
    """Create a task and assign it to a unit (交办)."""
    require_role(user, *DISPATCH, what="create tasks")
    return service.create_task(
        session,
        kind=body.kind,
        unit_id=body.unit_id,
        title=body.title,
        description=body.description,
        priority=body.priority,
        subject_type=body.subject_type,
        subject_id=body.subject_id,
        source="manual",
        actor=user,
        deadline=body.deadline,
        assign=body.assign,
    )


@router.post("/bulk", response_model=list[TaskOut], status_code=201)
def create_tasks_bulk(body: TaskBulkCreate, session: SessionDep, user: CurrentUser) -> list[Task]:
    """One instruction to many units: one task per unit, all or nothing."""
    require_role(user, *DISPATCH, what="create tasks")
    return service.create_tasks_bulk(
        session,
        unit_ids=body.unit_ids,
        actor=user,
        kind=body.kind,
        title=body.title,
        description=body.description,
        priority=body.priority,
        source="manual",
        deadline=body.deadline,
    )


@router.get("/{task_id}", response_model=TaskDetail)
def get_task(task_id: IdPath, session: SessionDep, user: CurrentUser) -> TaskDetail:
    """One task with its history, attachments and the actions you may take."""
    return _detail(session, user, service.get_task(session, user, task_id))


@router.patch("/{task_id}", response_model=TaskOut)
async def update_task(task_id: IdPath, body: TaskPatch, su: SessionUserDep) -> Response:
    """Edit title, description, priority or deadline (send the version you read)."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})

    def work(session: Session, user: User) -> Response:
        task = service.update_task(session, user, task_id, version=body.version, changes=changes)
        return _json(TaskOut.model_validate(task))

    return await run_as_user(su, work)


@router.post("/{task_id}/actions/{action}", response_model=TaskDetail)
def act(
    task_id: IdPath, action: Action, body: TaskActionIn, session: SessionDep, user: CurrentUser
) -> TaskDetail:
    """Take a workflow action: sign_for, start, submit, accept, return, escalate, push, reassign, close."""
    task = service.transition(
        session,
        user,
        task_id,
        action,
        version=body.version,
        reason=body.reason,
        feedback=body.feedback,
        unit_id=body.unit_id,
        deadline=body.deadline,
    )
    return _detail(session, user, task)


@router.post("/{task_id}/attachments", response_model=AttachmentOut, status_code=201)
async def upload_attachment(
    task_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="A JPEG or PNG photo.")],
) -> AttachmentOut:
    """Attach a photo (JPEG or PNG, checked by content; size-limited) to a task."""
    limit = get_settings().attachment_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"the file is larger than {limit} bytes", field="file")
    from starlette.concurrency import run_in_threadpool

    att = await run_in_threadpool(
        service.add_attachment, session, user, task_id, file.filename or "photo", data
    )
    return AttachmentOut.model_validate(att)


@router.get("/{task_id}/attachments/{attachment_id}", response_class=FileResponse)
def download_attachment(
    task_id: IdPath, attachment_id: IdPath, session: SessionDep, user: CurrentUser
) -> FileResponse:
    """Download an attachment of a task in your jurisdiction."""
    att = service.get_attachment(session, user, task_id, attachment_id)
    return FileResponse(
        get_settings().data_dir / att.path, media_type=att.content_type, filename=att.file_name
    )

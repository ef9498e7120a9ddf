"""Task rules: creation (single, bulk, from other modules), transitions, edits, escalation.

Every change checks role and jurisdiction, bumps the task's ``version`` (a stale ``version`` from the
client is a ``Conflict``), appends a ``task_event`` and writes the audit log, all in the caller's
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.exc import StaleDataError

from zhikong import audit
from zhikong.auth.models import DISTRICT_ROLES, Role, User
from zhikong.auth.service import require_unit, restrict
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from zhikong.core.time import as_utc, utcnow
from zhikong.geo.models import AdminUnit
from zhikong.tasks.files import store_image
from zhikong.tasks.models import Priority, SubjectType, Task, TaskAttachment, TaskEvent, TaskKind, TaskState
from zhikong.tasks.workflow import (
    DEADLINE_REQUIRED,
    DISPATCH,
    ESCALATABLE,
    FEEDBACK_REQUIRED,
    FINAL_STATES,
    REASON_REQUIRED,
    REVIEW,
    UNIT_REQUIRED,
    Action,
    check,
)

MAX_TITLE = 200
MAX_BULK_UNITS = 500


def _actor(actor: User | str | None) -> tuple[int | None, str]:
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor[:64]
    return actor.id, actor.username


def deadline_for(priority: Priority, now: datetime | None = None) -> datetime:
    """The deadline a task of ``priority`` gets by policy (``settings.task_deadline_hours``)."""
    hours = get_settings().task_deadline_hours.get(priority.value, 24.0)
    return (now or utcnow()) + timedelta(hours=hours)


def _future_deadline(deadline: datetime, now: datetime) -> datetime:
    value = as_utc(deadline)
    if value <= now:
        raise InvalidInput(
            f"the deadline {value.isoformat(timespec='minutes')} is in the past", field="deadline"
        )
    if value > now + timedelta(days=366):
        raise InvalidInput("the deadline is more than a year away", field="deadline")
    return value


def _event(
    session: Session,
    task: Task,
    action: str,
    actor: User | str | None,
    *,
    from_state: TaskState | None,
    reason: str | None = None,
    from_unit_id: int | None = None,
    to_unit_id: int | None = None,
    at: datetime | None = None,
    to_state: TaskState | None = None,
) -> TaskEvent:
    actor_id, actor_name = _actor(actor)
    ev = TaskEvent(
        task_id=task.id,
        action=action,
        from_state=from_state,
        to_state=to_state or task.state,
        from_unit_id=from_unit_id,
        to_unit_id=to_unit_id,
        actor_id=actor_id,
        actor=actor_name,
        reason=reason,
        at=at or utcnow(),
    )
    session.add(ev)
    return ev


def _clean_text(value: str | None, field: str, max_len: int, required: bool = False) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    return text or None


def create_task(
    session: Session,
    *,
    kind: TaskKind | str,
    unit_id: int,
    title: str,
    description: str,
    priority: Priority | str,
    subject_type: SubjectType | str = SubjectType.NONE,
    subject_id: int | None = None,
    source: str,
    actor: User | str | None,
    deadline: datetime | None = None,
    assign: bool = True,
    batch_id: str | None = None,
) -> Task:
    """Create a task for ``unit_id`` (assigned at once unless ``assign=False``).

    Other modules call this for their findings (``source`` names the module). A user ``actor`` must
    have the unit in their jurisdiction; a string actor (a component such as ``"worker"``) is trusted.
    """
    now = utcnow()
    try:
        kind = TaskKind(kind)
    except ValueError as e:
        raise InvalidInput(f"unknown task kind {kind!r}", field="kind") from e
    try:
        priority = Priority(priority)
    except ValueError as e:
        raise InvalidInput(f"unknown priority {priority!r}", field="priority") from e
    try:
        subject_type = SubjectType(subject_type)
    except ValueError as e:
        raise InvalidInput(f"unknown subject type {subject_type!r}", field="subject_type") from e
    if (subject_type == SubjectType.NONE) != (subject_id is None):
        raise InvalidInput("subject_type and subject_id go together", field="subject_id")
    clean_title = _clean_text(title, "title", MAX_TITLE, required=True)
    assert clean_title is not None
    if isinstance(actor, User):
        require_unit(session, actor, unit_id)
    elif session.get(AdminUnit, unit_id) is None:
        raise InvalidInput(f"unknown administrative unit {unit_id}", field="unit_id")
    due = _future_deadline(deadline, now) if deadline is not None else deadline_for(priority, now)
    actor_id, _ = _actor(actor)
    task = Task(
        kind=kind,
        title=clean_title,
        description=(description or "").strip()[:10000],
        priority=priority,
        state=TaskState.ASSIGNED if assign else TaskState.CREATED,
        unit_id=unit_id,
        subject_type=subject_type,
        subject_id=subject_id,
        source=(source or "manual")[:32],
        batch_id=batch_id,
        created_by_id=actor_id,
        deadline_at=due,
        escalation_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    _event(session, task, "create", actor, from_state=None, to_unit_id=unit_id, at=now,
           to_state=TaskState.CREATED)
    if assign:
        _event(
            session,
            task,
            Action.ASSIGN.value,
            actor,
            from_state=TaskState.CREATED,
            to_unit_id=unit_id,
            at=now,
        )
    session.flush()
    audit.record(
        session,
        actor,
        "task.create",
        "task",
        task.id,
        {
            "kind": kind.value,
            "unit_id": unit_id,
            "priority": priority.value,
            "state": task.state.value,
            "deadline_at": due,
            "source": task.source,
            "subject": f"{subject_type.value}:{subject_id}",
        },
    )
    return task


def create_tasks_bulk(
    session: Session, *, unit_ids: Sequence[int], actor: User | str | None, **fields: Any
) -> list[Task]:
    """One instruction to many units: one task per unit, sharing a ``batch_id``; all or nothing."""
    ids = list(dict.fromkeys(unit_ids))
    if not ids:
        raise InvalidInput("give at least one unit", field="unit_ids")
    if len(ids) > MAX_BULK_UNITS:
        raise InvalidInput(f"at most {MAX_BULK_UNITS} units per instruction", field="unit_ids")
    batch = str(uuid.uuid4())
    return [create_task(session, unit_id=u, actor=actor, batch_id=batch, **fields) for u in ids]


# ---- reading --------------------------------------------------------------------------------
def get_task(
    session: Session, user: User, task_id: int, *, for_update: bool = False, load_unit: bool = True
) -> Task:
    """The task if it exists and is in the user's jurisdiction; else ``NotFound``.

    ``load_unit=False`` skips the eager join of ``task.unit`` (it loads lazily if touched).
    """
    stmt = restrict(select(Task).where(Task.id == task_id), user, Task.unit_id)
    if not load_unit:
        stmt = stmt.options(lazyload(Task.unit))
    if for_update:
        stmt = stmt.execution_options(populate_existing=True)
    task = session.scalar(stmt)
    if task is None:
        raise NotFound(f"no task {task_id} in your jurisdiction", field="task_id")
    return task


@dataclass
class TaskFilter:
    state: Sequence[TaskState] = ()
    kind: TaskKind | None = None
    priority: Priority | None = None
    unit_id: int | None = None
    overdue: bool | None = None
    batch_id: str | None = None
    q: str | None = None
    limit: int = 50
    offset: int = 0


def list_tasks(session: Session, user: User, flt: TaskFilter | None = None) -> tuple[list[Task], int]:
    """Tasks in the user's jurisdiction matching ``flt``, newest deadline pressure first, and the total."""
    flt = flt or TaskFilter()
    stmt = _filtered(session, user, select(Task), flt)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Task.deadline_at, Task.id).limit(flt.limit).offset(flt.offset)).all()
    return list(rows), int(total)


def list_task_rows(
    session: Session, user: User, columns: Sequence[str], flt: TaskFilter | None = None
) -> tuple[list[dict[str, Any]], int]:
    """``list_tasks`` as plain rows of ``columns`` (for the API: no ORM objects, one round trip).

    The total comes from a window count on the same query; a page past the end has no row to carry
    it, so then it is counted separately.
    """
    flt = flt or TaskFilter()
    table = Task.__table__
    stmt = _filtered(session, user, select(*(table.c[c] for c in columns), func.count().over()), flt)
    stmt = stmt.order_by(Task.deadline_at, Task.id).limit(flt.limit).offset(flt.offset)
    result = session.connection().execute(stmt).all()
    if result:
        total = int(result[0][-1])
    else:
        base = _filtered(session, user, select(table.c.id), flt).subquery()
        total = int(session.connection().execute(select(func.count()).select_from(base)).scalar_one())
    return [dict(zip(columns, row[:-1], strict=True)) for row in result], total


def _filtered(session: Session, user: User, stmt: Select[Any], flt: TaskFilter) -> Select[Any]:
    stmt = restrict(stmt, user, Task.unit_id)
    if flt.state:
        stmt = stmt.where(Task.state.in_(list(flt.state)))
    if flt.kind is not None:
        stmt = stmt.where(Task.kind == flt.kind)
    if flt.priority is not None:
        stmt = stmt.where(Task.priority == flt.priority)
    if flt.unit_id is not None:
        unit = session.get(AdminUnit, flt.unit_id)
        if unit is None:
            raise InvalidInput(f"unknown administrative unit {flt.unit_id}", field="unit_id")
        stmt = stmt.where(Task.unit_id.in_(select(AdminUnit.id).where(AdminUnit.path.startswith(unit.path))))
    if flt.overdue is not None:
        now = utcnow()
        open_states = [s for s in TaskState if s not in FINAL_STATES]
        cond = (Task.deadline_at < now) & Task.state.in_(open_states)
        stmt = stmt.where(cond if flt.overdue else ~cond)
    if flt.batch_id:
        stmt = stmt.where(Task.batch_id == flt.batch_id)
    if flt.q:
        stmt = stmt.where(Task.title.contains(flt.q.strip(), autoescape=True))
    return stmt


def task_events(session: Session, task: Task) -> list[TaskEvent]:
    return list(session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.id)))


def task_attachments(session: Session, task: Task) -> list[TaskAttachment]:
    return list(
        session.scalars(
            select(TaskAttachment).where(TaskAttachment.task_id == task.id).order_by(TaskAttachment.id)
        )
    )


# ---- changing -------------------------------------------------------------------------------
def _check_version(task: Task, version: int | None) -> None:
    if version is not None and version != task.version:
        raise Conflict(
            f"task {task.id} is at version {task.version}, not {version}: it was changed "
            "by someone else; reload and retry",
            field="version",
        )


def _flush(session: Session, task: Task) -> None:
    task_id = task.id  # read before the flush: a failed flush leaves the session unusable
    try:
        session.flush()
    except StaleDataError as e:
        raise Conflict(
            f"task {task_id} was changed by someone else; reload and retry", field="version"
        ) from e


def _last_submitter(session: Session, task: Task) -> int | None:
    return session.scalar(
        select(TaskEvent.actor_id)
        .where(TaskEvent.task_id == task.id, TaskEvent.action == Action.SUBMIT.value)
        .order_by(TaskEvent.id.desc())
        .limit(1)
    )


def transition(
    session: Session,
    user: User,
    task_id: int,
    action: Action | str,
    *,
    version: int | None = None,
    reason: str | None = None,
    feedback: str | None = None,
    unit_id: int | None = None,
    deadline: datetime | None = None,
) -> Task:
    """Take ``action`` on the task as ``user``; see ``tasks.workflow`` for the table."""
    try:
        action = Action(action)
    except ValueError as e:
        raise InvalidInput(f"unknown action {action!r}", field="action") from e
    task = get_task(session, user, task_id)
    _check_version(task, version)
    t = check(task.state, action, user.role)
    if action in (Action.ACCEPT, Action.RETURN) and user.role in REVIEW:
        if user.role not in DISTRICT_ROLES and task.unit_id == user.unit_id:
            raise PermissionDenied(
                "a unit does not check its own feedback; the level above does", field="action"
            )
        if _last_submitter(session, task) == user.id:
            raise PermissionDenied("the person who submitted the feedback cannot check it", field="action")
    now = utcnow()
    why = _clean_text(reason, "reason", 2000, required=action in REASON_REQUIRED)
    if action in FEEDBACK_REQUIRED:
        task.feedback = _clean_text(feedback, "feedback", 10000, required=True)
    from_state, from_unit = task.state, task.unit_id
    to_unit: int | None = None
    if action in UNIT_REQUIRED:
        if unit_id is None:
            raise InvalidInput("give the unit to reassign the task to", field="unit_id")
        require_unit(session, user, unit_id)
        if unit_id == task.unit_id:
            raise InvalidInput("the task is already assigned to this unit", field="unit_id")
        task.unit_id = to_unit = unit_id
    if deadline is not None:
        task.deadline_at = _future_deadline(deadline, now)
    elif action in DEADLINE_REQUIRED:
        raise InvalidInput("give a new deadline", field="deadline")
    elif action == Action.REASSIGN and task.deadline_at <= now:
        task.deadline_at = deadline_for(task.priority, now)
    task.state = t.to
    task.updated_at = now
    if action == Action.ESCALATE:
        task.escalated_at = now
        task.escalation_count = (task.escalation_count or 0) + 1
    if t.to in FINAL_STATES:
        task.closed_at = now
    _flush(session, task)
    _event(
        session,
        task,
        action.value,
        user,
        from_state=from_state,
        reason=why or feedback,
        from_unit_id=from_unit if to_unit else None,
        to_unit_id=to_unit,
        at=now,
    )
    audit.record(
        session,
        user,
        f"task.{action.value}",
        "task",
        task.id,
        {
            "from": from_state.value,
            "to": t.to.value,
            "reason": why,
            "unit_id": task.unit_id,
            "from_unit_id": from_unit if to_unit else None,
            "version": task.version,
        },
    )
    return task


EDITABLE = frozenset({"title", "description", "priority", "deadline"})


def update_task(session: Session, user: User, task_id: int, *, version: int, changes: dict[str, Any]) -> Task:
    """Edit title, description, priority or deadline of an open task (dispatching roles only)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    task = get_task(session, user, task_id, load_unit=False)
    if user.role not in DISPATCH:
        raise PermissionDenied(f"role {user.role.value} may not edit tasks")
    _check_version(task, version)
    if task.state in FINAL_STATES:
        raise Conflict(f"task {task.id} is {task.state.value}; it can no longer be edited", field="state")
    now = utcnow()
    before: dict[str, Any] = {}
    if "title" in changes:
        before["title"] = task.title
        task.title = _clean_text(changes["title"], "title", MAX_TITLE, required=True) or task.title
    if "description" in changes:
        before["description"] = task.description
        task.description = (changes["description"] or "").strip()[:10000]
    if "priority" in changes:
        try:
            prio = Priority(changes["priority"])
        except ValueError as e:
            raise InvalidInput(f"unknown priority {changes['priority']!r}", field="priority") from e
        before["priority"] = task.priority.value
        task.priority = prio
    if "deadline" in changes:
        if changes["deadline"] is None:
            raise InvalidInput("the deadline cannot be removed", field="deadline")
        before["deadline_at"] = task.deadline_at
        task.deadline_at = _future_deadline(changes["deadline"], now)
    if not before:
        raise InvalidInput("nothing to change", field="body")
    task.updated_at = now
    _flush(session, task)
    _event(session, task, "edit", user, from_state=task.state, reason=", ".join(sorted(before)), at=now)
    audit.record(session, user, "task.edit", "task", task.id, {"before": before, "version": task.version})
    return task


def add_attachment(session: Session, user: User, task_id: int, file_name: str, data: bytes) -> TaskAttachment:
    """Attach a photo (JPEG/PNG by content, size-limited) to an open task in the user's jurisdiction."""
    task = get_task(session, user, task_id)
    if task.state in FINAL_STATES:
        raise Conflict(f"task {task.id} is {task.state.value}; no more attachments", field="state")
    if user.role not in DISPATCH | {Role.VILLAGE_OPERATOR, Role.VIDEO_PATROLLER, Role.ISOLATION_STAFF}:
        raise PermissionDenied(f"role {user.role.value} may not attach files to tasks")
    rel, ctype, digest = store_image(data, f"tasks/{task.id}")
    att = TaskAttachment(
        task_id=task.id,
        file_name=(file_name or "photo")[:255],
        content_type=ctype,
        size=len(data),
        sha256=digest,
        path=rel,
        uploaded_by_id=user.id,
    )
    session.add(att)
    session.flush()
    audit.record(
        session,
        user,
        "task.attach",
        "task",
        task.id,
        {"attachment_id": att.id, "sha256": digest, "size": len(data)},
    )
    return att


def get_attachment(session: Session, user: User, task_id: int, attachment_id: int) -> TaskAttachment:
    task = get_task(session, user, task_id)
    att = session.get(TaskAttachment, attachment_id)
    if att is None or att.task_id != task.id:
        raise NotFound(f"no attachment {attachment_id} on task {task_id}", field="attachment_id")
    return att


# ---- the worker's part ----------------------------------------------------------------------
def escalate_overdue(session: Session, now: datetime | None = None, actor: str = "worker") -> list[int]:
    """Escalate every open task past its deadline to the supervision group (督办).

    Idempotent and safe with several workers: each task moves with a conditional UPDATE guarded by
    its state and version, so a task is escalated once per missed deadline however often this runs.
    """
    now = now or utcnow()
    candidates = session.execute(
        select(Task.id, Task.state, Task.version)
        .where(Task.state.in_(list(ESCALATABLE)), Task.deadline_at < now)
        .order_by(Task.deadline_at)
        .limit(1000)
    ).all()
    done: list[int] = []
    for task_id, state, version in candidates:
        res = session.execute(
            update(Task)
            .where(Task.id == task_id, Task.state == state, Task.version == version)
            .values(
                state=TaskState.ESCALATED,
                escalated_at=now,
                updated_at=now,
                escalation_count=Task.escalation_count + 1,
                version=Task.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(res, "rowcount", 0) != 1:
            continue
        session.add(
            TaskEvent(
                task_id=task_id,
                action=Action.ESCALATE.value,
                from_state=state,
                to_state=TaskState.ESCALATED,
                actor=actor,
                at=now,
                reason="deadline passed / 逾期未办结",
            )
        )
        audit.record(
            session,
            actor,
            "task.escalate",
            "task",
            task_id,
            {"from": TaskState(state).value, "to": TaskState.ESCALATED.value, "reason": "overdue"},
        )
        done.append(task_id)
    session.flush()
    return done


def due_soon(session: Session, within: timedelta, now: datetime | None = None) -> list[Task]:
    """Open, not yet escalated tasks whose deadline falls within ``within`` (for reminders)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Task).where(
                Task.state.in_(list(ESCALATABLE)), Task.deadline_at >= now, Task.deadline_at < now + within
            )
        )
    )

"""Request and response bodies of the tasks API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from zhikong.tasks.models import Priority, SubjectType, TaskKind, TaskState
from zhikong.tasks.workflow import Action
from zhikong.web.deps import DbId, Version


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10000)
    priority: Priority = Priority.NORMAL
    unit_id: DbId = Field(description="The unit the task is assigned to (交办单位).")
    subject_type: SubjectType = SubjectType.NONE
    subject_id: DbId | None = None
    deadline: datetime | None = Field(default=None, description="Default: by priority (policy).")
    assign: bool = Field(default=True, description="Assign at once (else it stays a draft, `created`).")


class TaskBulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TaskKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10000)
    priority: Priority = Priority.NORMAL
    unit_ids: list[DbId] = Field(min_length=1, max_length=500)
    deadline: datetime | None = None


class TaskActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field(description="The version you read; a stale version is rejected with 409.")
    reason: str | None = Field(default=None, max_length=2000)
    feedback: str | None = Field(default=None, max_length=10000, description="For `submit`.")
    unit_id: DbId | None = Field(default=None, description="For `reassign`: the new unit.")
    deadline: datetime | None = Field(default=None, description="For `push` (required) and `reassign`.")


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    priority: Priority | None = None
    deadline: datetime | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: TaskKind
    title: str
    description: str
    priority: Priority
    state: TaskState
    unit_id: int
    subject_type: SubjectType
    subject_id: int | None
    source: str
    batch_id: str | None
    deadline_at: datetime
    feedback: str | None
    escalated_at: datetime | None
    escalation_count: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int


class TaskEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    from_state: TaskState | None
    to_state: TaskState
    from_unit_id: int | None
    to_unit_id: int | None
    actor: str
    reason: str | None
    at: datetime


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    file_name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class TaskDetail(TaskOut):
    events: list[TaskEventOut]
    attachments: list[AttachmentOut]
    allowed_actions: list[Action]


class TaskPage(BaseModel):
    total: int
    items: list[TaskOut]


class EscalationOut(BaseModel):
    escalated: list[int]

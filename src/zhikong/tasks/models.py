"""Tasks 交办/督办: the task, its event history and its attachments."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow
from zhikong.geo.models import AdminUnit


class TaskKind(enum.StrEnum):
    CONTACT_QUARANTINE = "contact_quarantine"  # 密接管控
    ARRIVAL_VERIFICATION = "arrival_verification"  # 来返人员核查
    REGISTRATION = "registration"  # 排查登记
    CONCEALMENT = "concealment"  # 瞒报核查
    VIDEO_ALARM = "video_alarm"  # 视频告警处置
    FEVER = "fever"  # 发热处置
    CITIZEN_REPORT = "citizen_report"  # 群众举报
    MEETING_DECISION = "meeting_decision"  # 调度会议决定
    OTHER = "other"


class Priority(enum.StrEnum):
    URGENT = "urgent"  # 特急
    HIGH = "high"  # 紧急
    NORMAL = "normal"  # 一般
    LOW = "low"  # 较缓


class TaskState(enum.StrEnum):
    CREATED = "created"  # 已创建
    ASSIGNED = "assigned"  # 已交办
    SIGNED_FOR = "signed_for"  # 已签收
    IN_PROGRESS = "in_progress"  # 处置中
    SUBMITTED = "submitted"  # 已反馈
    RETURNED = "returned"  # 已退回
    ACCEPTED = "accepted"  # 已办结
    ESCALATED = "escalated"  # 督办中
    CLOSED = "closed"  # 已关闭


class SubjectType(enum.StrEnum):
    NONE = "none"
    PERSON = "person"
    PLACE = "place"
    ALERT = "alert"


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (Index("ix_task_state_deadline_at", "state", "deadline_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind, 24), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, 12))
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState, 16), index=True)
    #: the unit the task is currently assigned to
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    subject_type: Mapped[SubjectType] = mapped_column(str_enum(SubjectType, 12), default=SubjectType.NONE)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    #: who or what created it: ``manual``, ``alerts``, ``tracing``, ``screening``, ``meeting`` …
    source: Mapped[str] = mapped_column(String(32), default="manual")
    #: tasks created by one bulk instruction share a batch id
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    feedback: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: optimistic concurrency: every write checks and bumps it (stale write → 409)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    unit: Mapped[AdminUnit] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TaskEvent(Base):
    """One step in a task's history: who, when, what, why (and unit changes for reassignments)."""

    __tablename__ = "task_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[TaskState | None] = mapped_column(str_enum(TaskState, 16))
    to_state: Mapped[TaskState] = mapped_column(str_enum(TaskState, 16))
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskAttachment(Base):
    """A photo attached to a task's feedback; the bytes live under ``data_dir/attachments``."""

    __tablename__ = "task_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Daily unit reports 数据上报: form definitions (from YAML), the reports, their history, reminders."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow


class ReminderStage(enum.StrEnum):
    REMIND = "remind"  # 催报
    OVERDUE = "overdue"  # 逾期转督办任务


class ReportForm(Base):
    """A report form as loaded from ``reporting/forms/*.yaml`` (the definition is kept as JSON)."""

    __tablename__ = "report_form"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    #: which tier reports: ``town`` or ``village`` (``geo.models.UnitLevel``)
    tier: Mapped[str] = mapped_column(String(16))
    #: local deadline time ``HH:MM``
    deadline: Mapped[str] = mapped_column(String(5))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyReport(Base):
    """One unit's figures for one form and day; corrections bump ``revision`` and keep history."""

    __tablename__ = "daily_report"
    __table_args__ = (UniqueConstraint("form_id", "unit_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("report_form.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(16), default="web")
    late: Mapped[bool] = mapped_column(default=False)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportRevision(Base):
    """Every version of a report: the first submission and each correction with its reason."""

    __tablename__ = "daily_report_revision"
    __table_args__ = (UniqueConstraint("report_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("daily_report.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="web")
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportReminder(Base):
    """A reminder (催报) or an overdue task sent for a missing report; one per stage, so reruns are no-ops."""

    __tablename__ = "report_reminder"
    __table_args__ = (UniqueConstraint("form_id", "unit_id", "day", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("report_form.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    stage: Mapped[ReminderStage] = mapped_column(str_enum(ReminderStage, 12))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NetizenStatus(enum.StrEnum):
    NEW = "new"  # 待分拣
    ASSIGNED = "assigned"  # 已交办
    ANSWERED = "answered"  # 已答复
    REJECTED = "rejected"  # 不予受理


class NetizenReport(Base):
    """网民举报: a public report (web form or the 12345 hotline), followed by its code."""

    __tablename__ = "netizen_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the reporter's follow-up code (random, shown once on submission)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="web")
    #: the hotline's own ticket number (12345 import); unique so a re-import is refused
    external_no: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: sha256 of the normalised text and place: the same report twice is refused
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"))
    status: Mapped[NetizenStatus] = mapped_column(str_enum(NetizenStatus, 12), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class NetizenGuard(Base):
    """Abuse-protection marks shared by every server process: a used challenge (``kind`` "challenge",
    ``key`` its token's hash; unique, so a second use fails in any process) and a submission attempt
    (``kind`` "hit", ``key`` the keyed hash of the address). Rows past ``expires_at`` are pruned."""

    __tablename__ = "netizen_guard"
    __table_args__ = (UniqueConstraint("kind", "key", "nonce"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(64))
    #: "" for a challenge (one use); a random value for each hit
    nonce: Mapped[str] = mapped_column(String(16), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class NetizenPhoto(Base):
    __tablename__ = "netizen_photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("netizen_report.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))


class Meeting(Base):
    """视频调度会: a dispatch video meeting with its agenda, room link and minutes."""

    __tablename__ = "dispatch_meeting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    agenda: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    room: Mapped[str] = mapped_column(String(32), unique=True)
    video_url: Mapped[str] = mapped_column(String(500))
    minutes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeetingAttendee(Base):
    __tablename__ = "dispatch_meeting_attendee"
    __table_args__ = (UniqueConstraint("meeting_id", "unit_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("dispatch_meeting.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class MeetingDecision(Base):
    """A decision of a meeting, turned into one task per named unit (sharing ``batch_id``)."""

    __tablename__ = "dispatch_meeting_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("dispatch_meeting.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    task_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

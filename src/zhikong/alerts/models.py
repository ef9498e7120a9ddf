"""Alerts: video, device, fever and citizen alerts, de-duplicated and routed to a unit."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow


class AlertKind(enum.StrEnum):
    CROWD = "crowd"  # 人员聚集
    NO_MASK = "no_mask"  # 未戴口罩
    FEVER = "fever"  # 体温异常
    QUARANTINE_BREACH = "quarantine_breach"  # 居家隔离违规外出
    DEVICE = "device"  # 设备告警 (门磁、离线)
    INTRUSION = "intrusion"  # 区域入侵
    CITIZEN_REPORT = "citizen_report"  # 群众举报
    OTHER = "other"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertState(enum.StrEnum):
    NEW = "new"  # 待处理
    ACKNOWLEDGED = "acknowledged"  # 已确认收到
    CONFIRMED = "confirmed"  # 已核实 (→ 任务)
    DISMISSED = "dismissed"  # 已排除


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_dedup_key_last_seen_at", "dedup_key", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[AlertKind] = mapped_column(str_enum(AlertKind, 24), index=True)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 12))
    state: Mapped[AlertState] = mapped_column(str_enum(AlertState, 16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the unit it was routed to (the deepest unit containing the position, or the place's unit)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"))
    camera_code: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    #: what "the same situation" means: kind + place, camera or ~100 m cell
    dedup_key: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: deliveries folded into this alert by the suppression window
    count: Mapped[int] = mapped_column(Integer, default=1)
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AlertDelivery(Base):
    """An idempotency key seen at intake: a repeated delivery returns the same alert."""

    __tablename__ = "alert_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: SHA-256 of the canonical request, to tell a replay from a reused key
    request_hash: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

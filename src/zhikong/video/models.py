"""Cameras of key places, their alarms, and video patrol plans and findings (视频巡查)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow
from zhikong.video.alarms import AlarmKind


class CameraStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class AlarmStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class FindingKind(enum.StrEnum):
    GATHERING = "gathering"  # 人员聚集
    NO_MASKS = "no_masks"  # 未佩戴口罩
    MEASURES_MISSING = "measures_missing"  # 防控措施缺失 (扫码、测温)
    PROCEDURE = "procedure"  # 工作人员未按规范操作
    OTHER = "other"


#: the Chinese label of each finding kind (alarm and task text)
FINDING_LABELS: dict[FindingKind, str] = {
    FindingKind.GATHERING: "人员聚集",
    FindingKind.NO_MASKS: "未佩戴口罩",
    FindingKind.MEASURES_MISSING: "防控措施缺失",
    FindingKind.PROCEDURE: "工作人员未按规范操作",
    FindingKind.OTHER: "其他问题",
}


class Camera(Base):
    """A camera: where it is (place, unit, position), how to reach it, and its zone rules."""

    __tablename__ = "camera"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id"), index=True)
    #: the unit whose duty staff receive this camera's alarms (the place's unit by default)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    #: rtsp://, http(s):// (MJPEG) or file:// / a path; credentials are never part of the URL
    stream_url: Mapped[str] = mapped_column(String(1024))
    username_enc: Mapped[str | None] = mapped_column(String(512))
    password_enc: Mapped[str | None] = mapped_column(String(512))
    #: zone rules as JSON (validated by ``schemas.CameraRules``)
    rules_json: Mapped[str | None] = mapped_column(Text)
    #: list of ``schemas.ScheduleWindow`` as JSON; empty = always armed
    schedule_json: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[CameraStatus] = mapped_column(str_enum(CameraStatus, 16), default=CameraStatus.UNKNOWN)
    last_frame_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VideoAlarm(Base):
    """An alarm raised by a camera's rules or its health; forwarded to the alert intake."""

    __tablename__ = "video_alarm"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    kind: Mapped[AlarmKind] = mapped_column(str_enum(AlarmKind, 24), index=True)
    #: idempotency key: one episode (gathering, stay, outage) is one row
    key: Mapped[str] = mapped_column(String(200), unique=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    people: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(512))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[AlarmStatus] = mapped_column(
        str_enum(AlarmStatus, 16), default=AlarmStatus.OPEN, index=True
    )
    #: JPEG snapshot path relative to the data directory
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    #: id of the alert this alarm became in the alert intake (when that domain is installed)
    alert_id: Mapped[int | None] = mapped_column(Integer)
    detail_json: Mapped[str | None] = mapped_column(Text)

    camera: Mapped[Camera] = relationship()


class PatrolPlan(Base):
    """A video patrol: which cameras, how often, by whom."""

    __tablename__ = "patrol_plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    #: user name of the patroller
    patroller: Mapped[str] = mapped_column(String(64))
    #: seconds each camera stays on the patroller's screen
    interval_s: Mapped[int] = mapped_column(Integer, default=20)
    #: camera codes in patrol order, as a JSON list
    cameras_json: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PatrolFinding(Base):
    """A problem a patroller saw on a camera, with the snapshot; it becomes a task."""

    __tablename__ = "patrol_finding"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_plan.id"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    kind: Mapped[FindingKind] = mapped_column(str_enum(FindingKind, 24))
    note: Mapped[str] = mapped_column(String(512), default="")
    patroller: Mapped[str] = mapped_column(String(64))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    #: the video alarm (and so the alert/task) this finding raised
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("video_alarm.id"))

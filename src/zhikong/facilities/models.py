"""Isolation points and screening points: structure (buildings, rooms, beds), stays, daily
follow-up (health checks, tests), devices and their telemetry.

A *follow-up* (``followup``) is one key person under one control measure: central quarantine in a
bed (with a ``stay``), home quarantine or health monitoring in the village. Health checks and test
results hang off the follow-up, so the same twice-daily routine serves all three measures.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow
from zhikong.geo.models import Place
from zhikong.screening import models as _screening_models  # noqa: F401  (key_person, referenced below)


class FacilityKind(enum.StrEnum):
    ISOLATION_POINT = "isolation_point"  # 集中隔离医学观察点
    SCREENING_POINT = "screening_point"  # 体温筛查点 (e.g. the administrative centre entrance)


class Facility(Base):
    __tablename__ = "facility"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id"), unique=True)
    kind: Mapped[FacilityKind] = mapped_column(str_enum(FacilityKind, 24), index=True)
    name: Mapped[str] = mapped_column(String(128))
    #: the unit of the place (denormalised for jurisdiction filters)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    place: Mapped[Place] = relationship()


class Building(Base):
    __tablename__ = "facility_building"
    __table_args__ = (UniqueConstraint("facility_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    floors: Mapped[int] = mapped_column(Integer, default=1)


class Room(Base):
    __tablename__ = "facility_room"
    __table_args__ = (UniqueConstraint("building_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(
        ForeignKey("facility_building.id", ondelete="CASCADE"), index=True
    )
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"), index=True)
    floor: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(16))

    building: Mapped[Building] = relationship()


class Bed(Base):
    __tablename__ = "facility_bed"
    __table_args__ = (UniqueConstraint("room_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("facility_room.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(16))
    #: out of service (repairs, cleaning): not offered as a free bed
    usable: Mapped[bool] = mapped_column(Boolean, default=True)

    room: Mapped[Room] = relationship()


class Measure(enum.StrEnum):
    CENTRAL = "central"  # 集中隔离医学观察
    HOME = "home"  # 居家隔离
    MONITORING = "monitoring"  # 居家健康监测


class FollowupState(enum.StrEnum):
    ACTIVE = "active"
    RELEASED = "released"  # 解除
    TRANSFERRED = "transferred"  # 转出 (hospital, other measure)


class Followup(Base):
    """One person under one measure until release; health checks and tests belong to it."""

    __tablename__ = "followup"
    __table_args__ = (
        # a person is under at most one active measure at a time
        Index(
            "uq_followup_active_person",
            "person_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    #: the key-person registry entry (screening.KeyPerson) this follow-up serves, when known
    key_person_id: Mapped[int | None] = mapped_column(ForeignKey("key_person.id"), index=True)
    measure: Mapped[Measure] = mapped_column(str_enum(Measure, 16))
    state: Mapped[FollowupState] = mapped_column(str_enum(FollowupState, 16), index=True)
    #: the unit responsible: the facility's unit (central) or the person's village (home)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    planned_end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: test days (1 = the day of admission) as a comma list, from the policy
    test_days: Mapped[str] = mapped_column(String(64), default="")
    #: the follow-up this one continues (home monitoring after central quarantine)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("followup.id"))
    end_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Stay(Base):
    """A follow-up's time in one bed. A bed holds one active stay (unique partial index)."""

    __tablename__ = "facility_stay"
    __table_args__ = (
        Index(
            "uq_facility_stay_active_bed",
            "bed_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followup.id"), index=True)
    bed_id: Mapped[int] = mapped_column(ForeignKey("facility_bed.id"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("facility_room.id"), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: why it ended: released, transferred, moved (within or between points)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class CheckSource(enum.StrEnum):
    STAFF = "staff"  # 工作人员录入
    SELF = "self"  # 本人自报 (signed link)
    VISIT = "visit"  # 村居上门随访
    DEVICE = "device"  # 测温设备


class HealthCheck(Base):
    __tablename__ = "health_check"
    __table_args__ = (UniqueConstraint("followup_id", "day", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followup.id"), index=True)
    #: local calendar day and slot (``am``/``pm``) this check fills
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(2))
    temperature: Mapped[float] = mapped_column(Float)
    #: comma-separated symptom codes (fever, cough, sore_throat, fatigue, …); empty = none
    symptoms: Mapped[str] = mapped_column(String(255), default="")
    abnormal: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[CheckSource] = mapped_column(str_enum(CheckSource, 12))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LabOutcome(enum.StrEnum):
    PENDING = "pending"
    NEGATIVE = "negative"
    POSITIVE = "positive"


class TestResult(Base):
    __tablename__ = "followup_test"
    __test__ = False  # not a pytest class
    __table_args__ = (UniqueConstraint("followup_id", "day_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    followup_id: Mapped[int] = mapped_column(ForeignKey("followup.id"), index=True)
    #: day of the measure (1 = first day) the sample belongs to
    day_number: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[LabOutcome] = mapped_column(str_enum(LabOutcome, 12))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceKind(enum.StrEnum):
    CAMERA = "camera"  # 摄像机
    THERMAL_CAMERA = "thermal_camera"  # 热成像测温
    DOOR_SENSOR = "door_sensor"  # 门磁
    SMOKE = "smoke"  # 烟感
    OTHER = "other"


class DeviceStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class Device(Base):
    __tablename__ = "device"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(str_enum(DeviceKind, 16), index=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("facility_room.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[DeviceStatus] = mapped_column(str_enum(DeviceStatus, 12), default=DeviceStatus.UNKNOWN)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last stored snapshot (camera/thermal camera), under data_dir
    snapshot_path: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageType(enum.StrEnum):
    HEARTBEAT = "heartbeat"
    READING = "reading"  # a temperature (thermal camera) or another measured value
    DOOR = "door"  # state open/closed
    TAMPER = "tamper"


class TelemetryMessage(Base):
    """One accepted device message; ``(device_id, msg_key)`` is unique (duplicates are counted)."""

    __tablename__ = "telemetry_message"
    __table_args__ = (UniqueConstraint("device_id", "msg_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    msg_key: Mapped[str] = mapped_column(String(64))
    type: Mapped[MessageType] = mapped_column(str_enum(MessageType, 12))
    value: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str | None] = mapped_column(String(16))
    device_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(8), default="mqtt")
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))


class TelemetryCounter(Base):
    """Running counts of the ingest outcomes (stored, duplicate, malformed, unknown_device, …)."""

    __tablename__ = "telemetry_counter"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class TelemetryReject(Base):
    """A rejected message with the reason (kept for inspection; the counters have the totals)."""

    __tablename__ = "telemetry_reject"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    device_code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScreeningDay(Base):
    """Daily counts of a screening point (or any facility's thermal cameras)."""

    __tablename__ = "screening_day"
    __table_args__ = (UniqueConstraint("facility_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    readings: Mapped[int] = mapped_column(Integer, default=0)
    fevers: Mapped[int] = mapped_column(Integer, default=0)

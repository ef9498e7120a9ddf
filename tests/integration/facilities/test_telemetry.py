"""Telemetry ingest: idempotent storage, bad input counted and logged, alarms (door during
quarantine, fever with snapshot, tamper), offline/online, screening counts."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

from sqlalchemy import func, select

from tests.integration.facilities.conftest import World
from zhikong.alerts.models import Alert, AlertDelivery, AlertKind
from zhikong.core.time import utcnow
from zhikong.facilities import service, telemetry
from zhikong.facilities.models import (
    Device,
    DeviceStatus,
    ScreeningDay,
    TelemetryMessage,
    TelemetryReject,
)
from zhikong.facilities.telemetry import RawMessage, message_json

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def raw(payload: bytes, topic: str | None = None) -> RawMessage:
    return RawMessage(payload=payload, received_at=utcnow(), topic=topic, channel="http")


def test_duplicates_are_counted_not_stored(world: World) -> None:
    s = world.session
    now = time.time()
    msgs = [raw(message_json("CAM-1", i, "heartbeat", now)) for i in range(5)]
    r1 = telemetry.ingest(s, msgs + msgs[:2])
    s.commit()
    assert r1.stored == 5 and r1.duplicates == 2
    r2 = telemetry.ingest(s, msgs)
    s.commit()
    assert r2.stored == 0 and r2.duplicates == 5
    assert s.scalar(select(func.count()).select_from(TelemetryMessage)) == 5
    c = telemetry.counters(s)
    assert c["stored"] == 5 and c["duplicate"] == 7
    dev = s.scalar(select(Device).where(Device.code == "CAM-1"))
    assert dev is not None and dev.status == DeviceStatus.ONLINE


def test_bad_messages_are_logged_and_counted(world: World) -> None:
    s = world.session
    now = time.time()
    bad = [
        raw(b"{not json"),
        raw(b"[1,2]"),
        raw(message_json("CAM-1", 1, "explode", now)),
        raw(b'{"device":"CAM-1","type":"heartbeat","ts":1}'),  # no msg id
        raw(message_json("NOPE-9", 1, "heartbeat", now)),
        raw(message_json("THERM-1", 1, "reading", now, value=99.5)),
        raw(message_json("THERM-1", 2, "reading", now, value=float("inf"))),
        raw(message_json("THERM-1", 3, "reading", now - 7200, value=36.5)),
        raw(message_json("THERM-1", 4, "reading", now, value="hot")),
        raw(message_json("DOOR-1", 5, "door", now, state="ajar")),
        raw(message_json("CAM-1", 6, "heartbeat", now, snapshot="not-base64!")),
        raw(message_json("CAM-1", 7, "heartbeat", now), topic=telemetry.topic_for("CAM-2")),
    ]
    r = telemetry.ingest(s, bad)
    s.commit()
    assert r.stored == 0
    assert r.counts["malformed"] == 8 and r.counts["unknown_device"] == 1
    # Infinity is accepted by the JSON parser and then refused as an absurd value
    assert r.counts["absurd_value"] == 2 and r.counts["clock_skew"] == 1
    assert sum(r.counts.values()) == len(bad)
    assert s.scalar(select(func.count()).select_from(TelemetryMessage)) == 0
    assert s.scalar(select(func.count()).select_from(TelemetryReject)) == len(bad)
    assert s.scalar(select(func.count()).select_from(Alert)) == 0


def test_door_open_during_quarantine_alarms_once_with_snapshot(world: World) -> None:
    s = world.session
    now = time.time()
    # a door opening with nobody in the room is stored, no alarm
    telemetry.ingest(s, [raw(message_json("DOOR-1", 1, "door", now, state="open"))])
    assert s.scalar(select(func.count()).select_from(Alert)) == 0
    # the camera of the room sends a snapshot; someone is admitted to the room's bed
    telemetry.ingest(
        s, [raw(message_json("CAM-1", 1, "heartbeat", now, snapshot=base64.b64encode(JPEG).decode()))]
    )
    door = s.scalar(select(Device).where(Device.code == "DOOR-1"))
    assert door is not None
    from zhikong.facilities.models import Bed

    bed = s.scalars(select(Bed).where(Bed.room_id == door.room_id)).first()
    assert bed is not None
    service.admit(s, "test", world.persons[0].id, bed_id=bed.id)
    s.commit()
    opened = raw(message_json("DOOR-1", 2, "door", now + 1, state="open"))
    r = telemetry.ingest(s, [opened])
    s.commit()
    assert len(r.alerts) == 1
    alert = s.get(Alert, r.alerts[0])
    assert alert is not None and alert.kind == AlertKind.QUARANTINE_BREACH and alert.snapshot_path
    assert alert.place_id == world.points[0].place_id
    # redelivery: a duplicate, and no second alert delivery
    r2 = telemetry.ingest(s, [opened])
    s.commit()
    assert r2.duplicates == 1 and r2.alerts == []
    assert s.scalar(select(func.count()).select_from(AlertDelivery)) == 1


def test_screening_fever_and_daily_counts(world: World) -> None:
    s = world.session
    now = time.time()
    vals = [36.2, 36.5, 37.8, 36.9, 38.4]
    r = telemetry.ingest(
        s, [raw(message_json("THERM-1", i, "reading", now + i, value=v)) for i, v in enumerate(vals)]
    )
    s.commit()
    assert r.stored == 5 and len(r.alerts) == 2
    alerts = s.scalars(select(Alert)).all()
    assert {a.kind for a in alerts} == {AlertKind.FEVER}
    assert all(a.place_id == world.screening.place_id for a in alerts)
    day = s.scalar(select(ScreeningDay).where(ScreeningDay.facility_id == world.screening.id))
    assert day is not None and (day.readings, day.fevers) == (5, 2)


def test_tamper_offline_and_back_online(world: World) -> None:
    s = world.session
    t0 = time.time()
    r = telemetry.ingest(s, [raw(message_json("CAM-1", "a1", "tamper", t0))])
    s.commit()
    assert len(r.alerts) == 1
    assert s.get(Alert, r.alerts[0]).kind == AlertKind.DEVICE  # type: ignore[union-attr]
    later = utcnow() + timedelta(seconds=600)
    off = telemetry.sweep_offline(s, now=later)
    s.commit()
    assert len(off) == 1
    assert telemetry.sweep_offline(s, now=later) == []  # already offline
    r2 = telemetry.ingest(s, [raw(message_json("CAM-1", "a2", "heartbeat", t0 + 1))])
    s.commit()
    assert len(r2.alerts) == 1  # back online
    dev = s.scalar(select(Device).where(Device.code == "CAM-1"))
    assert dev is not None and dev.status == DeviceStatus.ONLINE

"""Camera registry, alarm storage and forwarding to the alert intake (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from zhikong.alerts.models import Alert, AlertKind
from zhikong.core.config import Settings
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.geo import service as geo
from zhikong.geo.models import AdminUnit, Place
from zhikong.geo.places import demo_places, import_places
from zhikong.video.alarms import Alarm, AlarmKind, draw_snapshot
from zhikong.video.detector import Box
from zhikong.video.models import AlarmStatus, Camera, FindingKind, VideoAlarm
from zhikong.video.schemas import CameraIn
from zhikong.video.service import (
    StoringSink,
    camera_credentials,
    camera_rules,
    create_patrol_plan,
    list_cameras,
    open_alarms,
    patrol_position,
    record_finding,
    register_camera,
)

RULES = {"frame_width": 640, "frame_height": 360,
         "zones": [{"name": "gate", "polygon": [[0, 0], [640, 0], [640, 360], [0, 360], [0, 0]],
                    "crowd": {"min_people": 3, "min_seconds": 10}}]}


@pytest.fixture
def market(session: Session) -> Place:
    geo.load_builtin(session)
    import_places(session, demo_places(geo.builtin_definition("500113")))
    session.commit()
    place = session.scalars(select(Place).where(Place.kind == "market").order_by(Place.code)).first()
    assert place is not None
    return place


def add_camera(session: Session, place: Place, code: str = "cam-1") -> Camera:
    cam = register_camera(session, CameraIn(
        code=code, name="农贸市场东门", stream_url="rtsp://127.0.0.1:8554/market", place_code=place.code,
        username="admin", password="s3cret!", rules=RULES,
    ))
    session.commit()
    return cam


def crowd_alarm(code: str = "cam-1", key: str = "video:cam-1:gate:crowd:1") -> Alarm:
    frame = np.zeros((360, 640, 3), np.uint8)
    boxes = [Box(10, 10, 60, 120, 0.8)] * 3
    return Alarm(code, AlarmKind.CROWD, utcnow(), key, "区域 gate 聚集 3 人", "gate", 3,
                 snapshot_jpeg=draw_snapshot(frame, boxes), boxes=boxes, frame_clock=time.perf_counter())


def test_camera_registry_encrypts_credentials_and_routes_to_place_unit(
    session: Session, market: Place
) -> None:
    cam = add_camera(session, market)
    assert cam.unit_id == market.unit_id and cam.lat == market.lat
    assert cam.password_enc and "s3cret" not in cam.password_enc
    assert camera_credentials(cam) == ("admin", "s3cret!")
    rules = camera_rules(cam)
    assert rules is not None and rules.zones[0].crowd is not None
    unit = session.get(AdminUnit, market.unit_id)
    assert unit is not None
    district = geo.get_district(session, "500113")
    assert [c.code for c in list_cameras(session, unit.code)] == ["cam-1"]
    assert [c.code for c in list_cameras(session, district.code)] == ["cam-1"]
    others = session.scalars(select(AdminUnit).where(AdminUnit.level == "town"))
    other = next(u for u in others if not unit.path.startswith(u.path))
    assert list_cameras(session, other.code) == []


def test_bad_camera_input_is_rejected_with_names(session: Session, market: Place) -> None:
    with pytest.raises(InvalidInput, match="camera cam-x: zone gate polygon"):
        register_camera(session, CameraIn(code="cam-x", name="x", stream_url="rtsp://h/s", rules={
            **RULES, "zones": [{"name": "gate", "polygon": [[0, 0], [10, 0], [10, 10]]}]}))
    with pytest.raises(InvalidInput, match="place nope"):
        register_camera(session, CameraIn(code="cam-x", name="x", stream_url="rtsp://h/s", place_code="nope"))
    with pytest.raises(ValueError, match="credentials"):
        CameraIn(code="c", name="x", stream_url="rtsp://admin:pw@h/s")
    with pytest.raises(ValueError, match="scheme"):
        CameraIn(code="c", name="x", stream_url="ftp://h/s")


def test_storing_sink_stores_once_and_forwards_to_alert_intake(
    session: Session, engine: Engine, market: Place, settings: Settings
) -> None:
    add_camera(session, market)
    sink = StoringSink(engine, settings.data_dir)
    sink.deliver(crowd_alarm())
    sink.deliver(crowd_alarm())  # a retry of the same gathering
    assert sink.errors == [] and len(sink.latencies) == 1
    with unit_of_work(engine) as s:
        rows = list(s.scalars(select(VideoAlarm)))
        assert len(rows) == 1
        row = rows[0]
        assert row.snapshot_path and (settings.data_dir / row.snapshot_path).read_bytes()[:2] == b"\xff\xd8"
        alerts = list(s.scalars(select(Alert)))
        assert len(alerts) == 1 and row.alert_id == alerts[0].id
        assert alerts[0].kind == AlertKind.CROWD and alerts[0].unit_id == market.unit_id
        assert alerts[0].camera_code == "cam-1" and alerts[0].snapshot_path


def test_offline_then_online_closes_the_outage(
    session: Session, engine: Engine, market: Place, settings: Settings
) -> None:
    add_camera(session, market)
    sink = StoringSink(engine, settings.data_dir)
    t = utcnow()
    sink.deliver(Alarm("cam-1", AlarmKind.CAMERA_OFFLINE, t, "video:cam-1:offline:1", "离线"))
    with unit_of_work(engine) as s:
        assert [a.kind for a in open_alarms(s)] == [AlarmKind.CAMERA_OFFLINE]
    back = t + timedelta(seconds=5)
    sink.deliver(Alarm("cam-1", AlarmKind.CAMERA_ONLINE, back, "video:cam-1:online:2", "恢复"))
    with unit_of_work(engine) as s:
        assert open_alarms(s) == []
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.kind == AlertKind.DEVICE)) == 1
        statuses = {a.kind: a.status for a in s.scalars(select(VideoAlarm))}
        assert statuses == {
            AlarmKind.CAMERA_OFFLINE: AlarmStatus.CLOSED, AlarmKind.CAMERA_ONLINE: AlarmStatus.CLOSED
        }


def test_unknown_camera_is_an_error_not_a_crash(engine: Engine, settings: Settings) -> None:
    sink = StoringSink(engine, settings.data_dir)
    sink.deliver(crowd_alarm("ghost", "video:ghost:x"))
    assert sink.errors and "ghost" in sink.errors[0]


def test_patrol_plan_rotation_and_finding_becomes_alert(
    session: Session, market: Place, settings: Settings
) -> None:
    add_camera(session, market, "cam-1")
    add_camera(session, market, "cam-2")
    plan = create_patrol_plan(session, "市场巡查", "patroller1", ["cam-1", "cam-2"], interval_s=20)
    session.commit()
    assert patrol_position(plan, plan.created_at + timedelta(seconds=5)) == ("cam-1", 15)
    assert patrol_position(plan, plan.created_at + timedelta(seconds=25))[0] == "cam-2"
    assert patrol_position(plan, plan.created_at + timedelta(seconds=41))[0] == "cam-1"
    with pytest.raises(InvalidInput, match="interval_s"):
        create_patrol_plan(session, "x", "p", ["cam-1"], interval_s=1)
    snap = draw_snapshot(np.zeros((100, 100, 3), np.uint8), [])
    finding = record_finding(session, "cam-2", FindingKind.NO_MASKS, "patroller1", "收银台 2 人未戴口罩",
                             snap, plan.id, data_dir=settings.data_dir)
    session.commit()
    assert finding.alarm_id is not None and finding.snapshot_path
    alert = session.scalars(select(Alert)).one()
    assert alert.kind == AlertKind.NO_MASK and alert.unit_id == market.unit_id
    assert Path(settings.data_dir / finding.snapshot_path).is_file()

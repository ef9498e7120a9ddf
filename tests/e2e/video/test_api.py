"""The video wall's JSON API: jurisdiction, latest frames, alarms, patrols and findings."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.factories import Tree, make_tree, make_user
from zhikong.alerts.models import Alert, AlertKind
from zhikong.auth.models import Role
from zhikong.auth.service import create_api_token
from zhikong.core.config import Settings
from zhikong.core.db import unit_of_work
from zhikong.core.time import utcnow
from zhikong.video.alarms import Alarm, AlarmKind, draw_snapshot
from zhikong.video.detector import Box
from zhikong.video.schemas import CameraIn
from zhikong.video.service import StoringSink, register_camera
from zhikong.web.app import create_app


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    out = {}
    with unit_of_work(engine) as s:
        tree: Tree = make_tree(s)
        for name, role, unit in [("patroller", Role.VIDEO_PATROLLER, tree.district),
                                 ("village1", Role.VILLAGE_OPERATOR, tree.village11),
                                 ("village3", Role.VILLAGE_OPERATOR, tree.village21)]:
            user = make_user(s, role, unit, name)
            out[name] = create_api_token(s, user, "test")[1]
        register_camera(s, CameraIn(code="cam-m1", name="一村农贸市场", stream_url="rtsp://127.0.0.1/m1",
                                    place_code="P-11"))
    return out


@pytest.fixture
def client(engine: Engine, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_video_wall_api(
    client: TestClient, tokens: dict[str, str], engine: Engine, settings: Settings
) -> None:
    c = client
    assert c.get("/api/video/cameras").status_code == 401
    cams = c.get("/api/video/cameras", headers=h(tokens["patroller"])).json()
    assert [x["code"] for x in cams] == ["cam-m1"] and cams[0]["unit_code"] == "500113001001"
    assert c.get("/api/video/cameras", headers=h(tokens["village3"])).json() == []
    assert c.get("/api/video/cameras?unit=500113002", headers=h(tokens["patroller"])).json() == []
    # latest frame: none yet, then the worker's file; invisible outside the jurisdiction
    r = c.get("/api/video/cameras/cam-m1/latest.jpg", headers=h(tokens["village1"]))
    assert r.status_code == 404 and "no frame yet" in r.json()["message"]
    latest = settings.data_dir / "video" / "latest" / "cam-m1.jpg"
    latest.parent.mkdir(parents=True)
    latest.write_bytes(draw_snapshot(np.zeros((90, 160, 3), np.uint8), []))
    r = c.get("/api/video/cameras/cam-m1/latest.jpg", headers=h(tokens["village1"]))
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert c.get("/api/video/cameras/cam-m1/latest.jpg", headers=h(tokens["village3"])).status_code == 404
    # an alarm from the worker shows as open with its snapshot
    boxes = [Box(1, 1, 20, 40, 0.9)]
    StoringSink(engine, settings.data_dir).deliver(Alarm(
        "cam-m1", AlarmKind.CROWD, utcnow(), "video:cam-m1:z:crowd:1", "聚集 5 人", "z", 5,
        draw_snapshot(np.zeros((90, 160, 3), np.uint8), boxes), boxes, time.perf_counter()))
    alarms = c.get("/api/video/alarms", headers=h(tokens["village1"])).json()
    assert [(a["kind"], a["people"]) for a in alarms] == [("crowd", 5)]
    snap = c.get(alarms[0]["snapshot_url"], headers=h(tokens["village1"]))
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    assert c.get("/api/video/alarms", headers=h(tokens["village3"])).json() == []
    assert c.get(alarms[0]["snapshot_url"], headers=h(tokens["village3"])).status_code == 404
    assert c.get("/api/video/cameras", headers=h(tokens["patroller"])).json()[0]["open_alarms"] == 1
    # a patrol over the camera and a finding that becomes an alert with the latest frame
    r = c.post("/api/video/patrols", json={"name": "市场巡查", "cameras": ["cam-m1"], "interval_s": 30},
               headers=h(tokens["patroller"]))
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["current_camera"] == "cam-m1" and plan["patroller"] == "patroller"
    assert c.get(f"/api/video/patrols/{plan['id']}", headers=h(tokens["patroller"])).status_code == 200
    r = c.post("/api/video/patrols", json={"name": "x", "cameras": ["cam-m1"], "interval_s": 1},
               headers=h(tokens["patroller"]))
    assert r.status_code == 422
    r = c.post("/api/video/findings", json={"camera": "cam-m1", "kind": "no_masks", "note": "2 人未戴口罩",
                                            "plan_id": plan["id"]}, headers=h(tokens["patroller"]))
    assert r.status_code == 201, r.text
    assert r.json()["snapshot_url"]
    r = c.post("/api/video/findings", json={"camera": "cam-m1", "kind": "no_masks"},
               headers=h(tokens["village3"]))
    assert r.status_code == 404
    with unit_of_work(engine) as s:
        kinds = sorted(str(a.kind) for a in s.scalars(select(Alert)))
    assert kinds == sorted([AlertKind.CROWD.value, AlertKind.NO_MASK.value])

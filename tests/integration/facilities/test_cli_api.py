"""The demo step, the CLI and the HTTP API (with an API token) on SQLite."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.integration.facilities.conftest import World
from zhikong.auth.models import Role
from zhikong.auth.service import create_api_token, create_user
from zhikong.cli import app as cli_app
from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.demo import DemoContext
from zhikong.facilities import demo, service
from zhikong.facilities.followup import slot_of
from zhikong.facilities.mapdata import device_features
from zhikong.facilities.models import Device, Facility, Followup, FollowupState
from zhikong.facilities.policy import builtin_policy
from zhikong.facilities.telemetry import message_json
from zhikong.web.app import create_app

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_demo_step_furnishes_points_idempotently(world: World) -> None:
    ctx = DemoContext(console=Console(record=True, width=200), seed=3)
    demo.step(ctx)
    s = world.session
    s.expire_all()
    n_dev = s.scalar(select(func.count()).select_from(Device))
    assert n_dev is not None and n_dev >= 200
    rows = service.capacity(s)
    assert len(rows) == 15 and all(r.usable >= 4 for r in rows)
    assert sum(r.occupied for r in rows) == 6  # the fixture's six persons: 6 admitted (n=12 > 6)
    demo.step(ctx)  # rerun: nothing new
    s.expire_all()
    assert s.scalar(select(func.count()).select_from(Device)) == n_dev
    assert "isolation points 15" in ctx.console.export_text()


def test_cli_admit_list_free_bed_release(world: World) -> None:
    r = CliRunner()
    p = world.persons[0]
    fac = str(world.points[0].id)
    res = r.invoke(cli_app, ["facilities", "admit", "--person", str(p.id), "--facility", fac])
    assert res.exit_code == 0, res.output
    assert "tests D1" in res.output and "D7" in res.output
    res = r.invoke(cli_app, ["facilities", "list"])
    assert res.exit_code == 0 and "合计" in res.output
    res = r.invoke(cli_app, ["facilities", "free-bed", "--near", "500113001001"])
    assert res.exit_code == 0, res.output
    s = world.session
    s.expire_all()
    fu = s.scalar(select(Followup).where(Followup.person_id == p.id))
    assert fu is not None
    res = r.invoke(cli_app, ["facilities", "release", str(fu.id), "--at", "2001-01-01T00:00:00"])
    assert isinstance(res.exception, InvalidInput) and "before admission" in str(res.exception)
    res = r.invoke(cli_app, ["facilities", "release", str(fu.id)])
    assert res.exit_code == 0, res.output
    assert "monitoring" in res.output and "village task" in res.output


def test_http_api(world: World) -> None:
    s = world.session
    staff = create_user(
        s,
        username="iso1",
        password="password-123",
        role=Role.ISOLATION_STAFF,
        unit_id=world.points[0].unit_id,
    )
    boss = create_user(
        s,
        username="cmd",
        password="password-123",
        role=Role.DISTRICT_COMMAND,
        unit_id=world.points[0].unit_id,
    )
    _, staff_tok = create_api_token(s, staff, "t")
    _, boss_tok = create_api_token(s, boss, "t")
    s.commit()
    client = TestClient(create_app())
    h = {"Authorization": f"Bearer {staff_tok}"}
    # staff of point 0 admit to point 0, not to point 1 (another village)
    bad = client.post(
        "/api/facilities/admit",
        headers=h,
        json={"person_id": world.persons[0].id, "facility_id": world.points[1].id},
    )
    assert bad.status_code == 403, bad.text
    ok = client.post(
        "/api/facilities/admit",
        headers=h,
        json={
            "person_id": world.persons[0].id,
            "facility_id": world.points[0].id,
            "at": (utcnow() - timedelta(hours=1)).isoformat(),
        },
    )
    assert ok.status_code == 201, ok.text
    fid = ok.json()["followup"]["id"]
    # implausible times and ids out of range are refused before they reach the database
    old = client.post(
        "/api/facilities/admit",
        headers=h,
        json={
            "person_id": world.persons[1].id,
            "facility_id": world.points[0].id,
            "at": "0001-01-01T00:00:00+08:00",
        },
    )
    assert old.status_code == 422
    assert client.get(f"/api/facilities/followups/{2**63}", headers=h).status_code == 422
    again = client.post(
        "/api/facilities/admit",
        headers=h,
        json={"person_id": world.persons[1].id, "bed_id": ok.json()["bed_id"]},
    )
    assert again.status_code == 409
    other_slot = "pm" if slot_of(utcnow(), builtin_policy()) == "am" else "am"
    chk = client.post(
        f"/api/facilities/followups/{fid}/checks",
        headers=h,
        json={"temperature": 38.1, "symptoms": ["cough"], "slot": other_slot},
    )
    assert chk.status_code == 201 and chk.json()["abnormal"] and chk.json()["alert_id"]
    # the person's own link: no login needed
    link = client.get(f"/api/facilities/followups/{fid}/link", headers=h).json()
    self_rep = client.post(link["api_path"], json={"temperature": 36.4})
    assert self_rep.status_code == 201, self_rep.text
    assert self_rep.json()["slot"] != other_slot
    forged = client.post("/api/facilities/self-report/forged-token", json={"temperature": 36.4})
    assert forged.status_code == 403
    # HTTP telemetry: one good, one duplicate, one malformed
    now = time.time()
    msg = message_json("DOOR-1", 9, "door", now, state="open")
    tel = client.post(
        "/api/facilities/telemetry", headers=h, content=b"[" + msg + b"," + msg + b',{"device":"DOOR-1"}]'
    )
    assert tel.status_code == 200, tel.text
    body = tel.json()
    assert body["counts"] == {"stored": 1, "duplicate": 1, "malformed": 1}
    # the map: the district sees all points, the staff only theirs
    m_boss = client.get("/api/facilities/map", headers={"Authorization": f"Bearer {boss_tok}"}).json()
    m_staff = client.get("/api/facilities/map", headers=h).json()
    assert m_boss["type"] == "FeatureCollection"
    assert len(m_boss["features"]) == 4 and len(m_staff["features"]) < 4
    mine = next(f for f in m_staff["features"] if f["properties"]["facility_id"] == world.points[0].id)
    assert mine["properties"]["occupied"] == 1 and mine["properties"]["open_alarms"] >= 2
    assert mine["properties"]["devices_online"] >= 1
    # release through the API
    rel = client.post(f"/api/facilities/followups/{fid}/release", headers=h, json={})
    assert rel.status_code == 200 and rel.json()["task_id"]
    s.expire_all()
    assert s.get(Followup, fid).state == FollowupState.RELEASED  # type: ignore[union-attr]
    assert s.get(Facility, world.points[0].id) is not None
    devs = {f["properties"]["code"]: f["properties"] for f in device_features(s)}
    assert set(devs) == {"DOOR-1", "CAM-1", "THERM-1", "THERM-2"} and devs["DOOR-1"]["status"] == "online"

"""``/api/meetings`` end to end: schedule by tier, invitees see it and confirm, others do not,
minutes and decisions by the district, each decision one task per unit linked to the meeting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.factories import Tree, api_login, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.tasks.models import Task, TaskKind
from zhikong.web.app import create_app


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        for role, unit in [(Role.DISTRICT_COMMAND, tree.district), (Role.TOWN_OPERATOR, tree.town1),
                           (Role.VILLAGE_OPERATOR, tree.village11), (Role.VILLAGE_OPERATOR, tree.village21)]:
            make_user(s, role, unit)
    return tree


@pytest.fixture
def client(engine: Engine, tree: Tree) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def login(c: TestClient, username: str) -> dict[str, str]:
    return {"X-CSRF-Token": api_login(c, username)}


def test_meeting_api_flow(client: TestClient, tree: Tree, engine: Engine) -> None:
    c = client
    h = login(c, "district_command-500113")
    body = {"title": "全区疫情防控视频调度会", "starts_at": "2026-11-28T09:00:00+08:00",
            "agenda": "一、通报疫情", "unit_ids": [tree.town1.id, tree.village11.id]}
    r = c.post("/api/meetings", json=body, headers=h)
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["invited"] == 2 and m["confirmed"] == 0
    assert m["video_url"].startswith("https://meet.jit.si/zhikong-")
    assert {a["unit_id"] for a in m["attendees"]} == {tree.town1.id, tree.village11.id}
    # bad input: no units, unknown tier, unknown unit
    for bad, field in [({**body, "unit_ids": []}, "unit_ids"), ({**body, "tiers": ["planet"]}, "tiers"),
                       ({**body, "unit_ids": [999999]}, "unit_ids")]:
        r = c.post("/api/meetings", json=bad, headers=h)
        assert r.status_code in (403, 422), r.text
        assert r.json().get("field") == field, r.text
    c.post("/api/auth/logout", headers=h)

    # the invited village sees it and confirms; the other village does not see it at all
    h = login(c, "village_operator-500113001001")
    assert [x["id"] for x in c.get("/api/meetings").json()] == [m["id"]]
    r = c.post(f"/api/meetings/{m['id']}/confirm", json={"unit_id": tree.village11.id}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["confirmed"] == 1
    # a village cannot keep the minutes
    r = c.put(f"/api/meetings/{m['id']}/minutes", json={"minutes": "x"}, headers=h)
    assert r.status_code == 403
    c.post("/api/auth/logout", headers=h)
    h = login(c, "village_operator-500113002001")
    assert c.get("/api/meetings").json() == []
    assert c.get(f"/api/meetings/{m['id']}").status_code == 404
    c.post("/api/auth/logout", headers=h)

    # minutes and a decision → one task per named unit, linked back
    h = login(c, "district_command-500113")
    r = c.put(f"/api/meetings/{m['id']}/minutes", json={"minutes": "会议纪要：落实落细落地"}, headers=h)
    assert r.status_code == 200 and r.json()["minutes"].startswith("会议纪要")
    r = c.post(f"/api/meetings/{m['id']}/decisions",
               json={"text": "加强返乡人员排查", "unit_ids": [tree.town1.id, tree.village11.id]}, headers=h)
    assert r.status_code == 201, r.text
    decision = r.json()["decisions"][0]
    assert len(decision["task_ids"]) == 2
    r = c.post(f"/api/meetings/{m['id']}/decisions",
               json={"text": "加强返乡人员排查", "unit_ids": [tree.town1.id]}, headers=h)
    assert r.status_code == 409
    with unit_of_work(engine) as s:
        tasks = list(s.scalars(select(Task).where(Task.id.in_(decision["task_ids"]))))
        assert {t.unit_id for t in tasks} == {tree.town1.id, tree.village11.id}
        assert all(t.kind == TaskKind.MEETING_DECISION and t.batch_id == decision["batch_id"] for t in tasks)
        assert all(f"会议编号 {m['id']}" in (t.description or "") for t in tasks)

"""The REST API end to end on SQLite and PostgreSQL: login, CSRF, tasks, alerts, errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.factories import PASSWORD, Tree, api_login, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.web.app import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        for role, unit in [(Role.DISTRICT_COMMAND, tree.district), (Role.SUPERVISION, tree.district),
                           (Role.TOWN_OPERATOR, tree.town1), (Role.VILLAGE_OPERATOR, tree.village11),
                           (Role.VILLAGE_OPERATOR, tree.village21), (Role.VIDEO_PATROLLER, tree.district),
                           (Role.SYSTEM_ADMIN, tree.district)]:
            make_user(s, role, unit)
    return tree


@pytest.fixture
def client(engine: Engine, tree: Tree) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


login = api_login


def test_login_csrf_and_task_loop(client: TestClient, tree: Tree) -> None:
    c = client
    assert c.get("/api/tasks").status_code == 401
    csrf = login(c, "district_command-500113")
    # cookie-authenticated write without the CSRF token is refused
    body = {"kind": "registration", "title": "排查返乡人员", "unit_id": tree.village11.id, "priority": "high"}
    r = c.post("/api/tasks", json=body)
    assert r.status_code == 403 and r.json()["field"] == "csrf_token"
    r = c.post("/api/tasks", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["state"] == "assigned" and task["version"] == 1
    c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    assert c.get("/api/tasks").status_code == 401

    csrf = login(c, "village_operator-500113001001")
    h = {"X-CSRF-Token": csrf}
    r = c.post(f"/api/tasks/{task['id']}/actions/sign_for", json={"version": 1}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "signed_for"
    # stale version → 409
    r = c.post(f"/api/tasks/{task['id']}/actions/start", json={"version": 1}, headers=h)
    assert r.status_code == 409 and r.json()["field"] == "version"
    r = c.post(f"/api/tasks/{task['id']}/actions/start", json={"version": 2}, headers=h)
    assert r.status_code == 200
    r = c.post(f"/api/tasks/{task['id']}/attachments", files={"file": ("a.png", PNG, "image/png")}, headers=h)
    assert r.status_code == 201, r.text
    r = c.post(f"/api/tasks/{task['id']}/attachments", files={"file": ("a.png", b"GIF89a....", "image/png")},
               headers=h)
    assert r.status_code == 422 and r.json()["field"] == "file"
    r = c.post(f"/api/tasks/{task['id']}/actions/submit", json={"version": 3, "feedback": "已核查 3 人"},
               headers=h)
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    # the village cannot accept its own work
    r = c.post(f"/api/tasks/{task['id']}/actions/accept", json={"version": 4}, headers=h)
    assert r.status_code == 403

    csrf = login(c, "town_operator-500113001")
    r = c.post(f"/api/tasks/{task['id']}/actions/accept", json={"version": 4},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["state"] == "accepted"
    assert [e["action"] for e in detail["events"]] == ["create", "assign", "sign_for", "start", "submit",
                                                       "accept"]
    assert len(detail["attachments"]) == 1


def test_errors_are_clear_json(client: TestClient, tree: Tree) -> None:
    c = client
    token_resp = None
    csrf = login(c, "district_command-500113")
    h = {"X-CSRF-Token": csrf}
    r = c.post("/api/tasks", content=b"{not json", headers={**h, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = c.post("/api/tasks", json={"kind": "other", "title": "x", "unit_id": 99999}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "unit_id"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = c.post("/api/tasks", json={"kind": "other", "title": "x", "unit_id": tree.town1.id, "deadline": past},
               headers=h)
    assert r.status_code == 422 and r.json()["field"] == "deadline"
    r = c.post("/api/tasks", json={"kind": "nonsense", "title": "x", "unit_id": tree.town1.id}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = c.get("/api/tasks/424242")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    # an API token works without CSRF
    token_resp = c.post("/api/auth/tokens", json={"name": "camera"}, headers=h).json()
    c.cookies.clear()
    bearer = {"Authorization": f"Bearer {token_resp['token']}"}
    alert = {"kind": "crowd", "occurred_at": datetime.now(UTC).isoformat(), "place_id": tree.place11.id,
             "snapshot_base64": base64.b64encode(b"not an image").decode()}
    r = c.post("/api/alerts", json=alert, headers={**bearer, "Idempotency-Key": "k1"})
    assert r.status_code == 422 and r.json()["field"] == "snapshot_base64"
    alert["snapshot_base64"] = base64.b64encode(PNG).decode()
    r = c.post("/api/alerts", json=alert, headers={**bearer, "Idempotency-Key": "k1"})
    assert r.status_code == 201 and r.json()["outcome"] == "created"
    r2 = c.post("/api/alerts", json=alert, headers={**bearer, "Idempotency-Key": "k1"})
    assert r2.status_code == 200 and r2.json()["outcome"] == "replayed"
    assert r2.json()["alert"]["id"] == r.json()["alert"]["id"]
    alert["severity"] = "critical"
    r3 = c.post("/api/alerts", json=alert, headers={**bearer, "Idempotency-Key": "k1"})
    assert r3.status_code == 409 and r3.json()["field"] == "idempotency_key"


def test_lockout(client: TestClient, tree: Tree) -> None:
    c = client
    for _ in range(5):
        r = c.post("/api/auth/login", json={"username": "supervision-500113", "password": "wrong-password"})
        assert r.status_code == 401
    r = c.post("/api/auth/login", json={"username": "supervision-500113", "password": PASSWORD})
    assert r.status_code == 401 and "lock" in r.json()["message"]


def test_bulk_reassign_escalate_push(client: TestClient, tree: Tree, engine: Engine) -> None:
    from sqlalchemy import update

    from zhikong.core.time import utcnow
    from zhikong.tasks.models import Task
    from zhikong.tasks.worker import run_once

    c = client
    h = {"X-CSRF-Token": login(c, "town_operator-500113001")}
    # a town may only instruct its own villages: all or nothing
    r = c.post("/api/tasks/bulk", json={"kind": "meeting_decision", "title": "落实调度会决定",
                                        "unit_ids": [tree.village11.id, tree.village21.id]}, headers=h)
    assert r.status_code == 403 and r.json()["field"] == "unit_id"
    assert c.get("/api/tasks").json()["total"] == 0
    r = c.post("/api/tasks/bulk", json={"kind": "meeting_decision", "title": "落实调度会决定",
                                        "unit_ids": [tree.village11.id, tree.village12.id]}, headers=h)
    assert r.status_code == 201 and len(r.json()) == 2
    t = r.json()[0]
    assert r.json()[0]["batch_id"] == r.json()[1]["batch_id"]
    # reassign down → across keeps the history
    r = c.post(f"/api/tasks/{t['id']}/actions/reassign", json={"version": 1, "unit_id": tree.village12.id},
               headers=h)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = c.post(f"/api/tasks/{t['id']}/actions/reassign",
               json={"version": 1, "unit_id": tree.village12.id, "reason": "属地调整"}, headers=h)
    assert r.status_code == 200
    ev = r.json()["events"][-1]
    assert (ev["action"], ev["from_unit_id"], ev["to_unit_id"], ev["reason"]) == (
        "reassign", tree.village11.id, tree.village12.id, "属地调整")
    r = c.post(f"/api/tasks/{t['id']}/actions/reassign",
               json={"version": 2, "unit_id": tree.village21.id, "reason": "x"}, headers=h)
    assert r.status_code == 403  # outside the town
    # overdue → the worker escalates → supervision pushes with a new deadline
    with unit_of_work(engine) as s:
        s.execute(update(Task).where(Task.id == t["id"]).values(deadline_at=utcnow() - timedelta(minutes=1)))
    assert run_once(engine).escalated == [t["id"]]
    assert run_once(engine).escalated == []
    h = {"X-CSRF-Token": login(c, "supervision-500113")}
    r = c.get("/api/tasks", params={"state": "escalated"})
    assert r.json()["total"] == 1
    task = c.get(f"/api/tasks/{t['id']}").json()
    assert set(task["allowed_actions"]) == {"push", "reassign", "close"}
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = c.post(f"/api/tasks/{t['id']}/actions/push",
               json={"version": task["version"], "reason": "请立即办理", "deadline": past}, headers=h)
    assert r.status_code == 422 and r.json()["field"] == "deadline"
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    r = c.post(f"/api/tasks/{t['id']}/actions/push",
               json={"version": task["version"], "reason": "请立即办理", "deadline": soon}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "escalated"
    r = c.post(f"/api/tasks/{t['id']}/actions/sign_for", json={"version": r.json()["version"]}, headers=h)
    assert r.status_code == 403  # the supervision group supervises; it does not handle tasks

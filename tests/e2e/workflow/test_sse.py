"""Live alert delivery over server-sent events, filtered by jurisdiction."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.factories import PASSWORD, Tree, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.web.app import create_app


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        t = make_tree(s)
        make_user(s, Role.VILLAGE_OPERATOR, t.village11, "v11")
        make_user(s, Role.TOWN_OPERATOR, t.town2, "t2")
        make_user(s, Role.VIDEO_PATROLLER, t.district, "cam")
    return t


@pytest.fixture
def app(engine: Engine, tree: Tree) -> FastAPI:
    return create_app()


def _client(app: FastAPI, username: str) -> TestClient:
    c = TestClient(app, base_url="https://testserver")
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def _events(c: TestClient, url: str) -> Iterator[dict[str, object]]:
    with c.stream("GET", url) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


def _post_alert(c: TestClient, key: str, unit_id: int) -> int:
    body = {"kind": "crowd", "occurred_at": datetime.now(UTC).isoformat(), "unit_id": unit_id,
            "title": key}
    r = c.post("/api/alerts", json=body, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    return int(r.json()["alert"]["id"])


def test_backlog_is_filtered_by_jurisdiction(app: FastAPI, tree: Tree) -> None:
    cam = _client(app, "cam")
    a11 = _post_alert(cam, "in-v11", tree.village11.id)
    _post_alert(cam, "in-v21", tree.village21.id)
    a12 = _post_alert(cam, "in-v12", tree.village12.id)
    v11 = _client(app, "v11")
    got = [e["id"] for e in _events(v11, "/api/alerts/stream?after_id=0&timeout=1")]
    assert got == [a11]
    t2 = _client(app, "t2")
    got2 = [e["title"] for e in _events(t2, "/api/alerts/stream?after_id=0&timeout=1")]
    assert got2 == ["in-v21"]
    everyone = [e["id"] for e in _events(cam, "/api/alerts/stream?after_id=0&max_events=3")]
    assert a11 in everyone and a12 in everyone and len(everyone) == 3


def test_live_delivery(app: FastAPI, tree: Tree) -> None:
    v11 = _client(app, "v11")
    cam = _client(app, "cam")
    received: list[dict[str, object]] = []

    def listen() -> None:
        received.extend(_events(v11, "/api/alerts/stream?max_events=1&timeout=20"))

    th = threading.Thread(target=listen)
    th.start()
    time.sleep(1.0)
    _post_alert(cam, "other-town", tree.village21.id)  # not for v11
    aid = _post_alert(cam, "live", tree.village11.id)
    th.join(30)
    assert not th.is_alive()
    assert [e["id"] for e in received] == [aid]

"""The per-process principal cache: hits skip the credential query, any change invalidates at once.

Also: the task list and edit endpoints (one worker-thread hand-off, rows instead of ORM objects)
answer exactly what the ORM + pydantic rendering gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, update

from tests.factories import Tree, api_login, make_tree, make_user
from zhikong.auth import principal
from zhikong.auth import service as auth_service
from zhikong.auth.models import ApiToken, Role, User
from zhikong.core.db import get_engine, unit_of_work
from zhikong.tasks import service as task_service
from zhikong.tasks.models import Priority, Task, TaskKind
from zhikong.tasks.schemas import TaskOut
from zhikong.web.app import create_app


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        make_user(s, Role.DISTRICT_COMMAND, tree.district)
        make_user(s, Role.VILLAGE_OPERATOR, tree.village11)
    return tree


@pytest.fixture
def client(engine: Engine, tree: Tree) -> Iterator[TestClient]:
    principal.invalidate()
    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def _token(username: str) -> tuple[int, str]:
    with unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        row, plain = auth_service.create_api_token(s, user, "cache test")
        return row.id, plain


class _Statements:
    """Counts the SQL statements (of any engine: the app has its own) that read credentials."""

    def __init__(self) -> None:
        self.credential_reads = 0

    def __enter__(self) -> _Statements:
        event.listen(Engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_token" in statement or "FROM login_session" in statement:
            self.credential_reads += 1


def test_token_cached_then_revocation_is_seen_at_once(client: TestClient) -> None:
    token_id, token = _token("district_command-500113")
    h = {"Authorization": f"Bearer {token}"}
    with _Statements() as st:
        assert client.get("/api/tasks", headers=h).status_code == 200
        assert st.credential_reads == 1
        for _ in range(3):
            assert client.get("/api/tasks", headers=h).status_code == 200
        assert st.credential_reads == 1  # cache hits: no token query
    with unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == "district_command-500113")).one()
        auth_service.revoke_api_token(s, user, token_id)
    r = client.get("/api/tasks", headers=h)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"


def test_cookie_session_cached_then_logout_is_seen_at_once(client: TestClient) -> None:
    csrf = api_login(client, "village_operator-500113001001")
    with _Statements() as st:
        for _ in range(3):
            assert client.get("/api/tasks").status_code == 200
        assert st.credential_reads == 1
    # a cached cookie principal still needs the CSRF token for writes
    r = client.post("/api/tasks", json={"kind": "registration", "title": "x", "unit_id": 1})
    assert r.status_code == 403 and r.json()["field"] == "csrf_token"
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code in (200, 204)
    assert client.get("/api/tasks").status_code == 401


def test_change_by_another_process_voids_entries(client: TestClient) -> None:
    _, token = _token("district_command-500113")
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/tasks", headers=h).status_code == 200
    assert principal.size() == 1
    # another process commits a change: it replaces the epoch file (our generation is untouched)
    path = principal._epoch_path()
    tmp = path.with_name("other-process")
    tmp.write_text("elsewhere")
    os.replace(tmp, path)
    with _Statements() as st:
        assert client.get("/api/tasks", headers=h).status_code == 200
        assert st.credential_reads == 1


def _past_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's clock moved just past the cache entries' TTL."""
    clock = principal.time.monotonic() + principal.ttl_seconds() + 0.1
    monkeypatch.setattr(principal.time, "monotonic", lambda: clock)


def test_change_outside_zhikong_is_seen_after_the_ttl(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = _token("district_command-500113")
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/tasks", headers=h).status_code == 200
    with get_engine().begin() as conn:  # SQL by hand: no session hook sees it
        conn.execute(update(User).where(User.username == "district_command-500113").values(active=False))
    assert client.get("/api/tasks", headers=h).status_code == 200  # still cached
    _past_the_ttl(monkeypatch)
    assert client.get("/api/tasks", headers=h).status_code == 401
    # the refresh found the user disabled: the expired entry is not served to anyone after it
    assert client.get("/api/tasks", headers=h).status_code == 401
    assert principal.size() == 0


def test_expired_entry_is_refreshed_by_one_request(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = _token("district_command-500113")
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/tasks", headers=h).status_code == 200
    _past_the_ttl(monkeypatch)
    with _Statements() as st:
        for _ in range(3):
            assert client.get("/api/tasks", headers=h).status_code == 200
        assert st.credential_reads == 1  # the first request refreshed; the others hit the new entry


def test_cache_off(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(principal, "ttl_seconds", lambda: 0.0)
    _, token = _token("district_command-500113")
    h = {"Authorization": f"Bearer {token}"}
    with _Statements() as st:
        for _ in range(3):
            assert client.get("/api/tasks", headers=h).status_code == 200
        assert st.credential_reads == 3
    assert principal.size() == 0


def test_token_use_is_still_recorded(client: TestClient) -> None:
    token_id, token = _token("district_command-500113")
    assert client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with unit_of_work() as s:
        assert s.get(ApiToken, token_id).last_used_at is not None  # type: ignore[union-attr]


def test_list_and_edit_bodies_match_the_orm_rendering(client: TestClient, tree: Tree) -> None:
    with unit_of_work() as s:
        actor = s.scalars(select(User).where(User.username == "district_command-500113")).one()
        for i in range(7):
            task_service.create_task(
                s,
                kind=TaskKind.REGISTRATION,
                unit_id=(tree.village11.id if i % 2 else tree.town2.id),
                title=f"排查 {i}",
                description="说明",
                priority=Priority.HIGH,
                source="test",
                actor=actor,
            )
    _, token = _token("village_operator-500113001001")
    h = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/tasks", params={"limit": 2, "offset": 1}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    with unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == "village_operator-500113001001")).one()
        items, total = task_service.list_tasks(s, user, task_service.TaskFilter(limit=2, offset=1))
        rendered = [TaskOut.model_validate(t).model_dump(mode="json") for t in items]
        expected = {"total": total, "items": rendered}
    assert r.json() == expected and total == 3  # the village sees its 3 tasks only
    # a page past the end still reports the total
    r = client.get("/api/tasks", params={"offset": 50}, headers=h)
    assert r.json() == {"total": 3, "items": []}
    # edit: the version check and the body
    _, boss = _token("district_command-500113")
    hb = {"Authorization": f"Bearer {boss}"}
    tid = expected["items"][0]["id"]
    r = client.patch(f"/api/tasks/{tid}", json={"version": 1, "description": "新说明"}, headers=hb)
    assert r.status_code == 200, r.text
    with unit_of_work() as s:
        task = s.get(Task, tid)
        assert r.json() == TaskOut.model_validate(task).model_dump(mode="json")
    assert r.json()["version"] == 2
    r = client.patch(f"/api/tasks/{tid}", json={"version": 1, "description": "过时"}, headers=hb)
    assert r.status_code == 409 and r.json()["field"] == "version"
    # authentication comes before parameter validation, as with the other endpoints
    assert client.get("/api/tasks", params={"limit": 0}).status_code == 401
    assert client.patch(f"/api/tasks/{tid}", json={"version": 0}).status_code == 401

"""The app factory: router discovery, one-line route docs, and the error mapping."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from zhikong.core.config import Settings
from zhikong.core.errors import (
    ConfigError,
    Conflict,
    EngineError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ZhikongError,
)
from zhikong.web.app import create_app, discover_routers


def test_routers_discovered(settings: Settings) -> None:
    prefixes = {r.prefix for r in discover_routers()}
    assert {"/api/auth", "/api/tasks", "/api/alerts"} <= prefixes


def test_routes_have_one_line_docs(settings: Settings) -> None:
    app = create_app()
    schema = app.openapi()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            doc = op.get("description", "")
            assert op.get("summary") and "\n" not in doc.strip(), (method, path)


@pytest.mark.parametrize(("exc", "status"), [
    (InvalidInput("bad", field="x"), 422), (NotFound("no"), 404), (PermissionDenied("no"), 403),
    (Unauthenticated("who"), 401), (Conflict("late", field="version"), 409), (EngineError("db"), 503),
    (ConfigError("cfg"), 500),
])
def test_error_mapping(settings: Settings, exc: ZhikongError, status: int) -> None:
    app = create_app()
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise exc

    app.include_router(router)
    r = TestClient(app).get("/boom")
    assert r.status_code == status
    body = r.json()
    assert body["error"] == exc.code and body["message"] == exc.message and body["field"] == exc.field


def test_unexpected_error_is_500_without_internals(settings: Settings) -> None:
    app = create_app()

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret internals")

    r = TestClient(app, raise_server_exceptions=False).get("/crash")
    assert r.status_code == 500 and "secret" not in r.text and r.json()["error"] == "internal_error"

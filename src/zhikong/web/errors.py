"""The one place where errors become HTTP responses.

Every ``ZhikongError`` becomes ``{"error": code, "message": text, "field": name}`` with the status
of its class (``InvalidInput`` 422, ``Unauthenticated`` 401, ``PermissionDenied`` 403, ``NotFound``
404, ``Conflict`` 409 …). Request validation errors, malformed JSON and stale writes are mapped to
the same shape; an unexpected exception is a 500 without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhikong.core.errors import Conflict, ZhikongError

log = logging.getLogger("zhikong.web")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media",
    422: "invalid_input",
    429: "too_many_requests",
}


def error_body(error: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "message": message, "field": field}
    body.update(extra)
    return body


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or (str(loc[0]) if loc else None)


async def _zhikong_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ZhikongError)
    body = exc.to_dict()
    body.setdefault("field", None)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if exc.http_status >= 500:
        log.error("%s: %s", type(exc).__name__, exc.message)
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return JSONResponse(
            error_body(
                "malformed_json",
                f"the request body is not valid JSON: {ctx.get('error', 'syntax error')}",
                "body",
            ),
            status_code=400,
        )
    field = _loc_to_field(first.get("loc", ()))
    msg = "; ".join(f"{_loc_to_field(e.get('loc', ())) or 'request'}: {e.get('msg')}" for e in errors[:5])
    details = [{"field": _loc_to_field(e.get("loc", ())), "reason": str(e.get("msg"))} for e in errors[:50]]
    return JSONResponse(error_body("invalid_input", msg, field, errors=details), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _stale(request: Request, exc: Exception) -> JSONResponse:
    return await _zhikong_error(
        request, Conflict("the record was changed by someone else; reload and retry", field="version")
    )


async def _db_busy(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body("engine_error", "the database is busy; retry shortly / 数据库繁忙"),
                        status_code=503, headers={"Retry-After": "1"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "internal server error / 服务器内部错误"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ZhikongError, _zhikong_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(PoolTimeout, _db_busy)
    app.add_exception_handler(Exception, _unexpected)

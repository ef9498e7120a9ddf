"""FastAPI dependencies as ``Annotated`` aliases: ``SessionDep``, ``CurrentUser``, ``OptionalUser``.

* ``SessionDep``: one unit of work per request, committed when the endpoint returns (before the
  response is sent: an integrity error or stale write is still reported to the client).
* ``CurrentUser``: the user of a bearer API token (``Authorization: Bearer zk_…``) or of the login
  cookie (cached per process for a few seconds, invalidated on any change: ``zhikong.auth.principal``).
  Cookie-authenticated writes (POST/PUT/PATCH/DELETE) must carry the session's CSRF token in
  the ``X-CSRF-Token`` header or a ``csrf_token`` form field; token clients need none.
  ``request.state.user`` and ``request.state.csrf_token`` are set for templates.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, Response
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from zhikong.auth import service as auth_service
from zhikong.auth.models import Role, User
from zhikong.core.config import get_settings
from zhikong.core.db import get_engine, unit_of_work
from zhikong.core.errors import PermissionDenied, Unauthenticated

#: a database id in a body field or path: a positive 32-bit integer (larger values are a 422, not a 5xx)
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
#: a version number for optimistic concurrency
Version = Annotated[int, Field(ge=1, le=2_147_483_647)]

SESSION_COOKIE = "zhikong_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    return engine if isinstance(engine, Engine) else get_engine()


def get_session(request: Request) -> Iterator[Session]:
    with unit_of_work(request_engine(request)) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def _csrf_from_request(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token or request.method not in UNSAFE_METHODS:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _resolve_user(request: Request, session: Session, csrf: str | None) -> User:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        user = auth_service.principal_for_api_token(session, auth[7:].strip())
        request.state.auth_method = "token"
        request.state.csrf_token = None
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("not logged in / 请先登录")
        user, csrf_token = auth_service.principal_for_login(session, cookie)
        if request.method in UNSAFE_METHODS and not (
            csrf and hmac.compare_digest(csrf.encode(), csrf_token.encode())
        ):
            raise PermissionDenied("missing or wrong CSRF token / CSRF 校验失败", field=CSRF_FIELD)
        request.state.auth_method = "cookie"
        request.state.csrf_token = csrf_token
    request.state.user = user
    return user


def current_user(
    request: Request, session: SessionDep, csrf: Annotated[str | None, Depends(_csrf_from_request)]
) -> User:
    return _resolve_user(request, session, csrf)


def optional_user(
    request: Request, session: SessionDep, csrf: Annotated[str | None, Depends(_csrf_from_request)]
) -> User | None:
    try:
        return _resolve_user(request, session, csrf)
    except Unauthenticated:
        request.state.user = None
        return None


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that admits only ``roles``: ``Depends(require_roles(Role.SYSTEM_ADMIN))``."""

    def dep(user: CurrentUser) -> User:
        if user.role not in roles:
            raise PermissionDenied(f"role {user.role.value} may not use this endpoint")
        return user

    return dep


def set_session_cookie(response: Response, token: str, max_age_seconds: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_seconds,
        httponly=True,
        secure=get_settings().cookie_secure,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=get_settings().cookie_secure, httponly=True, samesite="lax"
    )

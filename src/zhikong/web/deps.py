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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request, Response
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from zhikong.auth import service as auth_service
from zhikong.auth.models import Role, User
from zhikong.core.config import get_settings
from zhikong.core.db import committing, get_engine, session_factory, unit_of_work
from zhikong.core.errors import PermissionDenied, Unauthenticated

T = TypeVar("T")

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


def _resolve_user(
    request: Request, session: Session, csrf: str | None, cached_only: bool = False
) -> User | None:
    """The request's user; with ``cached_only`` None when finding it would need the database."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        token = auth[7:].strip()
        if cached_only:
            hit = auth_service.cached_principal(session, "token", token)
            if hit is None:
                return None
            user = hit[0]
        else:
            user = auth_service.principal_for_api_token(session, token)
        request.state.auth_method = "token"
        request.state.csrf_token = None
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("not logged in / 请先登录")
        if cached_only:
            found = auth_service.cached_principal(session, "cookie", cookie)
            if found is None or found[1] is None:
                return None
            user, csrf_token = found[0], found[1]
        else:
            user, csrf_token = auth_service.principal_for_login(session, cookie)
        if request.method in UNSAFE_METHODS and not (
            csrf and hmac.compare_digest(csrf.encode(), csrf_token.encode())
        ):
            raise PermissionDenied("missing or wrong CSRF token / CSRF 校验失败", field=CSRF_FIELD)
        request.state.auth_method = "cookie"
        request.state.csrf_token = csrf_token
    request.state.user = user
    return user


def _user(request: Request, session: Session, csrf: str | None) -> User:
    user = _resolve_user(request, session, csrf)
    assert user is not None
    return user


def current_user(
    request: Request, session: SessionDep, csrf: Annotated[str | None, Depends(_csrf_from_request)]
) -> User:
    return _user(request, session, csrf)


@dataclass(frozen=True)
class SessionUser:
    session: Session
    user: User
    #: whether the session may hold a database connection already (False: the user came from the
    #: principal cache, no SQL was sent)
    connected: bool = True


async def session_and_user(
    request: Request, csrf: Annotated[str | None, Depends(_csrf_from_request)]
) -> AsyncIterator[SessionUser]:
    """A session and the authenticated user for endpoints that do their work in ``run_as_user``.

    ``SessionDep`` + ``CurrentUser`` cost four hand-offs to worker threads per request (FastAPI runs
    the session's enter and exit, the user and a sync endpoint each on a thread of its own). Here a
    cached user is found on the event loop (no SQL: ``zhikong.auth.principal``), a miss takes one
    thread, and ``run_as_user`` does the work and the commit on one more. Authentication still
    comes before parameter validation, as with ``CurrentUser``.
    """
    session = session_factory(request_engine(request))()
    try:
        user = _resolve_user(request, session, csrf, cached_only=True)
        connected = user is None
        if user is None:
            user = await run_in_threadpool(_user, request, session, csrf)
        yield SessionUser(session, user, connected)
    finally:
        if session.in_transaction():  # a failed request: the rollback may talk to the database
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionUserDep = Annotated[SessionUser, Depends(session_and_user)]


def _commit_work(su: SessionUser, work: Callable[[Session, User], T], read_only: bool = False) -> T:
    if read_only and not su.connected:
        # one statement's snapshot is enough for a read: no BEGIN and COMMIT round trips (the first
        # connection of the session is procured here, in autocommit mode)
        su.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    with committing(su.session):
        return work(su.session, su.user)


async def run_as_user(su: SessionUser, work: Callable[[Session, User], T], *, read_only: bool = False) -> T:
    """``work(session, user)`` on a worker thread, committed (before the response is sent) or rolled
    back as ``SessionDep`` is. ``read_only``: ``work`` only reads, each statement on its own
    snapshot (autocommit), which saves the transaction's two round trips; it must not write."""
    return await run_in_threadpool(_commit_work, su, work, read_only)


def optional_user(
    request: Request, session: SessionDep, csrf: Annotated[str | None, Depends(_csrf_from_request)]
) -> User | None:
    try:
        return _user(request, session, csrf)
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

"""Users, login, sessions, API tokens and jurisdiction.

``restrict(stmt, user, unit_column)`` is the one place where jurisdiction is applied to a query:
a user sees rows whose unit is their own unit or below it (materialised ``admin_unit.path`` prefix);
district-level roles see everything. Reads of single rows go through the same filter, so a row
outside the jurisdiction is simply "not found".
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from zhikong import audit
from zhikong.auth import principal
from zhikong.auth.models import DISTRICT_ROLES, ApiToken, LoginSession, Role, User
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from zhikong.core.time import utcnow
from zhikong.geo.models import AdminUnit

_hasher = PasswordHasher()
# a fixed hash to spend the same time on unknown usernames as on wrong passwords
_DUMMY_HASH = _hasher.hash("zhikong-dummy-password")

TOKEN_PREFIX = "zk_"
MIN_PASSWORD = 8

S = TypeVar("S", bound=Select[Any])


# ---- passwords and tokens -------------------------------------------------------------------
def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD} characters", field="password")
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- jurisdiction ---------------------------------------------------------------------------
def subtree_prefix(unit: AdminUnit) -> str:
    return unit.path


def subtree_ids(user: User) -> Select[int]:
    """``SELECT id FROM admin_unit`` of the user's unit and everything below it."""
    prefix = subtree_prefix(user.unit).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return select(AdminUnit.id).where(AdminUnit.path.like(prefix + "%", escape="\\"))


def jurisdiction_clause(user: User, unit_column: ColumnElement[Any] | Any) -> ColumnElement[bool] | None:
    """The WHERE clause limiting ``unit_column`` to the user's jurisdiction (None: no limit)."""
    if user.role in DISTRICT_ROLES:
        return None
    return unit_column.in_(subtree_ids(user))


def restrict(stmt: S, user: User, unit_column: ColumnElement[Any] | Any) -> S:
    """Limit ``stmt`` to rows whose ``unit_column`` lies in the user's jurisdiction.

    >>> restrict(select(Person), user, Person.village_id)   # doctest: +SKIP
    """
    clause = jurisdiction_clause(user, unit_column)
    return stmt if clause is None else stmt.where(clause)


def unit_in_jurisdiction(session: Session, user: User, unit_id: int) -> bool:
    if user.role in DISTRICT_ROLES:
        return session.get(AdminUnit, unit_id) is not None
    unit = session.get(AdminUnit, unit_id)
    return unit is not None and unit.path.startswith(user.unit.path)


def require_unit(session: Session, user: User, unit_id: int, field: str = "unit_id") -> AdminUnit:
    """The unit, if it exists and the user may act on it; else ``InvalidInput``/``PermissionDenied``."""
    unit = session.get(AdminUnit, unit_id)
    if unit is None:
        raise InvalidInput(f"unknown administrative unit {unit_id}", field=field)
    if user.role not in DISTRICT_ROLES and not unit.path.startswith(user.unit.path):
        raise PermissionDenied(f"unit {unit.code} {unit.name} is outside your jurisdiction", field=field)
    return unit


def require_role(user: User, *roles: Role, what: str = "this action") -> None:
    if user.role not in roles:
        raise PermissionDenied(f"role {user.role.value} may not do {what}")


# ---- users ----------------------------------------------------------------------------------
def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    unit_id: int,
    display_name: str | None = None,
    phone: str | None = None,
    actor: User | str | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise InvalidInput("username must have 1 to 64 characters", field="username")
    try:
        role = Role(role)
    except ValueError as e:
        raise InvalidInput(
            f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}", field="role"
        ) from e
    if session.get(AdminUnit, unit_id) is None:
        raise InvalidInput(f"unknown administrative unit {unit_id}", field="unit_id")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists already", field="username")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        unit_id=unit_id,
        password_hash=hash_password(password),
        phone=phone,
        failed_logins=0,
        active=True,
        on_duty=True,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor or "cli",
        "user.create",
        "user",
        user.id,
        {"username": username, "role": role.value, "unit_id": unit_id},
    )
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def set_password(session: Session, user: User, password: str, actor: User | str | None) -> None:
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor, "user.set_password", "user", user.id)


# ---- login ----------------------------------------------------------------------------------
@dataclass
class LoginResult:
    user: User
    token: str  # the cookie value (only its hash is stored)
    csrf_token: str
    expires_at: datetime


def login(session: Session, username: str, password: str, ip: str | None = None) -> LoginResult:
    """Check the password, count failures and lock out; on success open a login session.

    Failed attempts are committed before the error is raised, so the lock-out counter survives the
    caller's rollback.
    """
    settings = get_settings()
    now = utcnow()
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active:
        check_password(_DUMMY_HASH, password)
        raise Unauthenticated("wrong username or password / 用户名或密码错误")
    if user.locked_until is not None and user.locked_until > now:
        raise Unauthenticated(
            f"account locked after repeated failures until "
            f"{user.locked_until.isoformat(timespec='minutes')} / 账号已锁定"
        )
    if not check_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        detail: dict[str, Any] = {"ip": ip, "failures": user.failed_logins}
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
            detail["locked_until"] = user.locked_until
        audit.record(session, user, "auth.login_failed", "user", user.id, detail)
        session.commit()
        raise Unauthenticated("wrong username or password / 用户名或密码错误")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = now + timedelta(hours=settings.session_hours)
    session.add(
        LoginSession(
            token_hash=sha256_hex(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            ip=ip,
        )
    )
    audit.record(session, user, "auth.login", "user", user.id, {"ip": ip})
    session.flush()
    return LoginResult(user=user, token=token, csrf_token=csrf, expires_at=expires)


def session_for_token(session: Session, token: str) -> LoginSession:
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256_hex(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow() or not row.user.active:
        raise Unauthenticated("not logged in or session expired / 未登录或会话已过期")
    return row


def _cached(
    session: Session, kind: str, token: str, *, claim: bool = True
) -> tuple[tuple[Any, ...], principal.Entry | None, principal.Epoch]:
    bind = session.get_bind()
    key = (bind.engine.url, kind, sha256_hex(token))
    epoch = principal.current_epoch()  # before any read: a change committed meanwhile voids the fill
    return key, principal.get(key, claim=claim), epoch


def _remember(
    key: tuple[Any, ...], epoch: principal.Epoch, user: User, csrf: str | None, until: datetime | None
) -> None:
    ttl = principal.ttl_seconds()
    if ttl <= 0:
        return
    snap = principal.detached_copy(user, unit=principal.detached_copy(user.unit))
    principal.put(key, principal.Entry(snap, csrf, until, epoch, time.monotonic() + ttl))


def cached_principal(session: Session, kind: str, token: str) -> tuple[User, str | None] | None:
    """The cached user (and CSRF token) of a ``"token"`` or ``"cookie"`` credential, merged into
    ``session`` without SQL; None when it is not cached (then use the ``principal_for_*`` below)."""
    _, hit, _ = _cached(session, kind, token, claim=False)  # the caller's fallback refreshes
    if hit is None or (kind == "cookie" and hit.csrf_token is None):
        return None
    return session.merge(hit.user, load=False), hit.csrf_token


def principal_for_login(session: Session, token: str) -> tuple[User, str]:
    """The user and CSRF token of a login cookie (``session_for_token``, cached; see ``principal``)."""
    key, hit, epoch = _cached(session, "cookie", token)
    if hit is not None and hit.csrf_token is not None:
        return session.merge(hit.user, load=False), hit.csrf_token
    try:
        row = session_for_token(session, token)
    except Unauthenticated:
        principal.drop(key)
        raise
    _remember(key, epoch, row.user, row.csrf_token, row.expires_at)
    return row.user, row.csrf_token


def principal_for_api_token(session: Session, token: str) -> User:
    """The user of a bearer token (``user_for_api_token``, cached; see ``principal``)."""
    key, hit, epoch = _cached(session, "token", token)
    if hit is not None:
        return session.merge(hit.user, load=False)
    try:
        row = _api_token_row(session, token)
    except Unauthenticated:
        principal.drop(key)
        raise
    _remember(key, epoch, row.user, None, row.expires_at)
    return row.user


def logout(session: Session, token: str) -> None:
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256_hex(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, row.user, "auth.logout", "user", row.user_id)


# ---- API tokens -----------------------------------------------------------------------------
def create_api_token(
    session: Session, user: User, name: str, *, days: int | None = None, actor: User | str | None = None
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user``; the plaintext is returned once and never stored."""
    if not name.strip():
        raise InvalidInput("token name must not be empty", field="name")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=days) if days else None
    row = ApiToken(
        name=name.strip()[:64],
        token_hash=sha256_hex(plain),
        prefix=plain[:10],
        user_id=user.id,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor or user,
        "auth.token_create",
        "api_token",
        row.id,
        {"user_id": user.id, "name": row.name},
    )
    return row, plain


def user_for_api_token(session: Session, token: str) -> User:
    return _api_token_row(session, token).user


def _api_token_row(session: Session, token: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
        or not row.user.active
    ):
        raise Unauthenticated("invalid or revoked API token")
    if row.last_used_at is None or (now - row.last_used_at) > timedelta(minutes=5):
        row.last_used_at = now  # coarse, to avoid a write on every request
    return row


def revoke_api_token(session: Session, user: User, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and user.role != Role.SYSTEM_ADMIN):
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, user, "auth.token_revoke", "api_token", row.id)

"""Users, roles, login sessions and API tokens.

Every user is bound to one administrative unit (``admin_unit``) and sees that unit and everything
under it (see ``zhikong.auth.service.restrict``); district-level roles see the whole district.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow
from zhikong.geo.models import AdminUnit


class Role(enum.StrEnum):
    DISTRICT_COMMAND = "district_command"  # 区指挥部
    SUPERVISION = "supervision"  # 督查组
    TOWN_OPERATOR = "town_operator"  # 镇街专班
    VILLAGE_OPERATOR = "village_operator"  # 村居网格员
    VIDEO_PATROLLER = "video_patroller"  # 视频巡查员
    ISOLATION_STAFF = "isolation_staff"  # 隔离点工作人员
    ENTERPRISE_ADMIN = "enterprise_admin"  # 企业管理员
    SYSTEM_ADMIN = "system_admin"  # 系统管理员


ROLE_LABELS: dict[Role, str] = {
    Role.DISTRICT_COMMAND: "区指挥部",
    Role.SUPERVISION: "督查组",
    Role.TOWN_OPERATOR: "镇街专班",
    Role.VILLAGE_OPERATOR: "村居网格员",
    Role.VIDEO_PATROLLER: "视频巡查员",
    Role.ISOLATION_STAFF: "隔离点工作人员",
    Role.ENTERPRISE_ADMIN: "企业管理员",
    Role.SYSTEM_ADMIN: "系统管理员",
}

#: roles that see the whole district whatever unit they are bound to
DISTRICT_ROLES: frozenset[Role] = frozenset({Role.DISTRICT_COMMAND, Role.SUPERVISION, Role.SYSTEM_ADMIN})
#: roles that may see unmasked identifiers of persons in their jurisdiction (each read is audited)
PII_ROLES: frozenset[Role] = frozenset({Role.DISTRICT_COMMAND, Role.TOWN_OPERATOR, Role.VILLAGE_OPERATOR})


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(str_enum(Role, 24), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    #: duty staff of the unit: gets live alerts
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[AdminUnit] = relationship(lazy="joined")

    @property
    def sees_all(self) -> bool:
        return self.role in DISTRICT_ROLES

    def __repr__(self) -> str:
        return f"User({self.username} {self.role.value}@{self.unit_id})"


class LoginSession(Base):
    """A browser login: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    #: the CSRF token that form posts and cookie-authenticated API writes must echo
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token for a machine client (camera platform, telecom feed); stored as SHA-256."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to recognise it in lists
    prefix: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


# ---- invalidating cached principals (zhikong.auth.principal) --------------------------------
_AUTH_CHANGED = "zhikong_auth_changed"
_AUTH_ROWS = (User, LoginSession, ApiToken)


@event.listens_for(Session, "after_flush")
def _note_auth_change(session: Session, flush_context: Any) -> None:
    """Mark the transaction when it changed or deleted a user, login session or API token row."""
    if _AUTH_CHANGED in session.info:
        return
    if any(isinstance(obj, _AUTH_ROWS) for obj in session.deleted) or any(
        isinstance(obj, _AUTH_ROWS) and _changed(obj) for obj in session.dirty
    ):
        session.info[_AUTH_CHANGED] = True


def _changed(obj: object) -> bool:
    """Whether ``obj`` has a change that matters to a principal (not merely a token's last use)."""
    return any(a.key != "last_used_at" and a.history.has_changes() for a in inspect(obj).attrs)


@event.listens_for(Session, "after_commit")
def _invalidate_principals(session: Session) -> None:
    if session.info.pop(_AUTH_CHANGED, False):
        from zhikong.auth import principal

        principal.invalidate()


@event.listens_for(Session, "after_rollback")
def _forget_auth_change(session: Session) -> None:
    session.info.pop(_AUTH_CHANGED, None)

"""Enterprises (企业), their admins, self-registered employees, risk results and notifications.

An employee row belongs to exactly one enterprise; the same person working for two enterprises is two
rows (each enterprise sees only its own). Identifiers are stored like the ledger's: encrypted, keyed
hash (ID number upper-case 18 characters; phone E.164) and masked.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow


class Level(enum.StrEnum):
    GREEN = "green"  # 绿：未发现风险
    YELLOW = "yellow"  # 黄：需关注
    RED = "red"  # 红：高风险


LEVEL_RANK: dict[Level, int] = {Level.GREEN: 0, Level.YELLOW: 1, Level.RED: 2}


class Audience(enum.StrEnum):
    ENTERPRISE = "enterprise"
    EMPLOYEE = "employee"


class Enterprise(Base):
    __tablename__ = "enterprise"
    __table_args__ = (UniqueConstraint("town_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    #: 统一社会信用代码 (optional)
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    #: the town/street the enterprise is in (its town view), and the village when known
    town_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    contact_name: Mapped[str | None] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnterpriseAdmin(Base):
    """Binds a user with the enterprise-admin role to one enterprise."""

    __tablename__ = "enterprise_admin"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), unique=True)


class Employee(Base):
    __tablename__ = "enterprise_employee"
    __table_args__ = (UniqueConstraint("enterprise_id", "id_number_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)
    #: the ledger person, when linked (non-residents stay unlinked)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    link_method: Mapped[str] = mapped_column(String(24), default="none")
    name: Mapped[str] = mapped_column(String(64))
    id_number_enc: Mapped[str] = mapped_column(String(128))
    id_number_hash: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    phone_enc: Mapped[str] = mapped_column(String(128))
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str] = mapped_column(String(20))
    #: home village (from the ledger) — where red employees' tasks go
    home_village_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    consent_version: Mapped[str] = mapped_column(String(32))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: SHA-256 of the personal link token (the employee's own result page)
    link_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[Level] = mapped_column(str_enum(Level, 8), default=Level.GREEN, index=True)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    policy_version: Mapped[str] = mapped_column(String(32), default="")
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    level_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the open village task for the current red episode (idempotent task creation)
    red_task_id: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskResult(Base):
    """History: one row per change of an employee's level or reasons."""

    __tablename__ = "enterprise_risk_result"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("enterprise_employee.id", ondelete="CASCADE"),
                                             index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)
    level: Mapped[Level] = mapped_column(str_enum(Level, 8))
    previous_level: Mapped[Level | None] = mapped_column(str_enum(Level, 8))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    policy_version: Mapped[str] = mapped_column(String(32))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Notification(Base):
    __tablename__ = "enterprise_notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)
    employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprise_employee.id", ondelete="CASCADE"), index=True)
    audience: Mapped[Audience] = mapped_column(str_enum(Audience, 12))
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RiskMark(Base):
    """One reason category found for a person's keyed hash (ID number or phone hash) by the last
    refresh, valid until ``until_at``: what a registration looks up instead of scanning the lake.

    Refreshed set-based by :func:`zhikong.enterprise.risk.refresh_marks` for everybody (not only
    registered employees) from tracing cases and contacts, active key persons and the lake's travel
    and roaming presence in risk areas. Holds no places or times beyond the expiry."""

    __tablename__ = "enterprise_risk_mark"

    pid: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    until_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RosterEntry(Base):
    """The enterprise's own staff list (uploaded), to see who has not registered yet."""

    __tablename__ = "enterprise_roster"
    __table_args__ = (UniqueConstraint("enterprise_id", "id_number_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number_hash: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    department: Mapped[str | None] = mapped_column(String(64))

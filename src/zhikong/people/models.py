"""The resident base ledger (基础台账): persons and households.

Identifiers (ID number, phone) are stored encrypted (``*_enc``) with a keyed hash beside them
(``*_hash``) for exact lookup and a masked form (``*_masked``) for display; see ``core.crypto``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow
from zhikong.geo.models import AdminUnit


class Sex(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class ResidenceStatus(enum.StrEnum):
    RESIDENT = "resident"  # 常住 (registered and living here)
    FLOATING = "floating"  # 流动 (living here, registered elsewhere)
    AWAY = "away"  # 外出 (registered here, living away)


class Household(Base):
    __tablename__ = "household"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # 户号
    address: Mapped[str | None] = mapped_column(String(255))
    village_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    sex: Mapped[Sex | None] = mapped_column(str_enum(Sex, 8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    id_number_enc: Mapped[str | None] = mapped_column(String(128))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    phone_enc: Mapped[str | None] = mapped_column(String(128))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(255))
    village_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    residence_status: Mapped[ResidenceStatus] = mapped_column(
        str_enum(ResidenceStatus, 16), default=ResidenceStatus.RESIDENT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    village: Mapped[AdminUnit] = relationship()
    household: Mapped[Household | None] = relationship()


class ImportBatch(Base):
    """One import of a file into the ledger (or another list), with its outcome."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

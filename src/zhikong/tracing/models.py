"""Tracing results in the operational database: cases, trace runs, contacts and their evidence.

Trajectories stay in the lake; only what a field worker acts on is stored here: each contact with
its class, score, explanation and the exposure rows behind it. A trace run is written in one
transaction (``unit_of_work``), so a failed trace leaves nothing half-written.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow


class ContactClass(enum.StrEnum):
    CLOSE = "close"  # 密切接触者
    SECONDARY = "secondary"  # 密接的密接 (次密切接触者)
    COMPANION = "companion"  # 时空伴随者


class RunStatus(enum.StrEnum):
    COMPLETED = "completed"
    EMPTY = "empty"  # traced, nobody found


class Case(Base):
    """An index case (确诊/疑似/阳性) known by its identifiers' keyed hashes."""

    __tablename__ = "trace_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the pseudonym the lake knows the person by (ID-number hash, else phone hash)
    person_key: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: masked identifier for display (e.g. 500113********1234)
    label: Mapped[str] = mapped_column(String(32))
    onset_at: Mapped[datetime] = mapped_column(UTCDateTime)
    isolated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: set when the case has been traced by a run (``trace --all-new`` picks the others)
    traced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TraceRun(Base):
    __tablename__ = "trace_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    policy_edition: Mapped[int] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(16))
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, 16))
    cases: Mapped[int] = mapped_column(Integer, default=0)
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    #: which sources had data (JSON object source → bool)
    sources: Mapped[str] = mapped_column(Text, default="{}")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Contact(Base):
    __tablename__ = "trace_contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("trace_run.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("trace_case.id", ondelete="CASCADE"), index=True)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    cls: Mapped[ContactClass] = mapped_column(str_enum(ContactClass, 16), index=True)
    hop: Mapped[int] = mapped_column(Integer, default=1)
    score: Mapped[float] = mapped_column(Float)
    close_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: per-source contributions to the score (JSON object) and a one-line explanation
    contributions: Mapped[str] = mapped_column(Text, default="{}")
    explanation: Mapped[str] = mapped_column(String(255), default="")
    #: for secondary contacts: the close contact they were exposed to
    via_person_key: Mapped[str | None] = mapped_column(String(64))
    quarantine_central_days: Mapped[int] = mapped_column(Integer, default=0)
    quarantine_home_days: Mapped[int] = mapped_column(Integer, default=0)

    case: Mapped[Case] = relationship()
    exposures: Mapped[list[Exposure]] = relationship(back_populates="contact", cascade="all, delete-orphan")


class Exposure(Base):
    """One piece of evidence: source, place, start, end, minutes, distance class."""

    __tablename__ = "trace_exposure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("trace_contact.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    place: Mapped[str] = mapped_column(String(128))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[float] = mapped_column(Float)
    distance: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)

    contact: Mapped[Contact] = relationship(back_populates="exposures")

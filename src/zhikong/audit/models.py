"""The append-only, hash-chained audit log.

Record ``n`` carries ``hash = HMAC(secret, prev_hash || canonical(record n))``; ``audit_head`` holds
the last sequence number and hash, and serialises writers (its row is updated first in every
transaction that appends, so two writers cannot fork the chain).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhikong.core.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_record"

    #: the sequence number: contiguous from 1, assigned from ``audit_head``
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    #: canonical JSON (sorted keys)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (id 1): the end of the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)

"""The append-only, hash-chained audit log.

A record is written in two steps, so that no request waits for a chain-wide lock:

1. **Append** (in the caller's transaction, with the change it describes): a row with a fresh ``id``
   from the database's counter, no chain position yet (``seq``, ``prev_hash`` and ``hash`` NULL), and
   a ``seal``: a random nonce plus ``HMAC(secret, nonce || content)``. Appends by concurrent
   transactions touch no shared row.
2. **Link** (after commit, in a short separate transaction, see ``service.link_pending``): under the
   lock of the ``audit_head`` row, every committed unlinked record with a valid seal gets, in ``id``
   order, the next ``seq`` and ``hash = HMAC(secret, prev_hash || canonical(record at seq))``; the
   head moves to the last one. Only one linker holds the head at a time, so no record is chained
   twice and the chain cannot fork (``seq`` and ``prev_hash`` are unique).

Records written before this scheme (migration ``audit_0002``) have ``seq = id`` and no seal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhikong.core.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_record"

    #: the append number, from the database's counter (gaps where a transaction rolled back)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: the position in the chain: contiguous from 1, assigned when the record is linked (NULL before)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    #: canonical JSON (sorted keys)
    detail: Mapped[str] = mapped_column(Text)
    #: 32 hex nonce + 64 hex HMAC of the content, set when appended (NULL on records older than it)
    seal: Mapped[str | None] = mapped_column(String(96), unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # the records still to link: a small partial index, so a link pass never scans the log
        Index("ix_audit_record_pending", "id", postgresql_where=seq.is_(None), sqlite_where=seq.is_(None)),
    )


class AuditHead(Base):
    """One row (id 1): the end of the chain. Its row lock serialises the linkers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)

"""Writing, linking and verifying the audit log.

``record`` appends one sealed entry in the caller's transaction (it commits or rolls back with the
change it describes) and takes no shared lock. After the commit, ``link_pending`` chains every
committed unlinked record in a short separate transaction (``zhikong.audit.linker`` runs it inline,
or in a background thread in the web server). ``verify`` walks the chain and reports every edited,
deleted, inserted or reordered record, and every unlinked record whose seal does not match. Hashes
and seals are HMACs keyed by the installation secret, so whoever can write to the database but does
not hold the secret can neither rebuild a consistent chain after tampering nor forge a record for
the linker to chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhikong.audit.models import GENESIS_HASH, AuditHead, AuditRecord
from zhikong.core.errors import InvalidInput
from zhikong.core.events import publish
from zhikong.core.time import utcnow

if TYPE_CHECKING:
    from zhikong.auth.models import User

log = logging.getLogger(__name__)

#: published (once per transaction) after a transaction that appended records commits
RECORDED_EVENT = "audit.recorded"


def _key() -> bytes:
    from zhikong.core.config import get_settings

    return hashlib.sha256(b"zhikong/audit/v1" + get_settings().secret_bytes()).digest()


def _canonical_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    detail: str,
) -> str:
    """The canonical text a record's hash covers (besides the previous hash)."""
    return json.dumps(
        [seq, _canonical_time(at), actor_id, actor, action, subject_type, subject_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def compute_hash(prev_hash: str, content: str, key: bytes | None = None) -> str:
    return hmac.new(key or _key(), (prev_hash + "\n" + content).encode(), hashlib.sha256).hexdigest()


def _actor_fields(actor: User | str | None) -> tuple[int | None, str]:
    if actor is None:
        return None, "anonymous"
    if isinstance(actor, str):
        return None, actor[:64]
    return actor.id, actor.username


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _canonical_time(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _ensure_head(session: Session) -> None:
    if session.get(AuditHead, 1) is None:
        session.add(AuditHead(id=1, last_seq=0, last_hash=GENESIS_HASH))
        session.flush()


def make_seal(
    at: datetime, actor_id: int | None, actor: str, action: str, subject_type: str, subject_id: str,
    detail: str, *, key: bytes | None = None, nonce: str | None = None,
) -> str:
    """A fresh random nonce (32 hex) and the HMAC of nonce and content (64 hex)."""
    nonce = nonce or secrets.token_hex(16)
    content = canonical(0, at, actor_id, actor, action, subject_type, subject_id, detail)
    mac = hmac.new(key or _key(), f"seal\n{nonce}\n{content}".encode(), hashlib.sha256).hexdigest()
    return nonce + mac


def seal_ok(rec: Any, key: bytes | None = None) -> bool:
    """Whether the record's content still matches the seal it was appended with (``rec``: an
    ``AuditRecord`` or a row with its columns)."""
    if rec.seal is None or len(rec.seal) != 96:
        return False
    expected = make_seal(rec.at, rec.actor_id, rec.actor, rec.action, rec.subject_type, rec.subject_id,
                         rec.detail, key=key, nonce=rec.seal[:32])
    return hmac.compare_digest(expected, rec.seal)


def record(
    session: Session,
    actor: User | str | None,
    action: str,
    subject_type: str,
    subject_id: object,
    detail: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one audit record in the current transaction and return it.

    ``action`` is a dotted verb such as ``task.sign_for`` or ``person.read_pii``; ``detail`` is any
    JSON-able mapping (datetimes become ISO text). The record is sealed now and linked into the
    chain after the transaction commits (``link_pending``); a rollback leaves nothing behind.
    """
    actor_id, actor_name = _actor_fields(actor)
    at = utcnow()
    detail_text = json.dumps(
        _jsonable(dict(detail or {})), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    sid = str(subject_id)[:64]
    rec = AuditRecord(
        at=at,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        subject_type=subject_type,
        subject_id=sid,
        detail=detail_text,
        seal=make_seal(at, actor_id, actor_name, action, subject_type, sid, detail_text),
    )
    session.add(rec)
    session.flush()
    publish(RECORDED_EVENT, session=session, coalesce=True)
    return rec


_COLUMNS = (
    AuditRecord.id, AuditRecord.at, AuditRecord.actor_id, AuditRecord.actor, AuditRecord.action,
    AuditRecord.subject_type, AuditRecord.subject_id, AuditRecord.detail, AuditRecord.seal,
)


#: (database, id) of unlinked records already logged as not matching their seal
_reported: set[tuple[str, int]] = set()


def link_pending(session: Session, *, batch: int = 2000) -> int:
    """Chain every committed, unlinked record in ``id`` order; returns how many were linked.

    The ``audit_head`` row is locked first (a no-op update: PostgreSQL's row lock, SQLite's write
    lock) and held to the caller's commit, so linkers in any number of processes take turns, and the
    records read after the lock are every record committed before it. A record whose seal does not
    match (edited or forged before it was linked) is left unlinked and logged; ``verify`` reports it.
    """
    key = _key()
    head_stmt = (
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_seq=AuditHead.last_seq)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    )
    row = session.execute(head_stmt, execution_options={"synchronize_session": False}).first()
    if row is None:
        _ensure_head(session)
        row = session.execute(head_stmt, execution_options={"synchronize_session": False}).one()
    seq, prev = int(row[0]), str(row[1])
    linked, after_id = 0, 0
    where = str(session.get_bind().engine.url)
    while True:
        rows = session.execute(
            select(*_COLUMNS)
            .where(AuditRecord.seq.is_(None), AuditRecord.id > after_id)
            .order_by(AuditRecord.id)
            .limit(batch)
        ).all()
        values: list[dict[str, Any]] = []
        for r in rows:
            after_id = r.id
            if not seal_ok(r, key):
                if (where, r.id) not in _reported:  # once per process, not at every pass
                    _reported.add((where, r.id))
                    log.error("audit record id %s: its seal does not match (edited or forged); not linked",
                              r.id)
                continue
            seq += 1
            content = canonical(seq, r.at, r.actor_id, r.actor, r.action, r.subject_type, r.subject_id,
                                r.detail)
            digest = compute_hash(prev, content, key)
            values.append({"id": r.id, "seq": seq, "prev_hash": prev, "hash": digest})
            prev = digest
        if values:
            session.execute(update(AuditRecord), values)
            linked += len(values)
        if len(rows) < batch:
            break
    if linked:
        session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(last_seq=seq, last_hash=prev),
            execution_options={"synchronize_session": False},
        )
    session.flush()
    return linked


def record_pii_read(
    session: Session,
    actor: User | str | None,
    person_id: object,
    what: str,
    reason: str | None = None,
    **detail: Any,
) -> AuditRecord:
    """Record a read of a person's unmasked identifiers or trajectory.

    ``what`` names what was read: ``"id_number"``, ``"phone"``, ``"trajectory"``, ``"contacts"`` …
    """
    action = "person.read_trajectory" if what in {"trajectory", "contacts"} else "person.read_pii"
    return record(session, actor, action, "person", person_id, {"what": what, "reason": reason, **detail})


@dataclass
class VerifyResult:
    #: linked records
    count: int = 0
    #: records appended but not linked yet, with a valid seal
    pending: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain; every record must follow its predecessor and hash correctly. Records
    not linked yet must match their seals."""
    key = _key()
    result = VerifyResult()
    expected_seq = 1
    prev = GENESIS_HASH
    last_seq = 0
    while True:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.seq > last_seq).order_by(AuditRecord.seq).limit(batch)
        ).all()
        if not rows:
            break
        for r in rows:
            seq = int(r.seq or 0)
            if seq != expected_seq:
                result.problems.append(
                    f"record {expected_seq}..{seq - 1} missing (deleted?)"
                    if seq > expected_seq
                    else f"record {seq} out of sequence"
                )
                expected_seq = seq
            if r.prev_hash != prev:
                result.problems.append(
                    f"record {seq}: does not follow the previous record "
                    "(a record before it was deleted, inserted or reordered)"
                )
            content = canonical(seq, r.at, r.actor_id, r.actor, r.action, r.subject_type, r.subject_id,
                                r.detail)
            if not hmac.compare_digest(compute_hash(r.prev_hash or "", content, key), r.hash or ""):
                result.problems.append(f"record {seq}: content does not match its hash (edited)")
            prev = r.hash or ""
            expected_seq += 1
            result.count += 1
            last_seq = seq
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_seq != last_seq or head.last_hash != prev):
        result.problems.append(
            f"the chain ends at record {last_seq} but the head says "
            f"{head.last_seq} (records at the end were deleted?)"
        )
    after_id = 0
    while True:
        pending = session.execute(
            select(*_COLUMNS).where(AuditRecord.seq.is_(None), AuditRecord.id > after_id)
            .order_by(AuditRecord.id).limit(batch)
        ).all()
        for p in pending:
            after_id = p.id
            if seal_ok(p, key):
                result.pending += 1
            else:
                result.problems.append(
                    f"unlinked record id {p.id}: content does not match its seal (edited or forged)"
                )
        if len(pending) < batch:
            break
    return result


@dataclass(frozen=True)
class Anchor:
    """The chain's head at one moment, kept outside the database (printed, mailed, or copied to
    another host). The HMAC chain stops whoever lacks the secret; an anchor also stops whoever holds
    both the secret and write access, because rebuilding the chain changes every later hash."""

    seq: int
    hash: str
    at: datetime

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": _canonical_time(self.at)})

    @classmethod
    def from_json(cls, line: str, where: str) -> Anchor:
        try:
            raw = json.loads(line)
            seq, digest, at = int(raw["seq"]), str(raw["hash"]), str(raw["at"])
            stamp = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInput(f"{where}: not an audit anchor ({e})", field="anchors") from e
        if seq < 0 or len(digest) != 64:
            raise InvalidInput(f"{where}: not an audit anchor (seq or hash out of range)", field="anchors")
        return cls(seq, digest, stamp)


def anchor(session: Session) -> Anchor:
    """The current head of the chain, to be stored away from this database."""
    head = session.get(AuditHead, 1)
    if head is None:
        return Anchor(0, GENESIS_HASH, utcnow())
    return Anchor(head.last_seq, head.last_hash, utcnow())


def check_anchors(session: Session, anchors: list[Anchor]) -> list[str]:
    """Problems for every anchor the chain no longer matches (record gone or hash different)."""
    problems: list[str] = []
    for a in anchors:
        if a.seq == 0:
            continue
        stored = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == a.seq))
        when = _canonical_time(a.at)
        if stored is None:
            problems.append(f"anchor of {when}: record {a.seq} is missing (chain truncated?)")
        elif not hmac.compare_digest(stored, a.hash):
            problems.append(
                f"anchor of {when}: record {a.seq} no longer has the anchored hash (chain rewritten)"
            )
    return problems

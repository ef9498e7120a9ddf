"""Writing and verifying the audit log.

``record`` appends one entry in the caller's transaction (it commits or rolls back with the change
it describes). ``verify`` walks the chain and reports every edited, deleted, inserted or reordered
record. The hash is an HMAC keyed by the installation secret, so whoever can write to the database
but does not hold the secret cannot rebuild a consistent chain after tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhikong.audit.models import GENESIS_HASH, AuditHead, AuditRecord
from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow

if TYPE_CHECKING:
    from zhikong.auth.models import User


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
    JSON-able mapping (datetimes become ISO text).
    """
    session.flush()
    head_stmt = (
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_seq=AuditHead.last_seq + 1)
        .returning(AuditHead.last_seq, AuditHead.last_hash)
    )
    row = session.execute(head_stmt, execution_options={"synchronize_session": False}).first()
    if row is None:
        _ensure_head(session)
        row = session.execute(head_stmt, execution_options={"synchronize_session": False}).one()
    seq, prev_hash = int(row[0]), str(row[1])
    actor_id, actor_name = _actor_fields(actor)
    at = utcnow()
    detail_text = json.dumps(
        _jsonable(dict(detail or {})), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    sid = str(subject_id)[:64]
    digest = compute_hash(
        prev_hash, canonical(seq, at, actor_id, actor_name, action, subject_type, sid, detail_text)
    )
    rec = AuditRecord(
        id=seq,
        at=at,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        subject_type=subject_type,
        subject_id=sid,
        detail=detail_text,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(rec)
    session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_hash=digest),
        execution_options={"synchronize_session": False},
    )
    session.flush()
    return rec


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
    count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the whole chain; every record must follow its predecessor and hash correctly."""
    key = _key()
    result = VerifyResult()
    expected_seq = 1
    prev = GENESIS_HASH
    last_id = 0
    while True:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.id > last_id).order_by(AuditRecord.id).limit(batch)
        ).all()
        if not rows:
            break
        for r in rows:
            if r.id != expected_seq:
                result.problems.append(
                    f"record {expected_seq}..{r.id - 1} missing (deleted?)"
                    if r.id > expected_seq
                    else f"record {r.id} out of sequence"
                )
                expected_seq = r.id
            if r.prev_hash != prev:
                result.problems.append(
                    f"record {r.id}: does not follow the previous record "
                    "(a record before it was deleted, inserted or reordered)"
                )
            content = canonical(
                r.id, r.at, r.actor_id, r.actor, r.action, r.subject_type, r.subject_id, r.detail
            )
            if not hmac.compare_digest(compute_hash(r.prev_hash, content, key), r.hash):
                result.problems.append(f"record {r.id}: content does not match its hash (edited)")
            prev = r.hash
            expected_seq += 1
            result.count += 1
            last_id = r.id
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_seq != result.count or head.last_hash != prev):
        result.problems.append(
            f"the chain ends at record {result.count} but the head says "
            f"{head.last_seq} (records at the end were deleted?)"
        )
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
        stored = session.scalar(select(AuditRecord.hash).where(AuditRecord.id == a.seq))
        when = _canonical_time(a.at)
        if stored is None:
            problems.append(f"anchor of {when}: record {a.seq} is missing (chain truncated?)")
        elif not hmac.compare_digest(stored, a.hash):
            problems.append(
                f"anchor of {when}: record {a.seq} no longer has the anchored hash (chain rewritten)"
            )
    return problems

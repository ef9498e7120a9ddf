"""Device telemetry: parse, validate, de-duplicate and store batches of messages (MQTT or HTTP),
update device status, and turn door openings during quarantine, fevers and tampering into alerts.

Every message ends in exactly one counter: ``stored``, ``duplicate`` (``(device, msg_id|seq)`` seen
before: a deliberate redelivery), or a rejection reason (``malformed``, ``unknown_device``,
``absurd_value``, ``clock_skew``), which is also logged in ``telemetry_reject``. Alerts use the
idempotency key ``tm:<device>:<msg key>``, so a redelivered message never raises an alarm twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhikong.alerts.models import AlertKind, Severity
from zhikong.alerts.service import AlertIn, intake
from zhikong.core.errors import InvalidInput
from zhikong.core.time import local_day, utcnow
from zhikong.facilities.models import (
    Device,
    DeviceKind,
    DeviceStatus,
    Facility,
    MessageType,
    ScreeningDay,
    Stay,
    TelemetryCounter,
    TelemetryMessage,
    TelemetryReject,
)
from zhikong.facilities.policy import Policy, builtin_policy
from zhikong.tasks.files import read_stored, store_image, validate_image

log = logging.getLogger(__name__)

TOPIC_PREFIX = "zhikong/devices/"
TOPIC_FILTER = "zhikong/devices/+/telemetry"
REJECT_REASONS = ("malformed", "unknown_device", "absurd_value", "clock_skew")
COUNTERS = ("stored", "duplicate", *REJECT_REASONS)


def topic_for(device_code: str) -> str:
    return f"{TOPIC_PREFIX}{device_code}/telemetry"


@dataclass
class RawMessage:
    payload: bytes
    received_at: datetime
    topic: str | None = None
    channel: str = "mqtt"


@dataclass
class Parsed:
    device_code: str
    msg_key: str
    type: MessageType
    device_at: datetime
    received_at: datetime
    channel: str
    value: float | None = None
    state: str | None = None
    snapshot: bytes | None = None


class Rejected(Exception):
    def __init__(self, reason: str, detail: str, device_code: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.device_code = device_code


@dataclass
class IngestResult:
    counts: Counter[str] = field(default_factory=Counter)
    alerts: list[int] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.counts["stored"]

    @property
    def duplicates(self) -> int:
        return self.counts["duplicate"]


def _timestamp(v: Any) -> datetime:
    if isinstance(v, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(v, int | float):
        if not math.isfinite(v):
            raise ValueError("not finite")
        return datetime.fromtimestamp(float(v), UTC)
    if isinstance(v, str):
        dt = datetime.fromisoformat(v)
        if dt.tzinfo is None:
            raise ValueError("a time without a UTC offset")
        return dt.astimezone(UTC)
    raise ValueError(f"{type(v).__name__} is not a time")


def parse(raw: RawMessage, policy: Policy) -> Parsed:
    """One raw message → ``Parsed``; ``Rejected`` with the reason otherwise (never partially)."""
    topic_code: str | None = None
    if raw.topic is not None:
        if not (raw.topic.startswith(TOPIC_PREFIX) and raw.topic.endswith("/telemetry")):
            raise Rejected("malformed", f"unexpected topic {raw.topic!r}")
        topic_code = raw.topic[len(TOPIC_PREFIX) : -len("/telemetry")] or None
    try:
        doc = json.loads(raw.payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise Rejected("malformed", f"not JSON: {e}"[:200], topic_code) from e
    if not isinstance(doc, dict):
        raise Rejected("malformed", "the payload must be a JSON object", topic_code)
    code = doc.get("device", topic_code)
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        raise Rejected(
            "malformed", "field device: a device code of 1 to 64 characters is required", topic_code
        )
    if topic_code is not None and code != topic_code:
        raise Rejected(
            "malformed", f"field device {code!r} differs from the topic's {topic_code!r}", topic_code
        )
    if "msg_id" in doc:
        mid = doc["msg_id"]
        if not isinstance(mid, str | int) or isinstance(mid, bool) or not 0 < len(str(mid)) <= 60:
            raise Rejected("malformed", "field msg_id: 1 to 60 characters", code)
        key = f"m:{mid}"
    elif "seq" in doc:
        seq = doc["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**62:
            raise Rejected("malformed", "field seq: a non-negative integer", code)
        key = f"s:{seq}"
    else:
        raise Rejected("malformed", "a msg_id or seq field is required (de-duplication)", code)
    try:
        mtype = MessageType(str(doc.get("type")))
    except ValueError as e:
        raise Rejected(
            "malformed", f"field type: one of {', '.join(MessageType)}, not {doc.get('type')!r}", code
        ) from e
    try:
        device_at = _timestamp(doc.get("ts"))
    except (ValueError, OverflowError, OSError) as e:
        raise Rejected(
            "malformed", f"field ts: epoch seconds or ISO-8601 with offset ({e})"[:200], code
        ) from e
    skew = abs((device_at - raw.received_at).total_seconds())
    if skew > policy.max_clock_skew_seconds:
        raise Rejected(
            "clock_skew",
            f"device clock is {skew:.0f} s off (limit {policy.max_clock_skew_seconds:.0f})",
            code,
        )
    p = Parsed(code, key, mtype, device_at, raw.received_at, raw.channel)
    if mtype == MessageType.READING:
        v = doc.get("value")
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise Rejected("malformed", "field value: a number is required for a reading", code)
        lo, hi = policy.temperature_range
        if not math.isfinite(v) or not lo <= v <= hi:
            raise Rejected("absurd_value", f"field value: {v} °C is outside {lo}..{hi}", code)
        p.value = float(v)
    elif mtype == MessageType.DOOR:
        st = doc.get("state")
        if st not in ("open", "closed"):
            raise Rejected("malformed", "field state: open or closed", code)
        p.state = st
    snap = doc.get("snapshot")
    if snap is not None:
        try:
            data = base64.b64decode(str(snap), validate=True)
            validate_image(data, field="snapshot")
        except (binascii.Error, ValueError, InvalidInput) as e:
            raise Rejected("malformed", f"field snapshot: {e}"[:200], code) from e
        p.snapshot = data
    return p


def reject(session: Session, res: IngestResult, raw: RawMessage, r: Rejected) -> None:
    res.counts[r.reason] += 1
    text = raw.payload[:500].decode("utf-8", errors="replace")
    session.add(
        TelemetryReject(
            reason=r.reason,
            device_code=(r.device_code or "")[:64] or None,
            detail=r.detail[:500],
            payload=text,
            channel=raw.channel,
            received_at=raw.received_at,
        )
    )
    log.info("telemetry rejected (%s): %s", r.reason, r.detail)


def bump_counters(session: Session, counts: Counter[str]) -> None:
    for name, n in counts.items():
        if n <= 0:
            continue
        done = session.execute(
            update(TelemetryCounter)
            .where(TelemetryCounter.name == name)
            .values(value=TelemetryCounter.value + n)
        ).rowcount  # type: ignore[attr-defined]
        if not done:
            try:
                with session.begin_nested():
                    session.add(TelemetryCounter(name=name, value=n))
                    session.flush()
            except IntegrityError:
                session.execute(
                    update(TelemetryCounter)
                    .where(TelemetryCounter.name == name)
                    .values(value=TelemetryCounter.value + n)
                )


def counters(session: Session) -> dict[str, int]:
    out = dict.fromkeys(COUNTERS, 0)
    out.update({c.name: int(c.value) for c in session.scalars(select(TelemetryCounter))})
    return out


def _room_snapshot(session: Session, dev: _Dev) -> bytes | None:
    """The latest snapshot of a camera in the device's room (or the device's own)."""
    paths = [dev.snapshot_path] if dev.snapshot_path else []
    if dev.room_id is not None:
        paths += [
            p
            for p in session.scalars(
                select(Device.snapshot_path).where(
                    Device.room_id == dev.room_id, Device.snapshot_path.is_not(None)
                )
            )
            if p
        ]
    for path in paths:
        try:
            return read_stored(path)
        except OSError:
            continue
    return None


def _alarm(
    session: Session, dev: _Dev, fac: Facility, p: Parsed, policy: Policy, occupied_rooms: set[int]
) -> tuple[AlertKind, Severity, str] | None:
    if p.type == MessageType.TAMPER:
        return AlertKind.DEVICE, Severity.CRITICAL, f"设备被破坏/遮挡：{dev.name or dev.code}（{fac.name}）"
    if p.type == MessageType.DOOR and p.state == "open" and dev.room_id in occupied_rooms:
        return (
            AlertKind.QUARANTINE_BREACH,
            Severity.CRITICAL,
            f"隔离期间房门被打开：{dev.name or dev.code}（{fac.name}）",
        )
    if (
        p.type == MessageType.READING
        and dev.kind == DeviceKind.THERMAL_CAMERA
        and p.value is not None
        and p.value >= policy.fever_threshold
    ):
        return (
            AlertKind.FEVER,
            Severity.CRITICAL,
            f"体温异常 {p.value:.1f}℃：{dev.name or dev.code}（{fac.name}）",
        )
    return None


@dataclass
class _Dev:
    """The columns of a device the ingest needs (lighter than loading ORM objects for every batch)."""

    id: int
    code: str
    kind: DeviceKind
    facility_id: int
    room_id: int | None
    status: DeviceStatus
    last_seen_at: datetime | None
    active: bool
    name: str
    snapshot_path: str | None


#: a device's ``last_seen_at`` is rewritten at most this often (offline detection works in minutes)
LAST_SEEN_RESOLUTION = timedelta(seconds=5)


def _devices(session: Session, codes: set[str]) -> dict[str, _Dev]:
    cols = (
        Device.id,
        Device.code,
        Device.kind,
        Device.facility_id,
        Device.room_id,
        Device.status,
        Device.last_seen_at,
        Device.active,
        Device.name,
        Device.snapshot_path,
    )
    rows = session.execute(select(*cols).where(Device.code.in_(codes))).all()
    return {r[1]: _Dev(*tuple(r)) for r in rows}


def ingest(session: Session, raws: list[RawMessage], policy: Policy | None = None) -> IngestResult:
    """Store a batch (the caller commits). Safe to call again with the same messages."""
    pol = policy or builtin_policy()
    res = IngestResult()
    parsed: list[tuple[RawMessage, Parsed]] = []
    for raw in raws:
        try:
            parsed.append((raw, parse(raw, pol)))
        except Rejected as r:
            reject(session, res, raw, r)
    codes = {p.device_code for _, p in parsed}
    devices = _devices(session, codes) if codes else {}
    fresh: dict[tuple[int, str], Parsed] = {}
    for raw, p in parsed:
        dev = devices.get(p.device_code)
        if dev is None or not dev.active:
            reject(
                session,
                res,
                raw,
                Rejected("unknown_device", f"no active device {p.device_code!r}", p.device_code),
            )
            continue
        k = (dev.id, p.msg_key)
        if k in fresh:
            res.counts["duplicate"] += 1
        else:
            fresh[k] = p
    if fresh:
        ids = {k[0] for k in fresh}
        keys = {k[1] for k in fresh}
        seen = set(
            session.execute(
                select(TelemetryMessage.device_id, TelemetryMessage.msg_key).where(
                    TelemetryMessage.device_id.in_(ids), TelemetryMessage.msg_key.in_(keys)
                )
            ).all()
        )
        for k in seen & fresh.keys():
            del fresh[k]
            res.counts["duplicate"] += 1
    if fresh:
        _store(session, res, fresh, devices, pol)
    bump_counters(session, res.counts)
    session.flush()
    return res


def _store(
    session: Session,
    res: IngestResult,
    fresh: dict[tuple[int, str], Parsed],
    devices: dict[str, _Dev],
    pol: Policy,
) -> None:
    by_id = {d.id: d for d in devices.values()}
    facs = {
        f.id: f
        for f in session.scalars(
            select(Facility).where(Facility.id.in_({d.facility_id for d in by_id.values()}))
        )
    }
    occupied = set(
        session.scalars(
            select(Stay.room_id).where(Stay.ended_at.is_(None), Stay.facility_id.in_(facs.keys()))
        )
    )
    now = utcnow()
    rows: list[dict[str, Any]] = []
    screening: Counter[tuple[int, date, str]] = Counter()
    changed: dict[int, dict[str, Any]] = {}
    for (dev_id, key), p in sorted(fresh.items(), key=lambda kv: kv[1].device_at):
        dev = by_id[dev_id]
        fac = facs[dev.facility_id]
        if p.snapshot is not None:
            dev.snapshot_path = store_image(p.snapshot, "devices", field="snapshot")[0]
            session.get_one(Device, dev.id).snapshot_path = dev.snapshot_path
        alert_id = None
        alarm = _alarm(session, dev, fac, p, pol, occupied)
        if alarm is not None:
            kind, sev, title = alarm
            alert, _ = intake(
                session,
                AlertIn(
                    idempotency_key=f"tm:{dev.code}:{key}"[:128],
                    kind=kind,
                    severity=sev,
                    occurred_at=min(p.device_at, now),
                    title=title[:200],
                    description=f"device {dev.code} ({dev.kind.value}) message {key}",
                    place_id=fac.place_id,
                    camera_code=dev.code,
                    snapshot=p.snapshot or _room_snapshot(session, dev),
                    source="facilities.devices",
                ),
                actor="facilities.devices",
            )
            alert_id = alert.id
            res.alerts.append(alert.id)
        if dev.status == DeviceStatus.OFFLINE:
            back, _ = intake(
                session,
                AlertIn(
                    idempotency_key=f"dev-online:{dev.code}:{key}"[:128],
                    kind=AlertKind.DEVICE,
                    severity=Severity.INFO,
                    occurred_at=min(p.device_at, now),
                    title=f"设备恢复在线：{dev.name or dev.code}（{fac.name}）"[:200],
                    place_id=fac.place_id,
                    camera_code=f"{dev.code}#status",
                    source="facilities.devices",
                ),
                actor="facilities.devices",
            )
            res.alerts.append(back.id)
        if (
            dev.status != DeviceStatus.ONLINE
            or dev.last_seen_at is None
            or p.device_at - dev.last_seen_at >= LAST_SEEN_RESOLUTION
        ):
            dev.status = DeviceStatus.ONLINE
            dev.last_seen_at = p.device_at if dev.last_seen_at is None else max(dev.last_seen_at, p.device_at)
            changed[dev.id] = {"id": dev.id, "status": dev.status, "last_seen_at": dev.last_seen_at}
        if p.type == MessageType.READING and dev.kind == DeviceKind.THERMAL_CAMERA and p.value is not None:
            d = local_day(p.device_at)
            screening[(fac.id, d, "readings")] += 1
            if p.value >= pol.fever_threshold:
                screening[(fac.id, d, "fevers")] += 1
        rows.append(
            {
                "device_id": dev_id,
                "msg_key": key,
                "type": p.type,
                "value": p.value,
                "state": p.state,
                "device_at": p.device_at,
                "received_at": p.received_at,
                "stored_at": now,
                "channel": p.channel,
                "alert_id": alert_id,
            }
        )
    if changed:
        session.execute(update(Device), list(changed.values()))
    table = cast(Table, TelemetryMessage.__table__)
    try:
        with session.begin_nested():
            session.execute(table.insert(), rows)
        res.counts["stored"] += len(rows)
    except IntegrityError:  # a concurrent writer stored some of them: one by one
        for row in rows:
            try:
                with session.begin_nested():
                    session.execute(table.insert(), [row])
                res.counts["stored"] += 1
            except IntegrityError:
                res.counts["duplicate"] += 1
    _count_screening(session, screening)


def _count_screening(session: Session, screening: Counter[tuple[int, date, str]]) -> None:
    days = {(f, d) for f, d, _ in screening}
    for fac_id, d in days:
        row = session.scalar(
            select(ScreeningDay).where(ScreeningDay.facility_id == fac_id, ScreeningDay.day == d)
        )
        if row is None:
            row = ScreeningDay(facility_id=fac_id, day=d, readings=0, fevers=0)
            session.add(row)
        row.readings = (row.readings or 0) + screening[(fac_id, d, "readings")]
        row.fevers = (row.fevers or 0) + screening[(fac_id, d, "fevers")]
    session.flush()


def sweep_offline(session: Session, now: datetime | None = None, policy: Policy | None = None) -> list[int]:
    """Mark devices silent for longer than the policy allows offline, each with one alert."""
    pol = policy or builtin_policy()
    now = now or utcnow()
    cutoff = now - timedelta(seconds=pol.offline_after_seconds)
    out: list[int] = []
    stale = session.scalars(
        select(Device).where(
            Device.active.is_(True), Device.status == DeviceStatus.ONLINE, Device.last_seen_at < cutoff
        )
    )
    for dev in stale:
        fac = session.get(Facility, dev.facility_id)
        assert fac is not None and dev.last_seen_at is not None
        dev.status = DeviceStatus.OFFLINE
        alert, _ = intake(
            session,
            AlertIn(
                idempotency_key=f"dev-offline:{dev.code}:{dev.last_seen_at.isoformat()}"[:128],
                kind=AlertKind.DEVICE,
                severity=Severity.WARNING,
                occurred_at=min(dev.last_seen_at + timedelta(seconds=pol.offline_after_seconds), utcnow()),
                title=f"设备离线：{dev.name or dev.code}（{fac.name}）"[:200],
                description=f"last seen {dev.last_seen_at.isoformat()}",
                place_id=fac.place_id,
                camera_code=f"{dev.code}#status",
                source="facilities.devices",
            ),
            actor="facilities.devices",
        )
        out.append(alert.id)
    session.flush()
    return out


def message_json(device: str, key: int | str, type_: str, ts: float | str, **extra: Any) -> bytes:
    """A device message as devices (and the simulator) send it."""
    doc: dict[str, Any] = {"device": device, "type": type_, "ts": ts}
    doc["seq" if isinstance(key, int) else "msg_id"] = key
    doc.update(extra)
    return json.dumps(doc, separators=(",", ":")).encode()

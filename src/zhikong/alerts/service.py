"""Alert intake, routing, suppression and handling.

* **Idempotency**: every delivery carries a key; the same key with the same content returns the
  alert it created (a replay), the same key with other content is a ``Conflict``.
* **Routing**: the deepest unit containing the position (``geo.service.locate`` when available,
  else the nearest village centre), else the place's unit, else the unit given.
* **Suppression**: a delivery of the same kind at the same place/camera/~100 m cell within
  ``settings.alert_suppression_minutes`` of the last one, while the alert is still open, is folded
  into it (``count`` + 1, ``last_seen_at`` moved, severity raised).
* **Handling**: acknowledge, confirm (→ a task through ``tasks.service.create_task``) or dismiss with
  a reason; an explicit transition table, role and jurisdiction checked, audited.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from zhikong import audit
from zhikong.alerts.models import SEVERITY_RANK, Alert, AlertDelivery, AlertKind, AlertState, Severity
from zhikong.auth.models import Role, User
from zhikong.auth.service import restrict
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from zhikong.core.time import as_utc, utcnow
from zhikong.geo.models import AdminUnit, Place, UnitLevel
from zhikong.tasks.files import store_image
from zhikong.tasks.models import Priority, SubjectType, Task, TaskKind
from zhikong.tasks.service import create_task

OPEN = frozenset({AlertState.NEW, AlertState.ACKNOWLEDGED})
#: roles that handle alerts (duty staff); everyone else may only read
HANDLER_ROLES = frozenset(
    {
        Role.DISTRICT_COMMAND,
        Role.SUPERVISION,
        Role.TOWN_OPERATOR,
        Role.VILLAGE_OPERATOR,
        Role.VIDEO_PATROLLER,
        Role.ISOLATION_STAFF,
    }
)
#: (state, action) → new state
TRANSITIONS: dict[tuple[AlertState, str], AlertState] = {
    (AlertState.NEW, "acknowledge"): AlertState.ACKNOWLEDGED,
    (AlertState.NEW, "confirm"): AlertState.CONFIRMED,
    (AlertState.ACKNOWLEDGED, "confirm"): AlertState.CONFIRMED,
    (AlertState.NEW, "dismiss"): AlertState.DISMISSED,
    (AlertState.ACKNOWLEDGED, "dismiss"): AlertState.DISMISSED,
}
ACTIONS = ("acknowledge", "confirm", "dismiss")

TASK_KIND_FOR: dict[AlertKind, TaskKind] = {
    AlertKind.CROWD: TaskKind.VIDEO_ALARM,
    AlertKind.NO_MASK: TaskKind.VIDEO_ALARM,
    AlertKind.INTRUSION: TaskKind.VIDEO_ALARM,
    AlertKind.FEVER: TaskKind.FEVER,
    AlertKind.QUARANTINE_BREACH: TaskKind.CONTACT_QUARANTINE,
    AlertKind.DEVICE: TaskKind.OTHER,
    AlertKind.CITIZEN_REPORT: TaskKind.CITIZEN_REPORT,
    AlertKind.OTHER: TaskKind.OTHER,
}
PRIORITY_FOR: dict[Severity, Priority] = {
    Severity.INFO: Priority.NORMAL,
    Severity.WARNING: Priority.HIGH,
    Severity.CRITICAL: Priority.URGENT,
}

#: listeners called (in the writing process) after an alert is created or updated: live delivery
_listeners: list[Callable[[int], None]] = []


def add_listener(fn: Callable[[int], None]) -> None:
    _listeners.append(fn)


def _notify(alert_id: int) -> None:
    for fn in list(_listeners):
        with contextlib.suppress(Exception):  # a listener must not break intake
            fn(alert_id)


@dataclass
class AlertIn:
    """One delivery from a camera platform, a device, a fever station or a citizen channel."""

    idempotency_key: str
    kind: AlertKind
    occurred_at: datetime
    severity: Severity = Severity.WARNING
    title: str | None = None
    description: str = ""
    place_id: int | None = None
    place_code: str | None = None
    camera_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    unit_id: int | None = None
    snapshot: bytes | None = None
    source: str = "api"


def _request_hash(a: AlertIn) -> str:
    doc = {
        "kind": a.kind.value,
        "occurred_at": as_utc(a.occurred_at).isoformat(),
        "severity": a.severity.value,
        "title": a.title,
        "description": a.description,
        "place_id": a.place_id,
        "place_code": a.place_code,
        "camera_code": a.camera_code,
        "lat": a.lat,
        "lon": a.lon,
        "unit_id": a.unit_id,
        "snapshot": hashlib.sha256(a.snapshot).hexdigest() if a.snapshot else None,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def decode_snapshot(text: str | None) -> bytes | None:
    """Base64 text (optionally a ``data:`` URL) to bytes; ``InvalidInput`` on bad encoding."""
    if not text:
        return None
    if text.startswith("data:"):
        text = text.split(",", 1)[-1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput("snapshot is not valid base64", field="snapshot_base64") from e


def _locate(session: Session, lat: float, lon: float) -> AdminUnit | None:
    try:
        geo_service: Any = importlib.import_module("zhikong.geo.service")
    except ImportError:
        geo_service = None
    locate = getattr(geo_service, "locate", None)
    if locate is not None:
        unit = locate(session, lat, lon)
        if isinstance(unit, AdminUnit):
            return unit
        if isinstance(unit, int):
            return session.get(AdminUnit, unit)
        return None
    # fallback: the nearest village/community centre within ~5 km
    best: tuple[float, AdminUnit] | None = None
    for u in session.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.VILLAGE)):
        d = math.hypot((u.lat - lat) * 111.0, (u.lon - lon) * 111.0 * math.cos(math.radians(lat)))
        if best is None or d < best[0]:
            best = (d, u)
    return best[1] if best is not None and best[0] <= 5.0 else None


def _route(session: Session, a: AlertIn) -> tuple[AdminUnit, Place | None]:
    place: Place | None = None
    if a.place_id is not None:
        place = session.get(Place, a.place_id)
        if place is None:
            raise InvalidInput(f"unknown place {a.place_id}", field="place_id")
    elif a.place_code:
        place = session.scalar(select(Place).where(Place.code == a.place_code))
        if place is None:
            raise InvalidInput(f"unknown place {a.place_code!r}", field="place_code")
    if (a.lat is None) != (a.lon is None):
        raise InvalidInput("give both lat and lon", field="lat" if a.lat is None else "lon")
    if a.lat is not None and a.lon is not None:
        if not (-90 <= a.lat <= 90 and -180 <= a.lon <= 180):
            raise InvalidInput("position out of range", field="lat")
        unit = _locate(session, a.lat, a.lon)
        if unit is not None:
            return unit, place
    if place is not None:
        return place.unit, place
    if a.unit_id is not None:
        unit = session.get(AdminUnit, a.unit_id)
        if unit is None:
            raise InvalidInput(f"unknown administrative unit {a.unit_id}", field="unit_id")
        return unit, None
    raise InvalidInput(
        "cannot route the alert: give a place, a position inside the district or a unit", field="place_id"
    )


def _dedup_key(a: AlertIn, place: Place | None, unit: AdminUnit) -> str:
    if a.camera_code:
        where = f"camera:{a.camera_code}"
    elif place is not None:
        where = f"place:{place.id}"
    elif a.lat is not None and a.lon is not None:
        where = f"cell:{round(a.lat, 3)}:{round(a.lon, 3)}"
    else:
        where = f"unit:{unit.id}"
    return f"{a.kind.value}|{where}"[:128]


def intake(session: Session, a: AlertIn, actor: User | str | None = None) -> tuple[Alert, str]:
    """Take in one delivery; returns ``(alert, outcome)`` with outcome ``created``, ``suppressed``
    (folded into an open alert) or ``replayed`` (the same idempotency key seen before)."""
    key = (a.idempotency_key or "").strip()
    if not key or len(key) > 128:
        raise InvalidInput("an idempotency key of 1 to 128 characters is required", field="idempotency_key")
    req_hash = _request_hash(a)
    seen = session.scalar(select(AlertDelivery).where(AlertDelivery.idempotency_key == key))
    if seen is not None:
        if seen.request_hash != req_hash:
            raise Conflict(
                f"idempotency key {key!r} was already used for a different alert", field="idempotency_key"
            )
        alert = session.get(Alert, seen.alert_id)
        assert alert is not None
        return alert, "replayed"
    now = utcnow()
    occurred = as_utc(a.occurred_at)
    if occurred > now + timedelta(minutes=5):
        raise InvalidInput("occurred_at is in the future", field="occurred_at")
    title = (a.title or "").strip()[:200]
    if a.camera_code is not None and not (0 < len(a.camera_code) <= 64):
        raise InvalidInput("camera_code must have 1 to 64 characters", field="camera_code")
    unit, place = _route(session, a)
    snapshot_path = store_image(a.snapshot, "alerts", field="snapshot_base64")[0] if a.snapshot else None
    dedup = _dedup_key(a, place, unit)
    window = timedelta(minutes=get_settings().alert_suppression_minutes)
    existing = (
        session.scalar(
            select(Alert)
            .where(
                Alert.dedup_key == dedup,
                Alert.state.in_(list(OPEN)),
                Alert.last_seen_at >= occurred - window,
                Alert.occurred_at <= occurred + window,
            )
            .order_by(Alert.last_seen_at.desc())
            .limit(1)
        )
        if window.total_seconds() > 0
        else None
    )
    if existing is not None:
        existing.count = (existing.count or 1) + 1
        existing.last_seen_at = max(existing.last_seen_at, occurred)
        if SEVERITY_RANK[a.severity] > SEVERITY_RANK[existing.severity]:
            existing.severity = a.severity
        if snapshot_path and not existing.snapshot_path:
            existing.snapshot_path = snapshot_path
        alert, outcome = existing, "suppressed"
    else:
        label = place.name if place is not None else (a.camera_code or unit.name)
        alert = Alert(
            kind=a.kind,
            severity=a.severity,
            state=AlertState.NEW,
            title=title or f"{a.kind.value} @ {label}",
            description=(a.description or "")[:5000],
            unit_id=unit.id,
            place_id=place.id if place else None,
            camera_code=a.camera_code,
            lat=a.lat,
            lon=a.lon,
            dedup_key=dedup,
            source=(a.source or "api")[:64],
            occurred_at=occurred,
            last_seen_at=occurred,
            count=1,
            snapshot_path=snapshot_path,
            created_at=now,
        )
        session.add(alert)
        outcome = "created"
    try:
        with session.begin_nested():
            session.flush()
            session.add(
                AlertDelivery(idempotency_key=key, request_hash=req_hash, alert_id=alert.id, created_at=now)
            )
            session.flush()
    except IntegrityError as e:
        raise Conflict(
            f"idempotency key {key!r} is being delivered concurrently; retry", field="idempotency_key"
        ) from e
    except StaleDataError as e:
        raise Conflict("the alert was changed concurrently; retry the delivery") from e
    audit.record(
        session,
        actor or a.source,
        f"alert.{'intake' if outcome == 'created' else 'suppress'}",
        "alert",
        alert.id,
        {"key": key, "kind": a.kind.value, "unit_id": unit.id, "count": alert.count},
    )
    session.info.setdefault("after_commit_alerts", []).append(alert.id)
    return alert, outcome


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """Wake live streams of the alerts written in the committed transaction."""
    for alert_id in session.info.pop("after_commit_alerts", []):
        _notify(alert_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("after_commit_alerts", None)


def get_alert(session: Session, user: User, alert_id: int) -> Alert:
    alert = session.scalar(restrict(select(Alert).where(Alert.id == alert_id), user, Alert.unit_id))
    if alert is None:
        raise NotFound(f"no alert {alert_id} in your jurisdiction", field="alert_id")
    return alert


def list_alerts(
    session: Session,
    user: User,
    *,
    state: list[AlertState] | None = None,
    kind: AlertKind | None = None,
    after_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Alert], int]:
    stmt = restrict(select(Alert), user, Alert.unit_id)
    if state:
        stmt = stmt.where(Alert.state.in_(state))
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if after_id is not None:
        stmt = stmt.where(Alert.id > after_id)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(Alert.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def new_since(session: Session, user: User, after_id: int, limit: int = 100) -> list[Alert]:
    """Alerts in the user's jurisdiction with id above ``after_id``, oldest first (live stream)."""
    stmt = restrict(select(Alert).where(Alert.id > after_id), user, Alert.unit_id)
    return list(session.scalars(stmt.order_by(Alert.id).limit(limit)))


def act(
    session: Session,
    user: User,
    alert_id: int,
    action: str,
    *,
    version: int | None = None,
    reason: str | None = None,
    task_title: str | None = None,
    deadline: datetime | None = None,
) -> Alert:
    """``acknowledge``, ``confirm`` (creates a task) or ``dismiss`` (needs a reason)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", field="action")
    if user.role not in HANDLER_ROLES:
        raise PermissionDenied(f"role {user.role.value} may not handle alerts", field="action")
    alert = get_alert(session, user, alert_id)
    if version is not None and version != alert.version:
        raise Conflict(
            f"alert {alert.id} is at version {alert.version}, not {version}; reload and retry",
            field="version",
        )
    new_state = TRANSITIONS.get((alert.state, action))
    if new_state is None:
        raise Conflict(
            f"an alert in state {alert.state.value} cannot be {action}d: illegal transition", field="action"
        )
    why = (reason or "").strip() or None
    if action == "dismiss" and not why:
        raise InvalidInput("give the reason for dismissing the alert", field="reason")
    from_state = alert.state
    now = utcnow()
    if action == "confirm":
        task: Task = create_task(
            session,
            kind=TASK_KIND_FOR[alert.kind],
            unit_id=alert.unit_id,
            title=(task_title or f"处置告警 #{alert.id}: {alert.title}")[:200],
            description=alert.description or "",
            priority=PRIORITY_FOR[alert.severity],
            subject_type=SubjectType.ALERT,
            subject_id=alert.id,
            source="alerts",
            actor=user,
            deadline=deadline,
        )
        alert.task_id = task.id
    alert.state = new_state
    alert.handled_by_id = user.id
    alert.handled_at = now
    if action == "dismiss":
        alert.dismiss_reason = why
    alert_id = alert.id
    try:
        session.flush()
    except StaleDataError as e:
        raise Conflict(
            f"alert {alert_id} was changed by someone else; reload and retry", field="version"
        ) from e
    audit.record(
        session,
        user,
        f"alert.{action}",
        "alert",
        alert.id,
        {"from": from_state.value, "to": new_state.value, "reason": why, "task_id": alert.task_id},
    )
    session.info.setdefault("after_commit_alerts", []).append(alert.id)
    return alert

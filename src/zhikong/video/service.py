"""Camera registry, alarm storage and forwarding to the alert intake, patrols.

Services take a session (or an engine for the thread-safe sink) and plain data; no web or CLI here.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.core.crypto import get_cipher
from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, InvalidInput, NotFound
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.geo.models import AdminUnit, Place
from zhikong.video.alarms import Alarm, AlarmKind
from zhikong.video.models import (
    FINDING_LABELS,
    AlarmStatus,
    Camera,
    CameraStatus,
    FindingKind,
    PatrolFinding,
    PatrolPlan,
    VideoAlarm,
)
from zhikong.video.schemas import CameraIn, CameraRules, ScheduleWindow, parse_rules


# ---- cameras ------------------------------------------------------------------------------
def register_camera(session: Session, data: CameraIn) -> Camera:
    """Add (or update, by code) a camera; credentials are stored encrypted."""
    rules = parse_rules(data.code, data.rules) if data.rules is not None else None
    place = None
    if data.place_code:
        place = session.scalar(select(Place).where(Place.code == data.place_code))
        if place is None:
            raise InvalidInput(
                f"camera {data.code}: place {data.place_code} does not exist", field="place_code"
            )
    unit_id = place.unit_id if place is not None else None
    if data.unit_code:
        unit = session.scalar(select(AdminUnit).where(AdminUnit.code == data.unit_code))
        if unit is None:
            raise InvalidInput(f"camera {data.code}: unit {data.unit_code} does not exist", field="unit_code")
        unit_id = unit.id
    cam = session.scalar(select(Camera).where(Camera.code == data.code))
    if cam is None:
        cam = Camera(code=data.code)
        session.add(cam)
    cipher = get_cipher()
    cam.name = data.name
    cam.stream_url = data.stream_url
    cam.place_id = place.id if place is not None else None
    cam.unit_id = unit_id
    cam.lat = data.lat if data.lat is not None else (place.lat if place is not None else None)
    cam.lon = data.lon if data.lon is not None else (place.lon if place is not None else None)
    cam.username_enc = cipher.encrypt(data.username) if data.username else None
    cam.password_enc = cipher.encrypt(data.password) if data.password else None
    cam.rules_json = rules.model_dump_json() if rules is not None else None
    schedule = [w.model_dump(mode="json") for w in data.schedule]
    cam.schedule_json = json.dumps(schedule) if schedule else None
    cam.enabled = True
    session.flush()
    return cam


def get_camera(session: Session, code: str) -> Camera:
    cam = session.scalar(select(Camera).where(Camera.code == code))
    if cam is None:
        raise NotFound(f"camera {code} does not exist")
    return cam


def camera_rules(cam: Camera) -> CameraRules | None:
    return parse_rules(cam.code, json.loads(cam.rules_json)) if cam.rules_json else None


def camera_schedule(cam: Camera) -> list[ScheduleWindow]:
    return [ScheduleWindow.model_validate(w) for w in json.loads(cam.schedule_json or "[]")]


def armed(schedule: list[ScheduleWindow], at: datetime) -> bool:
    """Rules are armed at ``at`` (no schedule = always)."""
    local = at.astimezone(CHINA_TZ).replace(tzinfo=None)
    return not schedule or any(w.contains(local) for w in schedule)


def camera_credentials(cam: Camera) -> tuple[str | None, str | None]:
    cipher = get_cipher()
    user = cipher.decrypt(cam.username_enc) if cam.username_enc else None
    password = cipher.decrypt(cam.password_enc) if cam.password_enc else None
    return user, password


def list_cameras(session: Session, unit_code: str | None = None, enabled_only: bool = False) -> list[Camera]:
    """Cameras of a unit and every unit under it (all cameras without ``unit_code``)."""
    stmt = select(Camera).order_by(Camera.code)
    if unit_code:
        unit = session.scalar(select(AdminUnit).where(AdminUnit.code == unit_code))
        if unit is None:
            raise NotFound(f"unit {unit_code} does not exist")
        sub = select(AdminUnit.id).where(AdminUnit.path.startswith(unit.path))
        stmt = stmt.where(Camera.unit_id.in_(sub))
    if enabled_only:
        stmt = stmt.where(Camera.enabled.is_(True))
    return list(session.scalars(stmt))


def unit_code_of(session: Session, cam: Camera) -> str | None:
    if cam.unit_id is None:
        return None
    return session.scalar(select(AdminUnit.code).where(AdminUnit.id == cam.unit_id))


def open_alarms(session: Session, camera_ids: list[int] | None = None, limit: int = 200) -> list[VideoAlarm]:
    stmt = select(VideoAlarm).where(VideoAlarm.status == AlarmStatus.OPEN)
    if camera_ids is not None:
        stmt = stmt.where(VideoAlarm.camera_id.in_(camera_ids))
    return list(session.scalars(stmt.order_by(VideoAlarm.at.desc()).limit(limit)))


def open_alarm_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(VideoAlarm.camera_id, func.count())
        .where(VideoAlarm.status == AlarmStatus.OPEN)
        .group_by(VideoAlarm.camera_id)
    )
    return {int(cid): int(n) for cid, n in rows}


def close_handled_alarms(session: Session) -> int:
    """Close open video alarms whose alert was confirmed into a task or dismissed; how many.

    The alert console (any path: web, API, CLI) decides an alert; the video side follows at its
    next read (wall, API, ``video list``) and at once for a patrol finding turned into a task.
    """
    from zhikong.alerts.models import Alert, AlertState

    handled = select(Alert.id).where(Alert.state.in_([AlertState.CONFIRMED, AlertState.DISMISSED]))
    rows = list(session.scalars(
        select(VideoAlarm).where(VideoAlarm.status == AlarmStatus.OPEN, VideoAlarm.alert_id.in_(handled))
    ))
    for a in rows:
        a.status = AlarmStatus.CLOSED
    if rows:
        session.flush()
    return len(rows)


def alarm_tasks(session: Session, alarms: list[VideoAlarm]) -> dict[int, int]:
    """Video alarm id → id of the task its alert was confirmed into (alarms without one omitted)."""
    from zhikong.alerts.models import Alert

    ids = {a.alert_id: a.id for a in alarms if a.alert_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Alert.id, Alert.task_id).where(Alert.id.in_(ids), Alert.task_id.is_not(None))
    )
    return {ids[aid]: int(tid) for aid, tid in rows if tid is not None}


def recent_task_alarms(
    session: Session, camera_ids: list[int], hours: int = 24, limit: int = 200
) -> list[VideoAlarm]:
    """Closed alarms of these cameras from the last ``hours`` whose alert became a task."""
    from zhikong.alerts.models import Alert

    since = utcnow() - timedelta(hours=hours)
    with_task = select(Alert.id).where(Alert.task_id.is_not(None))
    stmt = (select(VideoAlarm)
            .where(VideoAlarm.status == AlarmStatus.CLOSED, VideoAlarm.camera_id.in_(camera_ids),
                   VideoAlarm.at >= since, VideoAlarm.alert_id.in_(with_task))
            .order_by(VideoAlarm.at.desc()).limit(limit))
    return list(session.scalars(stmt))


def close_alarm(session: Session, alarm_id: int) -> VideoAlarm:
    alarm = session.get(VideoAlarm, alarm_id)
    if alarm is None:
        raise NotFound(f"video alarm {alarm_id} does not exist")
    alarm.status = AlarmStatus.CLOSED
    return alarm


def set_camera_status(
    session: Session, code: str, status: CameraStatus, *, frame_at: datetime | None = None,
    error: str | None = None,
) -> None:
    cam = get_camera(session, code)
    cam.status = status
    if frame_at is not None:
        cam.last_frame_at = frame_at
    cam.last_error = error[:500] if error else None


# ---- alarms -------------------------------------------------------------------------------
def store_alarm(session: Session, alarm: Alarm, snapshot_dir: Path, data_dir: Path) -> VideoAlarm | None:
    """Store one alarm (once per key) with its snapshot; returns None for a repeated key."""
    cam = get_camera(session, alarm.camera)
    if session.scalar(select(VideoAlarm.id).where(VideoAlarm.key == alarm.key)) is not None:
        return None
    snap = None
    if alarm.snapshot_jpeg:
        day = alarm.at.astimezone(CHINA_TZ).strftime("%Y-%m-%d")
        path = snapshot_dir / day / f"{cam.code}-{alarm.kind}-{int(alarm.at.timestamp() * 1000)}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(alarm.snapshot_jpeg)
        try:
            snap = path.relative_to(data_dir).as_posix()
        except ValueError:
            snap = path.as_posix()
    row = VideoAlarm(
        camera_id=cam.id, kind=alarm.kind, key=alarm.key, zone=alarm.zone, people=alarm.people,
        message=alarm.message[:500], at=alarm.at, stored_at=utcnow(), snapshot_path=snap,
        detail_json=json.dumps(alarm.detail, default=str) if alarm.detail else None,
    )
    if alarm.kind == AlarmKind.CAMERA_ONLINE:
        row.status = AlarmStatus.CLOSED
        for prev in session.scalars(
            select(VideoAlarm).where(
                VideoAlarm.camera_id == cam.id, VideoAlarm.kind == AlarmKind.CAMERA_OFFLINE,
                VideoAlarm.status == AlarmStatus.OPEN,
            )
        ):
            prev.status = AlarmStatus.CLOSED
    session.add(row)
    session.flush()
    row.alert_id = forward_to_alerts(session, alarm, cam, snap)
    return row


#: video alarm kinds → alert kinds of the intake (camera online is a recovery: not forwarded)
ALERT_KINDS = {
    AlarmKind.CROWD: "crowd",
    AlarmKind.INTRUSION: "intrusion",
    AlarmKind.LOITERING: "intrusion",
    AlarmKind.CAMERA_OFFLINE: "device",
}
FINDING_ALERT_KINDS = {"gathering": "crowd", "no_masks": "no_mask"}


def forward_to_alerts(session: Session, alarm: Alarm, cam: Camera, snapshot: str | None) -> int | None:
    """Hand the alarm to the alert intake, routed to the unit of the camera's place.

    The alarm's key is the intake's idempotency key, so a retried delivery is a replay, never a
    second alert. Returns the alert id (None when the alarm is not forwarded).
    """
    from zhikong.alerts.models import AlertKind, Severity
    from zhikong.alerts.service import AlertIn, intake

    if alarm.kind == AlarmKind.PATROL_FINDING:
        kind = FINDING_ALERT_KINDS.get(str(alarm.detail.get("finding")), "other")
    elif alarm.kind in ALERT_KINDS:
        kind = ALERT_KINDS[alarm.kind]
    else:
        return None
    if cam.place_id is None and cam.unit_id is None:
        return None  # nowhere to route it; the video alarm itself is kept
    key = alarm.key if len(alarm.key) <= 128 else "video:" + hashlib.sha256(alarm.key.encode()).hexdigest()
    severity = Severity.CRITICAL if alarm.kind == AlarmKind.INTRUSION else Severity.WARNING
    where = f"，区域 {alarm.zone}" if alarm.zone else ""
    detail = f"{alarm.message}（摄像头 {cam.name} {cam.code}{where}）"
    alert, _outcome = intake(
        session,
        AlertIn(
            idempotency_key=key, kind=AlertKind(kind), occurred_at=alarm.at, severity=severity,
            title=f"{alarm.title}：{cam.name}", description=detail, place_id=cam.place_id,
            camera_code=cam.code, unit_id=cam.unit_id, snapshot=alarm.snapshot_jpeg, source="video",
        ),
        actor="video",
    )
    return int(alert.id)


@dataclass
class LatencySample:
    kind: str
    seconds: float


class StoringSink:
    """The real sink: stores each alarm (and forwards it to the alert intake) in its own unit of work.

    Thread-safe; records the latency from the frame that completed the rule to the stored alarm.
    """

    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.snapshot_dir = data_dir / "video" / "snapshots"
        self.latencies: list[LatencySample] = []
        self.errors: list[str] = []
        self.stored = 0
        self._lock = threading.Lock()

    def deliver(self, alarm: Alarm) -> None:
        try:
            with unit_of_work(self.engine) as s:
                stored = store_alarm(s, alarm, self.snapshot_dir, self.data_dir)
        except (Conflict, NotFound, InvalidInput) as e:
            with self._lock:
                self.errors.append(f"{alarm.camera}: {e}")
            return
        if stored is not None:
            with self._lock:
                self.stored += 1
        if stored is not None and alarm.frame_clock is not None:
            with self._lock:
                self.latencies.append(LatencySample(str(alarm.kind), time.perf_counter() - alarm.frame_clock))


# ---- patrols ------------------------------------------------------------------------------
def _check_plan(
    session: Session, name: str, patroller: str, camera_codes: list[str], interval_s: int
) -> None:
    if not name.strip() or len(name) > 128:
        raise InvalidInput("a patrol plan needs a name of 1 to 128 characters", field="name")
    if not patroller.strip() or len(patroller) > 64:
        raise InvalidInput("a patrol plan needs a patroller (user name, at most 64 characters)",
                           field="patroller")
    if not camera_codes:
        raise InvalidInput("a patrol plan needs at least one camera", field="cameras")
    if len(set(camera_codes)) != len(camera_codes):
        raise InvalidInput("a camera appears twice in the patrol plan", field="cameras")
    if not 5 <= interval_s <= 3600:
        raise InvalidInput("interval_s must be between 5 and 3600 seconds", field="interval_s")
    for code in camera_codes:
        get_camera(session, code)


def update_patrol_plan(
    session: Session, plan: PatrolPlan, *, name: str, patroller: str, camera_codes: list[str],
    interval_s: int, active: bool = True,
) -> PatrolPlan:
    """Change a plan (same checks as creating one); an inactive plan leaves the patrol lists."""
    _check_plan(session, name, patroller, camera_codes, interval_s)
    plan.name, plan.patroller, plan.interval_s = name.strip(), patroller.strip(), interval_s
    plan.cameras_json = json.dumps(camera_codes)
    plan.active = active
    session.flush()
    return plan


def create_patrol_plan(
    session: Session, name: str, patroller: str, camera_codes: list[str], interval_s: int = 20,
    unit_code: str | None = None,
) -> PatrolPlan:
    _check_plan(session, name, patroller, camera_codes, interval_s)
    unit_id = None
    if unit_code:
        unit_id = session.scalar(select(AdminUnit.id).where(AdminUnit.code == unit_code))
        if unit_id is None:
            raise InvalidInput(f"unit {unit_code} does not exist", field="unit_code")
    plan = PatrolPlan(name=name, patroller=patroller, cameras_json=json.dumps(camera_codes),
                      interval_s=interval_s, unit_id=unit_id)
    session.add(plan)
    session.flush()
    return plan


def patrol_cameras(plan: PatrolPlan) -> list[str]:
    return list(json.loads(plan.cameras_json))


def patrol_position(plan: PatrolPlan, now: datetime) -> tuple[str, int]:
    """The camera on the patroller's screen at ``now`` and seconds until the next one."""
    cams = patrol_cameras(plan)
    elapsed = int((now - plan.created_at).total_seconds())
    slot = (elapsed // plan.interval_s) % len(cams)
    return cams[slot], plan.interval_s - elapsed % plan.interval_s


def record_finding(
    session: Session, camera_code: str, kind: FindingKind, patroller: str, note: str = "",
    snapshot_jpeg: bytes | None = None, plan_id: int | None = None, *, data_dir: Path,
) -> PatrolFinding:
    """Record a patrol finding; it raises a video alarm (→ alert → task) for the camera's unit."""
    cam = get_camera(session, camera_code)
    now = utcnow()
    finding = PatrolFinding(plan_id=plan_id, camera_id=cam.id, kind=kind, note=note[:500],
                            patroller=patroller, found_at=now)
    session.add(finding)
    session.flush()
    alarm = Alarm(
        camera=cam.code, kind=AlarmKind.PATROL_FINDING, at=now,
        key=f"video:{cam.code}:patrol:{finding.id}",
        message=f"视频巡查发现：{FINDING_LABELS.get(FindingKind(kind), str(kind))}（{patroller}）{note}",
        snapshot_jpeg=snapshot_jpeg,
        detail={"finding": kind.value, "patroller": patroller},
    )
    row = store_alarm(session, alarm, data_dir / "video" / "snapshots", data_dir)
    if row is not None:
        finding.alarm_id = row.id
        finding.snapshot_path = row.snapshot_path
    return finding


def finding_to_task(session: Session, user: User, finding: PatrolFinding) -> int | None:
    """Confirm the alert a finding raised into a task (through the alert console's rule); its id."""
    from zhikong.alerts.service import act

    alarm = session.get(VideoAlarm, finding.alarm_id) if finding.alarm_id else None
    if alarm is None or alarm.alert_id is None:
        return None
    alert = act(session, user, alarm.alert_id, "confirm",
                task_title=f"视频巡查：{alarm.message}"[:200])
    alarm.status = AlarmStatus.CLOSED  # the task carries it on; the wall links the task
    session.flush()
    return alert.task_id


def visible_patrol_plans(session: Session, user: User, *, inactive: bool = False) -> list[PatrolPlan]:
    """Active (with ``inactive``: all) patrol plans whose cameras all lie in the user's
    jurisdiction, the user's own first."""
    from zhikong.auth.service import restrict

    visible = set(session.scalars(restrict(select(Camera.code), user, Camera.unit_id)))
    stmt = select(PatrolPlan).order_by(PatrolPlan.id)
    if not inactive:
        stmt = stmt.where(PatrolPlan.active.is_(True))
    plans = session.scalars(stmt)
    out = [p for p in plans if set(patrol_cameras(p)) <= visible]
    return sorted(out, key=lambda p: (p.patroller != user.username, p.id))


def visible_patrol_plan(session: Session, user: User, plan_id: int, *, inactive: bool = False) -> PatrolPlan:
    """One patrol plan the user may run (or edit, with ``inactive``); another unit's plan is
    NotFound, never its cameras."""
    for plan in visible_patrol_plans(session, user, inactive=inactive):
        if plan.id == plan_id:
            return plan
    raise NotFound(f"patrol plan {plan_id} does not exist")

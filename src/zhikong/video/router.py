"""``/api/video``: cameras by jurisdiction, latest frames, open alarms, patrols (the video wall's API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from zhikong.auth.service import restrict
from zhikong.core.config import get_settings
from zhikong.core.errors import NotFound
from zhikong.core.time import utcnow
from zhikong.video.models import AlarmStatus, Camera, FindingKind, PatrolPlan, VideoAlarm
from zhikong.video.schemas import AlarmOut, CameraOut
from zhikong.video.service import (
    close_handled_alarms,
    create_patrol_plan,
    open_alarm_counts,
    patrol_cameras,
    patrol_position,
)
from zhikong.video.service import record_finding as record_finding_service
from zhikong.web.deps import CurrentUser, IdPath, SessionDep

router = APIRouter(prefix="/api/video", tags=["video"])


def _camera(session: SessionDep, user: CurrentUser, code: str) -> Camera:
    cam = session.scalar(restrict(select(Camera).where(Camera.code == code), user, Camera.unit_id))
    if cam is None:
        raise NotFound(f"camera {code} does not exist")
    return cam


def _unit_codes(session: SessionDep, cams: list[Camera]) -> dict[int, str]:
    from zhikong.geo.models import AdminUnit

    ids = {c.unit_id for c in cams if c.unit_id is not None}
    if not ids:
        return {}
    rows = session.execute(select(AdminUnit.id, AdminUnit.code).where(AdminUnit.id.in_(ids))).tuples()
    return {uid: code for uid, code in rows}


def _alarm_out(a: VideoAlarm, code: str) -> AlarmOut:
    return AlarmOut(
        id=a.id, camera_code=code, kind=str(a.kind), zone=a.zone, people=a.people, message=a.message,
        at=a.at, stored_at=a.stored_at, status=str(a.status),
        snapshot_url=f"/api/video/alarms/{a.id}/snapshot.jpg" if a.snapshot_path else None,
    )


@router.get("/cameras", response_model=list[CameraOut])
def list_cameras(session: SessionDep, user: CurrentUser,
                 unit: Annotated[str | None, Query(description="only this unit and below")] = None
                 ) -> list[CameraOut]:
    """Cameras in your jurisdiction with status and open alarm counts."""
    stmt = restrict(select(Camera).order_by(Camera.code), user, Camera.unit_id)
    if unit:
        from zhikong.geo.models import AdminUnit

        u = session.scalar(select(AdminUnit).where(AdminUnit.code == unit))
        if u is None:
            raise NotFound(f"unit {unit} does not exist")
        stmt = stmt.where(Camera.unit_id.in_(select(AdminUnit.id).where(AdminUnit.path.startswith(u.path))))
    close_handled_alarms(session)
    cams = list(session.scalars(stmt))
    counts = open_alarm_counts(session)
    units = _unit_codes(session, cams)
    place_codes: dict[int, str] = {}
    place_ids = {c.place_id for c in cams if c.place_id is not None}
    if place_ids:
        from zhikong.geo.models import Place

        rows = session.execute(select(Place.id, Place.code).where(Place.id.in_(place_ids))).tuples()
        place_codes = {pid: code for pid, code in rows}
    return [
        CameraOut(id=c.id, code=c.code, name=c.name, place_code=place_codes.get(c.place_id or 0),
                  unit_code=units.get(c.unit_id or 0), lat=c.lat, lon=c.lon, status=str(c.status),
                  last_frame_at=c.last_frame_at, open_alarms=counts.get(c.id, 0))
        for c in cams
    ]


@router.get("/cameras/{code}/latest.jpg", response_class=FileResponse)
def latest_frame(code: str, session: SessionDep, user: CurrentUser) -> FileResponse:
    """The latest frame of a camera (boxes drawn), as written by the stream worker."""
    cam = _camera(session, user, code)
    path = get_settings().data_dir / "video" / "latest" / f"{cam.code}.jpg"
    if not path.is_file():
        raise NotFound(f"camera {code} has no frame yet")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/alarms", response_model=list[AlarmOut])
def list_alarms(
    session: SessionDep, user: CurrentUser,
    camera: Annotated[str | None, Query()] = None,
    status: Annotated[str, Query(pattern="^(open|closed|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlarmOut]:
    """Video alarms on cameras in your jurisdiction, newest first (closed once handled as alerts)."""
    close_handled_alarms(session)
    visible = restrict(select(Camera.id), user, Camera.unit_id)
    stmt = select(VideoAlarm, Camera.code).join(Camera).where(Camera.id.in_(visible))
    if camera:
        stmt = stmt.where(Camera.code == camera)
    if status != "all":
        stmt = stmt.where(VideoAlarm.status == AlarmStatus(status))
    rows = session.execute(stmt.order_by(VideoAlarm.at.desc(), VideoAlarm.id.desc()).limit(limit)).tuples()
    return [_alarm_out(a, code) for a, code in rows]


@router.get("/alarms/{alarm_id}/snapshot.jpg", response_class=FileResponse)
def alarm_snapshot(alarm_id: IdPath, session: SessionDep, user: CurrentUser) -> FileResponse:
    """The JPEG snapshot of an alarm."""
    stmt = restrict(select(VideoAlarm).join(Camera).where(VideoAlarm.id == alarm_id), user, Camera.unit_id)
    alarm = session.scalar(stmt)
    if alarm is None or not alarm.snapshot_path:
        raise NotFound(f"video alarm {alarm_id} has no snapshot")
    path = get_settings().data_dir / alarm.snapshot_path
    if not path.is_file():
        raise NotFound(f"the snapshot of video alarm {alarm_id} is missing")
    return FileResponse(path, media_type="image/jpeg")


class PatrolIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    cameras: list[str] = Field(min_length=1, max_length=200)
    interval_s: int = Field(default=20, ge=5, le=3600)
    patroller: str | None = None


class PatrolOut(BaseModel):
    id: int
    name: str
    patroller: str
    interval_s: int
    cameras: list[str]
    current_camera: str
    seconds_left: int
    latest_frame_url: str


def _patrol_out(plan: PatrolPlan) -> PatrolOut:
    cam, left = patrol_position(plan, utcnow())
    return PatrolOut(id=plan.id, name=plan.name, patroller=plan.patroller, interval_s=plan.interval_s,
                     cameras=patrol_cameras(plan), current_camera=cam, seconds_left=left,
                     latest_frame_url=f"/api/video/cameras/{cam}/latest.jpg")


@router.post("/patrols", response_model=PatrolOut, status_code=201)
def create_patrol(body: PatrolIn, session: SessionDep, user: CurrentUser) -> PatrolOut:
    """Create a patrol plan over cameras in your jurisdiction."""
    for code in body.cameras:
        _camera(session, user, code)
    plan = create_patrol_plan(session, body.name, body.patroller or user.username, body.cameras,
                              body.interval_s)
    return _patrol_out(plan)


@router.get("/patrols/{plan_id}", response_model=PatrolOut)
def get_patrol(plan_id: IdPath, session: SessionDep, user: CurrentUser) -> PatrolOut:
    """A patrol plan and the camera on the patroller's screen now."""
    plan = session.get(PatrolPlan, plan_id)
    if plan is None:
        raise NotFound(f"patrol plan {plan_id} does not exist")
    for code in patrol_cameras(plan):
        _camera(session, user, code)
    return _patrol_out(plan)


class FindingIn(BaseModel):
    camera: str
    kind: FindingKind
    note: str = Field(default="", max_length=500)
    plan_id: int | None = None


class FindingOut(BaseModel):
    id: int
    alarm_id: int | None
    snapshot_url: str | None


@router.post("/findings", response_model=FindingOut, status_code=201)
def record_finding(body: FindingIn, session: SessionDep, user: CurrentUser) -> FindingOut:
    """Record what the patroller saw on a camera; the latest frame is the snapshot; it becomes an alert."""
    cam = _camera(session, user, body.camera)
    settings = get_settings()
    latest = settings.data_dir / "video" / "latest" / f"{cam.code}.jpg"
    snap = latest.read_bytes() if latest.is_file() else None
    f = record_finding_service(session, cam.code, body.kind, user.username, body.note, snap, body.plan_id,
                               data_dir=settings.data_dir)
    url = f"/api/video/alarms/{f.alarm_id}/snapshot.jpg" if f.alarm_id and f.snapshot_path else None
    return FindingOut(id=f.id, alarm_id=f.alarm_id, snapshot_url=url)

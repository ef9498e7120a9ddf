"""Demo step: buildings, rooms and beds for the demo isolation points, 200+ devices, the
administrative centre's thermal screening point, a few occupants and village follow-ups."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.core.db import unit_of_work
from zhikong.core.time import utcnow
from zhikong.facilities import followup, service
from zhikong.facilities.models import (
    Building,
    Device,
    DeviceKind,
    Facility,
    FacilityKind,
    Followup,
    FollowupState,
    Measure,
    Room,
)
from zhikong.geo.models import Place, PlaceKind
from zhikong.people.models import Person

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def seed_structure(session: Session) -> dict[str, int]:
    """Idempotent: 2 buildings × 3 floors × 8 single rooms per isolation point; per point 4 cameras,
    1 thermal camera, a door sensor on each of the first 8 rooms, 1 smoke sensor; 2 thermal cameras
    at the administrative centre entrance."""
    made = {"facilities": 0, "beds": 0, "devices": 0}
    points = session.scalars(
        select(Place).where(Place.kind == PlaceKind.ISOLATION_POINT).order_by(Place.code)
    )
    for k, place in enumerate(points, start=1):
        fac = service.ensure_facility(session, place)
        if not session.scalar(
            select(func.count()).select_from(Building).where(Building.facility_id == fac.id)
        ):
            made["facilities"] += 1
            for b in ("A", "B"):
                service.add_building(session, fac, f"{b}栋", floors=3, rooms_per_floor=8)
                made["beds"] += 24
        rooms = session.scalars(select(Room).where(Room.facility_id == fac.id).order_by(Room.id)).all()
        devs = [
            Device(
                code=f"IP{k:02d}-CAM{i}",
                kind=DeviceKind.CAMERA,
                facility_id=fac.id,
                name=f"第{k}隔离点 摄像机{i}",
            )
            for i in range(1, 5)
        ]
        devs.append(
            Device(
                code=f"IP{k:02d}-TC1",
                kind=DeviceKind.THERMAL_CAMERA,
                facility_id=fac.id,
                name=f"第{k}隔离点 热成像测温",
            )
        )
        devs += [
            Device(
                code=f"IP{k:02d}-DOOR-{r.number}",
                kind=DeviceKind.DOOR_SENSOR,
                facility_id=fac.id,
                room_id=r.id,
                name=f"第{k}隔离点 {r.number}门磁",
            )
            for r in rooms[:8]
        ]
        devs.append(
            Device(
                code=f"IP{k:02d}-SMK1", kind=DeviceKind.SMOKE, facility_id=fac.id, name=f"第{k}隔离点 烟感"
            )
        )
        have = set(session.scalars(select(Device.code).where(Device.facility_id == fac.id)))
        new = [d for d in devs if d.code not in have]
        session.add_all(new)
        made["devices"] += len(new)
    centre = session.scalar(select(Place).where(Place.kind == PlaceKind.ADMIN_CENTRE).order_by(Place.id))
    if centre is not None:
        scr = service.ensure_facility(session, centre, FacilityKind.SCREENING_POINT)
        for i in (1, 2):
            code = f"ADM-TC{i}"
            if session.scalar(select(Device.id).where(Device.code == code)) is None:
                session.add(
                    Device(
                        code=code,
                        kind=DeviceKind.THERMAL_CAMERA,
                        facility_id=scr.id,
                        name=f"行政中心入口热成像{i}",
                    )
                )
                made["devices"] += 1
    session.flush()
    return made


def seed_occupants(session: Session, n: int = 12, seed: int = 1) -> int:
    """Admit ``n`` ledger persons (spread over the points, admitted 0–6 days ago) with a few checks,
    and put ``n // 3`` more under home monitoring. Skipped when follow-ups exist already."""
    if session.scalar(select(func.count()).select_from(Followup)):
        return 0
    rng = random.Random(seed)
    persons = session.scalars(select(Person).order_by(Person.id).limit(n + n // 3)).all()
    facs = session.scalars(
        select(Facility).where(Facility.kind == FacilityKind.ISOLATION_POINT).order_by(Facility.id)
    ).all()
    if not persons or not facs:
        return 0
    now = utcnow()
    admitted = 0
    for i, p in enumerate(persons[:n]):
        at = now - timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 10))
        fu, _ = service.admit(session, "demo", p.id, facility_id=facs[i % len(facs)].id, at=at)
        admitted += 1
        t = max(at + timedelta(hours=1), now - timedelta(hours=2))
        followup.record_check(
            session, "demo", fu.id, temperature=round(rng.gauss(36.5, 0.2), 1), measured_at=t
        )
    for p in persons[n:]:
        service.start_followup(session, "demo", p.id, Measure.MONITORING, at=now - timedelta(days=1))
    session.flush()
    return admitted


def step(ctx: DemoContext) -> None:
    with unit_of_work() as session:
        made = seed_structure(session)
        admitted = seed_occupants(session, seed=ctx.seed)
        rows = service.capacity(session)
        devices = session.scalar(select(func.count()).select_from(Device)) or 0
        active = (
            session.scalar(
                select(func.count()).select_from(Followup).where(Followup.state == FollowupState.ACTIVE)
            )
            or 0
        )
    ctx.console.print(
        f"isolation points {len(rows)} ({made['facilities']} furnished now), devices {devices}, "
        f"admitted now {admitted}, active follow-ups {active}"
    )
    table = Table("隔离点 isolation point", "床位 beds", "在住 occupied", "空床 free")
    for r in rows:
        table.add_row(r.name, str(r.usable), str(r.occupied), str(r.free))
    ctx.console.print(table)
    ctx.data["facilities_devices"] = devices

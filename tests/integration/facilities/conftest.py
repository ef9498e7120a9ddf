"""A small district: Banan units, the demo places, three isolation points with beds, a screening point,
a few persons and devices."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.facilities import service
from zhikong.facilities.models import Device, DeviceKind, Facility, FacilityKind, Room
from zhikong.geo import service as geo
from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitLevel
from zhikong.geo.places import demo_places, import_places
from zhikong.people.models import Person


@dataclass
class World:
    session: Session
    points: list[Facility]
    screening: Facility
    persons: list[Person]
    villages: list[AdminUnit]


@pytest.fixture
def world(session: Session) -> World:
    geo.load_builtin(session)
    import_places(session, demo_places(geo.builtin_definition("500113")), file="demo")
    session.flush()
    places = session.scalars(
        select(Place).where(Place.kind == PlaceKind.ISOLATION_POINT).order_by(Place.id)
    ).all()[:3]
    points = []
    for p in places:
        f = service.ensure_facility(session, p)
        service.add_building(session, f, "A", floors=2, rooms_per_floor=2, beds_per_room=1)
        points.append(f)
    centre = session.scalar(select(Place).where(Place.kind == PlaceKind.ADMIN_CENTRE))
    assert centre is not None
    scr = service.ensure_facility(session, centre)
    villages = session.scalars(
        select(AdminUnit).where(AdminUnit.level == UnitLevel.VILLAGE).order_by(AdminUnit.id)
    ).all()[:4]
    persons = [Person(name=f"测试{i}", village_id=villages[i % len(villages)].id) for i in range(6)]
    session.add_all(persons)
    session.flush()
    # devices: a door sensor and a camera in the first room of point 0, a thermal camera at the centre
    room = session.scalars(select(Room).where(Room.facility_id == points[0].id).order_by(Room.id)).first()
    assert room is not None
    session.add_all(
        [
            Device(
                code="DOOR-1",
                kind=DeviceKind.DOOR_SENSOR,
                facility_id=points[0].id,
                room_id=room.id,
                name="门磁101",
            ),
            Device(
                code="CAM-1",
                kind=DeviceKind.CAMERA,
                facility_id=points[0].id,
                room_id=room.id,
                name="摄像机101",
            ),
            Device(
                code="THERM-1", kind=DeviceKind.THERMAL_CAMERA, facility_id=scr.id, name="行政中心入口测温"
            ),
            Device(
                code="THERM-2", kind=DeviceKind.THERMAL_CAMERA, facility_id=points[0].id, name="隔离点测温"
            ),
        ]
    )
    session.commit()
    assert scr.kind == FacilityKind.SCREENING_POINT
    return World(session, points, scr, list(persons), list(villages))

"""GeoJSON of isolation and screening points for the one map: occupancy, device status, open alarms."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.alerts.models import Alert, AlertState
from zhikong.auth.models import User
from zhikong.auth.service import jurisdiction_clause
from zhikong.facilities.models import Device, DeviceStatus, Facility
from zhikong.facilities.service import capacity
from zhikong.geo.models import Place


def facilities_geojson(session: Session, user: User | None) -> dict[str, Any]:
    stmt = select(Facility, Place).join(Place, Place.id == Facility.place_id).where(Facility.active.is_(True))
    clause = jurisdiction_clause(user, Facility.unit_id) if user is not None else None
    if clause is not None:
        stmt = stmt.where(clause)
    rows = session.execute(stmt.order_by(Facility.id)).all()
    cap = {r.facility_id: r for r in capacity(session, user)}
    dev: dict[int, dict[str, int]] = {}
    for fid, status, n in session.execute(
        select(Device.facility_id, Device.status, func.count())
        .where(Device.active.is_(True))
        .group_by(Device.facility_id, Device.status)
    ):
        dev.setdefault(fid, {s.value: 0 for s in DeviceStatus})[DeviceStatus(status).value] = int(n)
    alarms = dict(
        session.execute(
            select(Alert.place_id, func.count())
            .where(Alert.state.in_([AlertState.NEW, AlertState.ACKNOWLEDGED]), Alert.place_id.is_not(None))
            .group_by(Alert.place_id)
        ).all()
    )
    features = []
    for fac, place in rows:
        c = cap.get(fac.id)
        d = dev.get(fac.id, {s.value: 0 for s in DeviceStatus})
        features.append(
            {
                "type": "Feature",
                "id": fac.id,
                "geometry": {"type": "Point", "coordinates": [place.lon, place.lat]},
                "properties": {
                    "facility_id": fac.id,
                    "name": fac.name,
                    "kind": fac.kind.value,
                    "place_code": place.code,
                    "unit_id": fac.unit_id,
                    "beds": c.usable if c else 0,
                    "occupied": c.occupied if c else 0,
                    "free": c.free if c else 0,
                    "devices": sum(d.values()),
                    "devices_online": d["online"],
                    "devices_offline": d["offline"],
                    "open_alarms": int(alarms.get(place.id, 0)),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}

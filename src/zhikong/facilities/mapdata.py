"""GeoJSON of isolation and screening points for the one map: occupancy, device status, open alarms.

``map_features(session, limit)`` follows the web map's layer contract (``limit(stmt, unit_column)``
applies the viewer's jurisdiction); ``facilities_geojson(session, user)`` is the same for a user
(``auth.service.restrict``), served at ``/api/facilities/map``; ``device_features`` lists devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.alerts.models import Alert, AlertState
from zhikong.auth.models import User
from zhikong.auth.service import jurisdiction_clause
from zhikong.facilities.models import Device, DeviceStatus, Facility
from zhikong.facilities.service import capacity
from zhikong.geo.models import Place

Limit = Callable[[Any, Any], Any]


def _no_limit(stmt: Any, _col: Any) -> Any:
    return stmt


def map_features(session: Session, limit: Limit = _no_limit) -> list[dict[str, Any]]:
    stmt = select(Facility, Place).join(Place, Place.id == Facility.place_id).where(Facility.active.is_(True))
    rows = session.execute(limit(stmt, Facility.unit_id).order_by(Facility.id)).all()
    cap = {r.facility_id: r for r in capacity(session)}
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
                    "link": f"/facilities/{fac.id}",
                },
            }
        )
    return features


def device_features(session: Session, limit: Limit = _no_limit) -> list[dict[str, Any]]:
    """Every device as a point at its facility, with kind and status."""
    stmt = (
        select(
            Device.code,
            Device.name,
            Device.kind,
            Device.status,
            Device.last_seen_at,
            Place.lon,
            Place.lat,
            Facility.name,
        )
        .join(Facility, Facility.id == Device.facility_id)
        .join(Place, Place.id == Facility.place_id)
        .where(Device.active.is_(True))
    )
    out = []
    for code, name, kind, status, seen, lon, lat, fname in session.execute(limit(stmt, Facility.unit_id)):
        out.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "code": code,
                    "name": name,
                    "kind": str(kind),
                    "status": str(status),
                    "last_seen_at": seen.isoformat() if seen else None,
                    "facility": fname,
                },
            }
        )
    return out


def facilities_geojson(session: Session, user: User | None) -> dict[str, Any]:
    def limit(stmt: Any, col: Any) -> Any:
        clause = jurisdiction_clause(user, col) if user is not None else None
        return stmt if clause is None else stmt.where(clause)

    return {"type": "FeatureCollection", "features": map_features(session, limit)}

"""The one map's (一张图) layers as GeoJSON, limited to a jurisdiction.

Each layer is a function ``(session, limit) -> list of features``. ``limit(stmt, unit_column)`` applies
the viewer's jurisdiction to a statement; the pages pass ``auth.service.restrict`` bound to the user,
so a user sees their unit and the units under it only (tests may pass ``no_limit``). Boundaries are
stored as GeoJSON text. Layers whose domain has not stored anything show as empty, never as made-up data.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from zhikong.core.errors import NotFound
from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitLevel
from zhikong.people.models import Person
from zhikong.web.i18n import N_

Feature = dict[str, Any]


@dataclass(frozen=True)
class Layer:
    """A map layer: its id (URL ``/api/map/<id>``), label, geometry kind and whether it starts on."""

    id: str
    label: str
    geometry: str  # "polygon" | "point"
    default_on: bool
    domain: str | None = None  # the domain module whose models it needs (None: always available)


LAYERS: tuple[Layer, ...] = (
    Layer("towns", N_("Towns and streets"), "polygon", True),
    Layer("villages", N_("Villages and communities"), "polygon", True),
    Layer("places", N_("Key places"), "point", True),
    Layer("isolation", N_("Isolation points"), "point", True),
    Layer("cameras", N_("Cameras"), "point", False, "video"),
    Layer("devices", N_("Devices"), "point", False, "facilities"),
    Layer("alerts", N_("Open alerts"), "point", True, "alerts"),
    Layer("tasks", N_("Tasks by state"), "point", False, "tasks"),
    Layer("cases", N_("Cases and contacts by village"), "point", True, "tracing"),
)
LAYER_BY_ID = {layer.id: layer for layer in LAYERS}


#: any SELECT, whatever its columns
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class Limit(Protocol):
    """Applies a jurisdiction to a statement, given the column holding the admin unit id."""

    def __call__(self, stmt: S, unit_column: Any, /) -> S: ...


def no_limit(stmt: S, unit_column: Any, /) -> S:
    """The whole district (for the CLI and tests)."""
    return stmt


def _point(lon: float, lat: float, props: dict[str, Any]) -> Feature:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def units(session: Session, limit: Limit, level: UnitLevel) -> list[Feature]:
    """Town or village polygons (a point at the unit's centre when it has no boundary)."""
    population: dict[int, int] = {}
    if level is UnitLevel.VILLAGE:
        stmt = limit(select(Person.village_id, func.count()).group_by(Person.village_id), Person.village_id)
        population = {vid: int(n) for vid, n in session.execute(stmt).all()}
    parent = AdminUnit.__table__.alias("parent_unit")
    rows = session.execute(limit(
        select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.kind, AdminUnit.lat,
               AdminUnit.lon, AdminUnit.boundary, parent.c.name)
        .join(parent, parent.c.id == AdminUnit.parent_id, isouter=True)
        .where(AdminUnit.level == level)
        .order_by(AdminUnit.code), AdminUnit.id)
    ).all()
    out: list[Feature] = []
    for uid, code, name, kind, lat, lon, boundary, parent_name in rows:
        props: dict[str, Any] = {"id": uid, "code": code, "name": name, "kind": str(kind),
                                 "parent": parent_name, "lat": lat, "lon": lon}
        if level is UnitLevel.VILLAGE:
            props["population"] = int(population.get(uid, 0))
        geometry = json.loads(boundary) if boundary else {"type": "Point", "coordinates": [lon, lat]}
        out.append({"type": "Feature", "geometry": geometry, "properties": props})
    return out


def places(session: Session, limit: Limit, kinds: Iterable[PlaceKind] | None = None,
           exclude: Iterable[PlaceKind] = ()) -> list[Feature]:
    """Key places (重点场所) inside the scope."""
    stmt = (
        select(Place.id, Place.code, Place.name, Place.kind, Place.lat, Place.lon, Place.address,
               AdminUnit.name)
        .join(AdminUnit, AdminUnit.id == Place.unit_id)
        .order_by(Place.code)
    )
    stmt = limit(stmt, Place.unit_id)
    if kinds is not None:
        stmt = stmt.where(Place.kind.in_(list(kinds)))
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(Place.kind.not_in(excluded))
    return [
        _point(lon, lat, {"id": pid, "code": code, "name": name, "kind": str(kind),
                          "address": address, "unit": unit_name})
        for pid, code, name, kind, lat, lon, address, unit_name in session.execute(stmt).all()
    ]


def open_alerts(session: Session, limit: Limit) -> list[Feature]:
    """Open alerts (new or acknowledged) at their position, their place or their unit's centre."""
    from zhikong.alerts.models import Alert, AlertState

    stmt = limit(
        select(Alert.id, Alert.title, Alert.kind, Alert.severity, Alert.state, Alert.occurred_at, Alert.count,
               Alert.lat, Alert.lon, Place.lat, Place.lon, AdminUnit.lat, AdminUnit.lon, AdminUnit.name)
        .join(AdminUnit, AdminUnit.id == Alert.unit_id)
        .join(Place, Place.id == Alert.place_id, isouter=True)
        .where(Alert.state.in_([AlertState.NEW, AlertState.ACKNOWLEDGED]))
        .order_by(Alert.id.desc()).limit(2000), Alert.unit_id)
    out: list[Feature] = []
    for aid, title, kind, severity, state, at, count, lat, lon, plat, plon, ulat, ulon, unit in \
            session.execute(stmt).all():
        y, x = (lat, lon) if lat is not None and lon is not None else \
            (plat, plon) if plat is not None and plon is not None else (ulat, ulon)
        out.append(_point(x, y, {"id": aid, "name": title, "kind": str(kind), "severity": str(severity),
                                 "state": str(state), "at": at.isoformat(timespec="minutes"), "count": count,
                                 "unit": unit, "link": "/alerts"}))
    return out


def tasks_by_unit(session: Session, limit: Limit) -> list[Feature]:
    """Open tasks per unit (a circle at the unit's centre) with their count per state and overdue."""
    from zhikong.core.time import utcnow
    from zhikong.tasks.models import Task
    from zhikong.tasks.workflow import FINAL_STATES

    now = utcnow()
    stmt = limit(
        select(Task.unit_id, Task.state, func.count(), func.sum(case((Task.deadline_at < now, 1), else_=0)))
        .where(Task.state.not_in(list(FINAL_STATES)))
        .group_by(Task.unit_id, Task.state), Task.unit_id)
    per_unit: dict[int, dict[str, Any]] = {}
    for unit_id, state, n, overdue in session.execute(stmt).all():
        entry = per_unit.setdefault(unit_id, {"states": {}, "count": 0, "overdue": 0})
        entry["states"][str(state)] = int(n)
        entry["count"] += int(n)
        entry["overdue"] += int(overdue or 0)
    if not per_unit:
        return []
    units = session.execute(select(AdminUnit.id, AdminUnit.name, AdminUnit.lat, AdminUnit.lon)
                            .where(AdminUnit.id.in_(list(per_unit)))).all()
    return [_point(lon, lat, {"id": uid, "name": name, "count": per_unit[uid]["count"],
                              "overdue": per_unit[uid]["overdue"], "states": per_unit[uid]["states"],
                              "radius": min(18, 5 + per_unit[uid]["count"]), "link": "/tasks"})
            for uid, name, lat, lon in units]


def cameras(session: Session, limit: Limit) -> list[Feature]:
    """Cameras (雪亮工程) at their position, their place or their unit's centre."""
    from zhikong.video.models import Camera

    stmt = limit(
        select(Camera.id, Camera.code, Camera.name, Camera.status, Camera.enabled, Camera.lat, Camera.lon,
               Place.lat, Place.lon, AdminUnit.lat, AdminUnit.lon, AdminUnit.name)
        .join(AdminUnit, AdminUnit.id == Camera.unit_id)
        .join(Place, Place.id == Camera.place_id, isouter=True)
        .order_by(Camera.code), Camera.unit_id)
    out: list[Feature] = []
    rows = session.execute(stmt).all()
    for cid, code, name, status, enabled, lat, lon, plat, plon, ulat, ulon, unit in rows:
        y, x = (lat, lon) if lat is not None and lon is not None else \
            (plat, plon) if plat is not None and plon is not None else (ulat, ulon)
        out.append(_point(x, y, {"id": cid, "code": code, "name": name, "status": str(status),
                                 "enabled": bool(enabled), "unit": unit}))
    return out


def cases_by_village(session: Session, limit: Limit) -> list[Feature]:
    """Cases and contacts counted per village of residence (no individual positions), at the
    village's centre."""
    from zhikong.tracing.models import Case, Contact

    per: dict[int, dict[str, int]] = {}
    for vid, n in session.execute(limit(
            select(Person.village_id, func.count(Case.id)).join(Person, Person.id == Case.person_id)
            .group_by(Person.village_id), Person.village_id)).all():
        per.setdefault(vid, {})["cases"] = int(n)
    for vid, cls, n in session.execute(limit(
            select(Person.village_id, Contact.cls, func.count(func.distinct(Contact.person_key)))
            .join(Person, Person.id == Contact.person_id)
            .group_by(Person.village_id, Contact.cls), Person.village_id)).all():
        per.setdefault(vid, {})[f"contacts_{cls}"] = int(n)
    if not per:
        return []
    units = session.execute(select(AdminUnit.id, AdminUnit.name, AdminUnit.lat, AdminUnit.lon)
                            .where(AdminUnit.id.in_(list(per)))).all()
    out: list[Feature] = []
    for uid, name, lat, lon in units:
        counts = per[uid]
        total = counts.get("cases", 0) + sum(v for k, v in counts.items() if k.startswith("contacts_"))
        out.append(_point(lon, lat, {"id": uid, "name": name, "cases": counts.get("cases", 0),
                                     "contacts": {k.removeprefix("contacts_"): v for k, v in counts.items()
                                                  if k.startswith("contacts_")},
                                     "radius": min(20, 5 + total // 2), "link": "/cases"}))
    return out


def domain_available(domain: str | None) -> bool:
    """Whether the domain that feeds a layer is installed (its models module exists)."""
    if domain is None:
        return True
    return importlib.util.find_spec(f"zhikong.{domain}.models") is not None


LayerFn = Callable[[Session, Limit], list[Feature]]


def _facilities_features(session: Session, limit: Limit, fn: str) -> list[Feature]:
    """Isolation points (with occupancy, device status, open alarms) and devices from facilities;
    before any facility is furnished, the isolation-point places themselves."""
    from zhikong.facilities import mapdata as fac

    features: list[Feature] = getattr(fac, fn)(session, limit)
    if not features and fn == "map_features":
        return places(session, limit, kinds=[PlaceKind.ISOLATION_POINT])
    return features

#: providers of the layers backed by other domains, registered when those domains land
_PROVIDERS: dict[str, LayerFn] = {
    "towns": lambda s, limit: units(s, limit, UnitLevel.TOWN),
    "villages": lambda s, limit: units(s, limit, UnitLevel.VILLAGE),
    "places": lambda s, limit: places(s, limit, exclude=[PlaceKind.ISOLATION_POINT]),
    "isolation": lambda s, limit: _facilities_features(s, limit, "map_features"),
    "devices": lambda s, limit: _facilities_features(s, limit, "device_features"),
    "alerts": open_alerts,
    "tasks": tasks_by_unit,
    "cameras": cameras,
    "cases": cases_by_village,
}


def register(layer_id: str, fn: LayerFn) -> None:
    """Let a domain provide a layer's features (e.g. ``alerts`` for open alerts)."""
    if layer_id not in LAYER_BY_ID:
        raise NotFound(f"no map layer {layer_id!r}")
    _PROVIDERS[layer_id] = fn


def layer_collection(session: Session, layer_id: str, limit: Limit) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of one layer within a jurisdiction."""
    layer = LAYER_BY_ID.get(layer_id)
    if layer is None:
        raise NotFound(f"no map layer {layer_id!r}; layers: {', '.join(LAYER_BY_ID)}")
    provider = _PROVIDERS.get(layer_id)
    features = provider(session, limit) if provider is not None else []
    return {"type": "FeatureCollection", "layer": layer.id,
            "available": provider is not None, "features": features}

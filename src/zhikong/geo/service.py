"""Administrative hierarchy rules: load a district, look units up, parent-sees-children, locate.

The parent-sees-children rule is a prefix match on the materialised ``AdminUnit.path``
(``/500113/500113001/500113001001/``): a unit sees itself and every unit whose path starts with
its own. ``subtree_filter`` and ``within`` build that into any query; the jurisdiction helper
``auth.restrict()`` builds on them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from zhikong.core.config import get_settings
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.geo.geometry import Poly, bbox, geojson_to_polygons, points_in_polygon, polygons_to_geojson
from zhikong.geo.loader import DistrictDef, UnitDef, builtin_path, read_definition
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.geo.projection import Projection

__all__ = [
    "LoadResult",
    "builtin_definition",
    "children",
    "clear_cache",
    "district_projection",
    "get_district",
    "get_unit",
    "load_builtin",
    "load_district",
    "locate",
    "locate_many",
    "subtree_filter",
    "try_locate",
    "within",
]

S = TypeVar("S", bound=Select[Any])


@dataclass
class LoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    codes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


# ---- loading ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def builtin_definition(code: str) -> DistrictDef:
    """The built-in definition of district ``code`` (cached; treat it as read-only)."""
    path = builtin_path(code)
    if not path.is_file():
        raise NotFound(f"no built-in district {code} (have: {', '.join(_builtin_codes()) or 'none'})")
    return read_definition(path)


def _builtin_codes() -> list[str]:
    return sorted(p.stem for p in builtin_path("x").parent.glob("*.yaml"))


def _unit_values(u: UnitDef, parent: AdminUnit | None) -> dict[str, Any]:
    path = f"{parent.path if parent is not None else '/'}{u.code}/"
    return {
        "name": u.name,
        "level": u.level,
        "kind": u.kind,
        "parent_id": parent.id if parent is not None else None,
        "path": path,
        "lat": round(float(u.lat), 7) if u.lat is not None else 0.0,
        "lon": round(float(u.lon), 7) if u.lon is not None else 0.0,
        "boundary": polygons_to_geojson(u.boundary) if u.boundary else None,
        "generated": u.generated,
        "urban": u.urban,
    }


def load_district(session: Session, definition: DistrictDef) -> LoadResult:
    """Insert or update every unit of ``definition`` (matched by code); idempotent.

    Units stored earlier but absent from the definition are left alone (people and places may
    refer to them). The caller commits (use ``unit_of_work``).
    """
    result = LoadResult()
    codes = [u.code for u in definition.units()]
    existing = {u.code: u for u in session.scalars(select(AdminUnit).where(AdminUnit.code.in_(codes)))}

    def visit(u: UnitDef, parent: AdminUnit | None) -> None:
        values = _unit_values(u, parent)
        row = existing.get(u.code)
        if row is None:
            row = AdminUnit(code=u.code, **values)
            session.add(row)
            session.flush()  # the children need its id
            result.created += 1
        else:
            changed = {k: v for k, v in values.items() if getattr(row, k) != v}
            if changed:
                for k, v in changed.items():
                    setattr(row, k, v)
                result.updated += 1
            else:
                result.unchanged += 1
        result.codes.append(u.code)
        for c in u.children:
            visit(c, row)

    visit(definition.root, None)
    session.flush()
    clear_cache()
    return result


def load_builtin(session: Session, code: str = "500113") -> LoadResult:
    """Load the built-in district ``code`` (Banan, 500113, by default)."""
    return load_district(session, builtin_definition(code))


# ---- lookups ---------------------------------------------------------------------------------------


def get_unit(session: Session, code: str) -> AdminUnit:
    unit = session.scalars(select(AdminUnit).where(AdminUnit.code == code.strip())).first()
    if unit is None:
        raise NotFound(f"no administrative unit with code {code}")
    return unit


def get_district(session: Session, code: str | None = None) -> AdminUnit:
    """The district unit ``code``; by default ``Settings.district_code`` when it is loaded, else the
    first district stored."""
    stmt = select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT)
    if code:
        stmt = stmt.where(AdminUnit.code == code)
    else:
        preferred = get_settings().district_code
        stmt = stmt.order_by((AdminUnit.code == preferred).desc())
    unit = session.scalars(stmt.order_by(AdminUnit.code)).first()
    if unit is None:
        raise NotFound(f"no district {code or ''} loaded: run `zhikong geo load` first".replace("  ", " "))
    return unit


def children(session: Session, unit: AdminUnit) -> list[AdminUnit]:
    """Direct children of ``unit`` ordered by code."""
    stmt = select(AdminUnit).where(AdminUnit.parent_id == unit.id).order_by(AdminUnit.code)
    return list(session.scalars(stmt))


def subtree_filter(column: InstrumentedAttribute[str] | ColumnElement[str],
                   unit: AdminUnit) -> ColumnElement[bool]:
    """SQL condition: the path ``column`` is ``unit`` itself or one of its descendants.

    >>> # select(AdminUnit).where(subtree_filter(AdminUnit.path, town))
    """
    path = unit.path
    if not path.startswith("/") or not path.endswith("/") or not path.replace("/", "").isdigit():
        raise InvalidInput(f"unit {unit.code}: malformed path {path!r}", field="path")
    return column.like(path + "%")  # digits and '/' only: no LIKE wildcards to escape


def within(stmt: S, unit_id_column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None]
           | ColumnElement[int], unit: AdminUnit) -> S:
    """Restrict ``stmt`` to rows whose ``unit_id_column`` is ``unit`` or below it (parent sees children)."""
    sub = select(AdminUnit.id).where(subtree_filter(AdminUnit.path, unit)).scalar_subquery()
    return stmt.where(unit_id_column.in_(sub))


# ---- projection ------------------------------------------------------------------------------------


def district_projection(source: Session | str) -> Projection:
    """The projection of a district: from the loaded district (a session) or a built-in code."""
    if isinstance(source, str):
        root = builtin_definition(source).root
        assert root.lat is not None and root.lon is not None
        return Projection(root.lat, root.lon)
    d = get_district(source)
    return Projection(d.lat, d.lon)


# ---- locate: point in polygon with an in-memory index ---------------------------------------------


@dataclass
class _Entry:
    unit_id: int
    code: str
    depth: int
    box: tuple[float, float, float, float]
    polys: list[Poly]


@dataclass
class _Index:
    entries: list[_Entry]
    boxes: NDArray[np.float64]  # (n, 4)
    depths: NDArray[np.int64]


_cache: dict[str, _Index] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the cached polygons (``load_district`` calls this)."""
    with _cache_lock:
        _cache.clear()


def _index(session: Session) -> _Index:
    key = str(session.get_bind().engine.url)
    with _cache_lock:
        idx = _cache.get(key)
    if idx is not None:
        return idx
    entries: list[_Entry] = []
    rows = session.execute(select(AdminUnit.id, AdminUnit.code, AdminUnit.level, AdminUnit.boundary)
                           .where(AdminUnit.boundary.is_not(None)))
    depth_of = {UnitLevel.DISTRICT: 0, UnitLevel.TOWN: 1, UnitLevel.VILLAGE: 2}
    for uid, code, level, boundary in rows:
        try:
            polys = geojson_to_polygons(boundary)
        except ValueError as e:
            raise InvalidInput(f"unit {code}: stored boundary is invalid: {e}",
                               field=f"{code}.boundary") from e
        entries.append(_Entry(uid, code, depth_of[UnitLevel(level)], bbox(polys), polys))
    idx = _Index(
        entries=entries,
        boxes=np.array([e.box for e in entries], dtype=np.float64).reshape(-1, 4),
        depths=np.array([e.depth for e in entries], dtype=np.int64),
    )
    with _cache_lock:
        _cache[key] = idx
    return idx


def locate_many(session: Session, lat: ArrayLike, lon: ArrayLike) -> list[int | None]:
    """For each point, the id of the deepest unit whose boundary contains it (None outside all)."""
    la = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lo = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    idx = _index(session)
    best_depth = np.full(la.shape, -1, dtype=np.int64)
    best = np.full(la.shape, -1, dtype=np.int64)
    if la.size == 0 or not idx.entries:
        return [None] * la.size
    b = idx.boxes  # entries whose box meets the points' box: all of them for a single point's hits
    near = np.flatnonzero((b[:, 0] <= lo.max()) & (b[:, 2] >= lo.min()) & (b[:, 1] <= la.max())
                          & (b[:, 3] >= la.min()))
    for i in near.tolist():
        e = idx.entries[i]
        x0, y0, x1, y1 = e.box
        cand = (lo >= x0) & (lo <= x1) & (la >= y0) & (la <= y1) & (best_depth < e.depth)
        if not cand.any():
            continue
        sel = np.flatnonzero(cand)
        inside = points_in_polygon(lo[sel], la[sel], e.polys)
        hit = sel[inside]
        best[hit] = i
        best_depth[hit] = e.depth
    hits: list[int] = [int(b) for b in best]
    return [idx.entries[b].unit_id if b >= 0 else None for b in hits]


def try_locate(session: Session, lat: float, lon: float) -> AdminUnit | None:
    """The deepest unit containing the point, or None when it lies outside every boundary."""
    uid = locate_many(session, [lat], [lon])[0]
    return session.get(AdminUnit, uid) if uid is not None else None


def locate(session: Session, lat: float, lon: float) -> AdminUnit:
    """The deepest unit (village, else town, else district) whose boundary contains the point."""
    unit = try_locate(session, lat, lon)
    if unit is None:
        raise NotFound(f"position ({lat}, {lon}) is outside every loaded administrative unit")
    return unit

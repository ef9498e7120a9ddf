"""Fill in what a district definition leaves to the generator: villages, boundaries, centroids.

* Towns with ``generate: {communities: N, villages: M}`` get N 社区 and M 村 with made-up names
  (marked ``generated``), codes ``<town>001…`` for communities and ``<town>200…`` for villages
  (the GB/T 10114 habit: residents' committees 0xx-1xx, villagers' committees 2xx-3xx). Urban
  communities cluster near the town seat; villages spread over the town's area.
* Children without boundaries get the Voronoi cells of their positions inside the parent's
  boundary, computed in local metres (``geo.projection``), so they tile the parent exactly.
* Units with a boundary but no position get its area centroid.

Everything is deterministic in ``DistrictDef.seed``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from zhikong.core.errors import InvalidInput
from zhikong.geo.geometry import Poly, bbox, points_in_polygon, ring_area, voronoi_cells
from zhikong.geo.loader import DistrictDef, UnitDef
from zhikong.geo.models import UnitKind, UnitLevel
from zhikong.geo.projection import Projection

__all__ = ["complete_definition", "polygon_centroid"]

_FIRST = list("新青白石红双清黄金桂柏杨松龙凤太长大高团和光永马观铜河沙水花"
              "茶梨竹碧云田东西南北万福兴安林桃荷梧燕鹿银翠泉江锦朝星丰铁")
_SECOND = list("华龙鹤岗星河溪桷竹花林柳树泉凰平岭石湾峰坪井园店水桥坝山坡凤寿隆乐青盘塘亮口屏江光岩")


def polygon_centroid(polys: list[Poly]) -> tuple[float, float]:
    """Area centroid ``(x, y)`` of the exterior rings (lon/lat in, lon/lat out)."""
    total = 0.0
    cx = cy = 0.0
    for poly in polys:
        r = poly[0]
        x, y = r[:, 0], r[:, 1]
        x1, y1 = np.roll(x, -1), np.roll(y, -1)
        cross = x * y1 - x1 * y
        a = cross.sum() / 2
        if a == 0:
            continue
        cx += float(((x + x1) * cross).sum()) / 6
        cy += float(((y + y1) * cross).sum()) / 6
        total += a
    if total == 0:
        r = polys[0][0]
        return float(r[:, 0].mean()), float(r[:, 1].mean())
    return cx / total, cy / total


def _projection(defn: DistrictDef) -> Projection | None:
    root = defn.root
    if root.lat is not None and root.lon is not None:
        return Projection(root.lat, root.lon)
    if root.boundary:
        lon, lat = polygon_centroid(root.boundary)
        return Projection(lat, lon)
    first = next((u for u in defn.units() if u.lat is not None and u.lon is not None), None)
    if first is None or first.lat is None or first.lon is None:
        return None  # nothing to generate from; validation reports the missing positions
    return Projection(first.lat, first.lon)


def _to_xy_ring(proj: Projection, ring: NDArray[np.float64]) -> NDArray[np.float64]:
    x, y = proj.to_xy(ring[:, 1], ring[:, 0])
    out = np.column_stack([x, y])
    if len(out) > 1 and np.allclose(out[0], out[-1]):
        out = out[:-1]
    return out


def _to_lonlat_poly(proj: Projection, ring_xy: NDArray[np.float64]) -> list[Poly]:
    lat, lon = proj.to_latlon(ring_xy[:, 0], ring_xy[:, 1])
    ring = np.column_stack([lon, lat])
    return [[np.vstack([ring, ring[:1]])]]


def _single_ring_xy(proj: Projection, unit: UnitDef) -> NDArray[np.float64] | None:
    """The unit's boundary as one open ring in metres, or None (missing, holes or multipart)."""
    if not unit.boundary or len(unit.boundary) != 1 or len(unit.boundary[0]) != 1:
        return None
    return _to_xy_ring(proj, unit.boundary[0][0])


def _sample_sites(rng: np.random.Generator, ring: NDArray[np.float64], centre: NDArray[np.float64],
                  n_near: int, n_far: int, existing: NDArray[np.float64]) -> NDArray[np.float64]:
    """``n_near`` points clustered near ``centre`` and ``n_far`` spread uniformly, inside ``ring``,
    kept apart from each other and from ``existing`` points."""
    area = abs(ring_area(ring))
    spacing = 0.45 * np.sqrt(area / max(n_near + n_far + len(existing), 1))
    x0, y0, x1, y1 = bbox([[ring]])
    pts: list[NDArray[np.float64]] = [p for p in existing]
    sigma = max(0.25 * np.sqrt(area / np.pi), 400.0)
    for count, near in ((n_near, True), (n_far, False)):
        made = 0
        min_d = spacing * (0.5 if near else 1.0)
        tries = 0
        while made < count:
            tries += 1
            if tries > 20000:  # crowded: relax the spacing rather than loop forever
                min_d *= 0.7
                tries = 0
            if near:
                cand = centre + rng.normal(0.0, sigma * 0.5, 2)
            else:
                cand = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if not points_in_polygon(cand[:1], cand[1:], [[ring]])[0]:
                continue
            if pts and np.min(np.hypot(*(np.asarray(pts) - cand).T)) < min_d:
                continue
            pts.append(cand)
            made += 1
    return np.asarray(pts[len(existing):]).reshape(-1, 2)


def _generate_villages(defn: DistrictDef, proj: Projection, rng: np.random.Generator,
                       used_names: set[str]) -> None:
    name_pool = [a + b for a in _FIRST for b in _SECOND if a != b]
    order = rng.permutation(len(name_pool))
    pool_iter = iter(int(i) for i in order)
    stems = {u.name[:-2] if u.name.endswith(("街道", "社区")) else u.name[:-1] for u in defn.units()}

    def next_name(suffix: str) -> str:
        for i in pool_iter:
            name = name_pool[i] + suffix
            if name not in used_names and name_pool[i] not in stems:
                used_names.add(name)
                return name
        raise InvalidInput(f"district file {defn.source}: too many generated villages", field="generate")

    for town in defn.root.children:
        spec = town.generate
        if spec is None or spec.communities + spec.villages == 0:
            continue
        ring = _single_ring_xy(proj, town)
        if ring is None or town.lat is None or town.lon is None:
            raise InvalidInput(f"unit {town.code}: generate: needs the town's position and a single-"
                               "polygon boundary (given or derived from the district's)",
                               field=f"{town.code}.generate")
        cx, cy = proj.to_xy(town.lat, town.lon)
        existing = [proj.to_xy(c.lat, c.lon) for c in town.children
                    if c.lat is not None and c.lon is not None]
        sites = _sample_sites(rng, ring, np.array([cx, cy]), spec.communities, spec.villages,
                              np.asarray(existing, dtype=np.float64).reshape(-1, 2))
        taken = {c.code for c in town.children}
        numbers = {"community": 1, "village": 200}
        for k, (x, y) in enumerate(sites):
            is_comm = k < spec.communities
            key = "community" if is_comm else "village"
            while f"{town.code}{numbers[key]:03d}" in taken:
                numbers[key] += 1
            code = f"{town.code}{numbers[key]:03d}"
            taken.add(code)
            numbers[key] += 1
            lat, lon = proj.to_latlon(float(x), float(y))
            town.children.append(UnitDef(
                code=code, name=next_name("社区" if is_comm else "村"), level=UnitLevel.VILLAGE,
                kind=UnitKind.COMMUNITY if is_comm else UnitKind.VILLAGE,
                lat=round(lat, 6), lon=round(lon, 6),
                generated=True, urban=is_comm, approximate=True,
            ))


def _voronoi_children(proj: Projection, unit: UnitDef) -> None:
    kids = unit.children
    if not kids or any(k.boundary is not None for k in kids):
        return
    if any(k.lat is None or k.lon is None for k in kids):
        return
    ring = _single_ring_xy(proj, unit)
    if ring is None:
        return
    sites = np.array([proj.to_xy(float(k.lat or 0.0), float(k.lon or 0.0)) for k in kids], dtype=np.float64)
    if len(np.unique(sites.round(3), axis=0)) != len(sites):
        return
    for kid, cell in zip(kids, voronoi_cells(sites, ring), strict=True):
        if len(cell) >= 3:
            kid.boundary = _to_lonlat_poly(proj, cell)


def complete_definition(defn: DistrictDef) -> DistrictDef:
    """Generate what the definition asks for (in place) and return it."""
    rng = np.random.default_rng(defn.seed)
    proj = _projection(defn)
    if proj is None:
        return defn
    for unit in defn.units():  # centroids of units given only by boundary
        if (unit.lat is None or unit.lon is None) and unit.boundary:
            lon, lat = polygon_centroid(unit.boundary)
            if unit.lat is None and unit.lon is None:
                unit.lat, unit.lon = round(lat, 6), round(lon, 6)
    _voronoi_children(proj, defn.root)
    used = {u.name for u in defn.units()}
    _generate_villages(defn, proj, rng, used)
    for town in defn.root.children:
        _voronoi_children(proj, town)
    return defn


def sample_points_in(polys: list[Poly], n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``n`` uniform random ``(lon, lat)`` points inside lon/lat polygons (rejection sampling)."""
    x0, y0, x1, y1 = bbox(polys)
    out: list[NDArray[np.float64]] = []
    got = 0
    while got < n:
        xs = rng.uniform(x0, x1, max(2 * (n - got), 16))
        ys = rng.uniform(y0, y1, len(xs))
        ok = points_in_polygon(xs, ys, polys)
        pts = np.column_stack([xs[ok], ys[ok]])[: n - got]
        out.append(pts)
        got += len(pts)
    return np.vstack(out) if out else np.empty((0, 2))

"""Small planar geometry in numpy: point-in-polygon, half-plane clipping, Voronoi cells, GeoJSON.

Polygons are lists of rings; a ring is an ``(n, 2)`` array of ``(x, y)`` (or ``(lon, lat)``)
vertices, *closed* (first vertex repeated last) when it comes from GeoJSON and open inside the
clipping code. The first ring is the exterior, the others are holes. No shapely, no scipy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Ring = NDArray[np.float64]
#: a polygon: exterior ring followed by holes
Poly = list[Ring]

__all__ = [
    "Poly",
    "Ring",
    "bbox",
    "clip_halfplane",
    "convex_hull",
    "geojson_to_polygons",
    "points_in_polygon",
    "polygons_to_geojson",
    "ring_area",
    "voronoi_cells",
]


def ring_area(ring: Ring) -> float:
    """Signed area (shoelace); positive when counter-clockwise. Open or closed rings."""
    x = ring[:, 0]
    y = ring[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _points_in_ring(px: NDArray[np.float64], py: NDArray[np.float64], ring: Ring) -> NDArray[np.bool_]:
    """Even-odd ray casting, vectorised over points; ``ring`` may be open or closed."""
    xs = ring[:, 0]
    ys = ring[:, 1]
    x2 = np.roll(xs, -1)
    y2 = np.roll(ys, -1)
    inside = np.zeros(px.shape, dtype=bool)
    for xa, ya, xb, yb in zip(xs, ys, x2, y2, strict=True):
        if ya == yb:
            continue
        crosses = (ya > py) != (yb > py)
        xint = xa + (py - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (px < xint)
    return inside


def points_in_polygon(px: NDArray[np.float64], py: NDArray[np.float64], polygons: Sequence[Poly]) -> NDArray[
    np.bool_
]:
    """Which points lie inside a (multi)polygon: inside an exterior ring and outside its holes."""
    px = np.asarray(px, dtype=np.float64)
    py = np.asarray(py, dtype=np.float64)
    result = np.zeros(px.shape, dtype=bool)
    for poly in polygons:
        inside = _points_in_ring(px, py, poly[0])
        for hole in poly[1:]:
            inside &= ~_points_in_ring(px, py, hole)
        result |= inside
    return result


def bbox(polygons: Sequence[Poly]) -> tuple[float, float, float, float]:
    """``(min_x, min_y, max_x, max_y)`` of the exterior rings."""
    allpts = np.concatenate([p[0] for p in polygons])
    return (float(allpts[:, 0].min()), float(allpts[:, 1].min()), float(allpts[:, 0].max()),
            float(allpts[:, 1].max()))


def clip_halfplane(ring: Ring, normal: NDArray[np.float64], offset: float) -> Ring:
    """Keep the part of an open ring where ``normal · p <= offset`` (Sutherland-Hodgman, one edge).

    Exact for convex rings; for a concave ring that the line cuts into several pieces the result
    joins them along the line (zero-width seams), which this module never produces because it
    clips convex cells only.
    """
    if len(ring) == 0:
        return ring
    d = ring @ normal - offset
    out: list[NDArray[np.float64]] = []
    n = len(ring)
    for i in range(n):
        p, q = ring[i], ring[(i + 1) % n]
        dp, dq = d[i], d[(i + 1) % n]
        if dp <= 0:
            out.append(p)
        if (dp < 0 < dq) or (dq < 0 < dp):
            t = dp / (dp - dq)
            out.append(p + t * (q - p))
    if len(out) < 3:
        return np.empty((0, 2))
    return np.asarray(out)


def convex_hull(points: NDArray[np.float64]) -> Ring:
    """Counter-clockwise open convex hull (Andrew's monotone chain)."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1])


def voronoi_cells(sites: NDArray[np.float64], region: Ring) -> list[Ring]:
    """The Voronoi cell of each site clipped to a *convex* open ``region`` ring.

    Cell ``i`` is the region intersected with every half-plane closer to site ``i`` than to site
    ``j``. The cells tile the region without overlaps. O(n²) clipping, fine for a few hundred sites.
    """
    if ring_area(region) < 0:
        region = region[::-1]
    cells: list[Ring] = []
    for i, s in enumerate(sites):
        cell = region.copy()
        # nearest sites first: the cell shrinks quickly and later clips are cheap
        order = np.argsort(np.hypot(*(sites - s).T))
        for j in order:
            if j == i or len(cell) == 0:
                continue
            t = sites[j]
            normal = t - s
            if not np.any(normal):
                raise ValueError(f"duplicate Voronoi sites {i} and {j}")
            # closer to s than to t: normal · p <= normal · midpoint
            cell = clip_halfplane(cell, normal, float(normal @ ((s + t) / 2)))
        cells.append(cell)
    return cells


# ---- GeoJSON -------------------------------------------------------------------------------------


def polygons_to_geojson(polygons: Sequence[Poly], digits: int = 6) -> str:
    """A GeoJSON ``Polygon`` (one polygon) or ``MultiPolygon`` geometry as compact text.

    Rings are closed and exteriors made counter-clockwise (RFC 7946); coordinates are rounded.
    """

    def ring_coords(ring: Ring, ccw: bool) -> list[list[float]]:
        r = ring[:-1] if len(ring) > 1 and np.array_equal(ring[0], ring[-1]) else ring
        if (ring_area(r) > 0) != ccw:
            r = r[::-1]
        pts = [[round(float(x), digits), round(float(y), digits)] for x, y in r]
        return [*pts, pts[0]]

    polys = [[ring_coords(p[0], True)] + [ring_coords(h, False) for h in p[1:]] for p in polygons]
    if len(polys) == 1:
        return json.dumps({"type": "Polygon", "coordinates": polys[0]}, separators=(",", ":"))
    return json.dumps({"type": "MultiPolygon", "coordinates": polys}, separators=(",", ":"))


def _check_ring(ring: Any, where: str) -> Ring:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where}: a ring needs at least 4 positions (first = last), got "
                         f"{len(ring) if isinstance(ring, list) else type(ring).__name__}")
    try:
        arr = np.asarray([[float(c[0]), float(c[1])] for c in ring], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as e:
        raise ValueError(f"{where}: positions must be [lon, lat] number pairs") from e
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: positions must be finite numbers")
    if not np.array_equal(arr[0], arr[-1]):
        raise ValueError(f"{where}: polygon ring not closed (first position {arr[0].tolist()} "
                         f"!= last {arr[-1].tolist()})")
    if np.any(np.abs(arr[:, 0]) > 180) or np.any(np.abs(arr[:, 1]) > 90):
        raise ValueError(f"{where}: positions must be [lon, lat] in degrees (lon first)")
    if math.isclose(ring_area(arr), 0.0, abs_tol=1e-14):
        raise ValueError(f"{where}: polygon ring has zero area")
    return arr


def geojson_to_polygons(geometry: Any) -> list[Poly]:
    """Parse and validate a GeoJSON Polygon/MultiPolygon (dict or text) into closed rings.

    Raises ``ValueError`` with a message saying what is wrong (not closed, too few positions…).
    """
    if isinstance(geometry, str):
        try:
            geometry = json.loads(geometry)
        except json.JSONDecodeError as e:
            raise ValueError(f"boundary is not valid JSON: {e}") from e
    if not isinstance(geometry, dict):
        raise ValueError("boundary must be a GeoJSON geometry object")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        polys: Any = [coords]
    elif kind == "MultiPolygon":
        polys = coords
    else:
        raise ValueError(f"boundary must be a GeoJSON Polygon or MultiPolygon, got type {kind!r}")
    if not isinstance(polys, list) or not polys:
        raise ValueError("boundary has no coordinates")
    out: list[Poly] = []
    for i, poly in enumerate(polys):
        if not isinstance(poly, list) or not poly:
            raise ValueError(f"polygon {i} has no rings")
        out.append([_check_ring(r, f"polygon {i} ring {k}") for k, r in enumerate(poly)])
    return out

from __future__ import annotations

import numpy as np
import pytest

from zhikong.geo.geometry import (
    clip_halfplane,
    convex_hull,
    geojson_to_polygons,
    points_in_polygon,
    polygons_to_geojson,
    ring_area,
    voronoi_cells,
)

SQUARE = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
HOLE = np.array([[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0]])


def test_point_in_polygon_with_hole() -> None:
    px = np.array([1.0, 5.0, 11.0, 9.9, 3.0])
    py = np.array([1.0, 5.0, 5.0, 9.9, 5.0])
    assert points_in_polygon(px, py, [[SQUARE]]).tolist() == [True, True, False, True, True]
    assert points_in_polygon(px, py, [[SQUARE, HOLE]]).tolist() == [True, False, False, True, True]


def test_multipolygon() -> None:
    other = SQUARE + 20
    inside = points_in_polygon(np.array([5.0, 25.0, 15.0]), np.array([5.0, 25.0, 15.0]), [[SQUARE], [other]])
    assert inside.tolist() == [True, True, False]


def test_ring_area_sign() -> None:
    assert ring_area(SQUARE) == pytest.approx(100.0)
    assert ring_area(SQUARE[::-1]) == pytest.approx(-100.0)


def test_clip_halfplane() -> None:
    half = clip_halfplane(SQUARE, np.array([1.0, 0.0]), 4.0)  # x <= 4
    assert ring_area(half) == pytest.approx(40.0)
    assert clip_halfplane(SQUARE, np.array([1.0, 0.0]), -1.0).shape[0] == 0


def test_convex_hull() -> None:
    pts = np.vstack([SQUARE, [[5.0, 5.0], [2.0, 3.0]]])
    assert abs(ring_area(convex_hull(pts))) == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voronoi_tiles_the_region(seed: int) -> None:
    rng = np.random.default_rng(seed)
    region = np.array([[0.0, 0.0], [10.0, -2.0], [14.0, 6.0], [7.0, 12.0], [-1.0, 8.0]])
    sites = rng.uniform(1, 9, (25, 2))
    cells = voronoi_cells(sites, region)
    assert sum(ring_area(c) for c in cells) == pytest.approx(abs(ring_area(region)))
    px, py = rng.uniform(-2, 15, 4000), rng.uniform(-3, 13, 4000)
    counts = sum(points_in_polygon(px, py, [[c]]).astype(int) for c in cells)
    in_region = points_in_polygon(px, py, [[region]])
    assert (counts[in_region] == 1).all()
    assert (counts[~in_region] == 0).all()
    for i, s in enumerate(sites):  # each site lies in its own cell, and the cell holds nearest points
        assert points_in_polygon(s[:1], s[1:], [[cells[i]]])[0]
    nearest = np.argmin(np.hypot(px[:, None] - sites[:, 0], py[:, None] - sites[:, 1]), axis=1)
    for i in range(len(sites)):
        mine = points_in_polygon(px, py, [[cells[i]]])
        assert (nearest[mine] == i).all()


def test_geojson_round_trip() -> None:
    text = polygons_to_geojson([[SQUARE, HOLE]])
    polys = geojson_to_polygons(text)
    assert len(polys) == 1 and len(polys[0]) == 2
    assert ring_area(polys[0][0]) > 0 > ring_area(polys[0][1])  # RFC 7946 winding
    assert np.array_equal(polys[0][0][0], polys[0][0][-1])
    multi = geojson_to_polygons(polygons_to_geojson([[SQUARE], [SQUARE + 20]]))
    assert len(multi) == 2


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
    ({"type": "Point", "coordinates": [0, 0]}, "Polygon or MultiPolygon"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], ["a", 1], [0, 0]]]}, "number pairs"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}, "lon, lat"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}, "zero area"),
    ("{not json", "not valid JSON"),
])
def test_geojson_errors(geometry: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        geojson_to_polygons(geometry)

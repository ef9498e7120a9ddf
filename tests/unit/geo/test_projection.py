from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhikong.geo.projection import WGS84_A, WGS84_F, Projection, grid_cell

BANAN = Projection(29.402, 106.712)
lat_s = st.floats(29.0, 29.9, allow_nan=False)
lon_s = st.floats(106.3, 107.1, allow_nan=False)


def meridian_radius(lat: float) -> float:
    e2 = WGS84_F * (2 - WGS84_F)
    s = math.sin(math.radians(lat))
    return WGS84_A * (1 - e2) / (1 - e2 * s * s) ** 1.5


def normal_radius(lat: float) -> float:
    e2 = WGS84_F * (2 - WGS84_F)
    s = math.sin(math.radians(lat))
    return WGS84_A / math.sqrt(1 - e2 * s * s)


@given(lat_s, lon_s)
@settings(max_examples=300)
def test_round_trip_scalar(lat: float, lon: float) -> None:
    x, y = BANAN.to_xy(lat, lon)
    assert isinstance(x, float)
    lat2, lon2 = BANAN.to_latlon(x, y)
    assert abs(lat2 - lat) < 1e-8 and abs(lon2 - lon) < 1e-8


@given(st.floats(-60_000, 60_000), st.floats(-60_000, 60_000))
def test_round_trip_from_metres(x: float, y: float) -> None:
    lat, lon = BANAN.to_latlon(x, y)
    x2, y2 = BANAN.to_xy(lat, lon)
    assert abs(x2 - x) < 1e-3 and abs(y2 - y) < 1e-3


@given(st.floats(-60, 60), st.floats(-170, 170), st.floats(-0.4, 0.4), st.floats(-0.4, 0.4))
def test_round_trip_anywhere(olat: float, olon: float, dlat: float, dlon: float) -> None:
    p = Projection(olat, olon)
    x, y = p.to_xy(olat + dlat, olon + dlon)
    lat, lon = p.to_latlon(x, y)
    assert abs(lat - (olat + dlat)) < 1e-8 and abs(lon - (olon + dlon)) < 1e-8


def test_origin_is_zero_and_axes() -> None:
    assert BANAN.to_xy(29.402, 106.712) == pytest.approx((0.0, 0.0), abs=1e-6)
    x, y = BANAN.to_xy(29.412, 106.712)
    assert abs(x) < 1e-6 and y > 0
    x, y = BANAN.to_xy(29.402, 106.722)
    assert x > 0 and abs(y) < 1.0


def test_scales_match_the_ellipsoid_radii() -> None:
    """Small steps north and east measure what the ellipsoid's radii of curvature say."""
    d = 1e-4
    _, y = BANAN.to_xy(29.402 + d, 106.712)
    assert y == pytest.approx(math.radians(d) * meridian_radius(29.402 + d / 2), rel=1e-6)
    x, _ = BANAN.to_xy(29.402, 106.712 + d)
    expect = math.radians(d) * normal_radius(29.402) * math.cos(math.radians(29.402))
    assert x == pytest.approx(expect, rel=1e-6)


def test_distance_error_over_district_is_small() -> None:
    """25 km east of the central meridian the scale error stays below 1e-5 (see the docstring)."""
    d = 1e-4
    lon = 106.712 + 0.23  # about 22 km east
    x1, y1 = BANAN.to_xy(29.402, lon)
    x2, y2 = BANAN.to_xy(29.402 + d, lon)
    planar = math.hypot(x2 - x1, y2 - y1)
    true = math.radians(d) * meridian_radius(29.402 + d / 2)
    assert planar / true - 1 == pytest.approx(0.0, abs=1e-5)
    assert planar / true - 1 > 0  # transverse Mercator grows away from its meridian


def test_vectorised_equals_scalar() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(29.1, 29.8, 50)
    lon = rng.uniform(106.45, 107.0, 50)
    xs, ys = BANAN.to_xy(lat, lon)
    assert xs.shape == (50,)
    for i in (0, 17, 49):
        assert (xs[i], ys[i]) == pytest.approx(BANAN.to_xy(float(lat[i]), float(lon[i])))
    la, lo = BANAN.to_latlon(xs, ys)
    np.testing.assert_allclose(la, lat, atol=1e-8)
    np.testing.assert_allclose(lo, lon, atol=1e-8)


def test_bad_origin() -> None:
    with pytest.raises(ValueError):
        Projection(95.0, 0.0)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from([10.0, 100.0, 800.0]))
def test_grid_cell_contains_point(x: float, y: float, size: float) -> None:
    cx, cy = grid_cell(x, y, size)
    # a coordinate within a nanometre of a cell edge (e.g. -5e-324, which divides to -0.0) may
    # fall in either neighbouring cell
    assert cx * size <= x < (cx + 1) * size or any(
        math.isclose(x, e, abs_tol=1e-9) for e in (cx * size, (cx + 1) * size))
    assert cy * size <= y < (cy + 1) * size or any(
        math.isclose(y, e, abs_tol=1e-9) for e in (cy * size, (cy + 1) * size))


def test_grid_cell_edges_and_arrays() -> None:
    assert grid_cell(0.0, 0.0, 800) == (0, 0)
    assert grid_cell(799.999, 800.0, 800) == (0, 1)
    assert grid_cell(-0.001, -800.0, 800) == (-1, -1)
    cx, cy = grid_cell(np.array([0.0, 1600.0, -1.0]), np.array([5.0, 5.0, 5.0]), 800)
    assert cx.tolist() == [0, 2, -1] and cy.tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        grid_cell(1.0, 1.0, 0)

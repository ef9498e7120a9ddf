"""The built-in Banan District definition (generated villages and boundaries)."""

from __future__ import annotations

import numpy as np
import pytest

from zhikong.geo.generate import sample_points_in
from zhikong.geo.geometry import points_in_polygon, ring_area
from zhikong.geo.loader import DistrictDef, builtin_path, read_definition
from zhikong.geo.models import UnitKind, UnitLevel
from zhikong.geo.service import builtin_definition

STREETS = ["龙洲湾", "鱼洞", "花溪", "李家沱", "南泉", "一品", "南彭", "惠民"]
TOWNS = ["界石", "安澜", "跳石", "木洞", "双河口", "麻柳嘴", "丰盛", "二圣", "东温泉", "姜家",
         "天星寺", "接龙", "石滩", "石龙"]


@pytest.fixture(scope="module")
def banan() -> DistrictDef:
    return builtin_definition("500113")


def test_twenty_two_towns_by_real_name(banan: DistrictDef) -> None:
    towns = banan.root.children
    assert banan.root.code == "500113" and banan.root.name == "巴南区"
    assert len(towns) == 22
    streets = sorted(t.name for t in towns if t.kind == UnitKind.STREET)
    real_towns = sorted(t.name for t in towns if t.kind == UnitKind.TOWN)
    assert streets == sorted(n + "街道" for n in STREETS)
    assert real_towns == sorted(n + "镇" for n in TOWNS)
    assert not any(t.generated for t in towns)
    for t in towns:
        assert 29.1 <= t.lat <= 29.8 and 106.45 <= t.lon <= 107.0, t.name


def test_about_three_hundred_villages_with_nested_codes(banan: DistrictDef) -> None:
    villages = [v for t in banan.root.children for v in t.children]
    assert 280 <= len(villages) <= 320
    codes = [u.code for u in banan.units()]
    assert len(codes) == len(set(codes))
    assert len({v.name for v in villages}) == len(villages)
    for t in banan.root.children:
        assert len(t.code) == 9 and t.code.startswith("500113") and t.level == UnitLevel.TOWN
        assert t.children, t.name
        for v in t.children:
            assert len(v.code) == 12 and v.code.startswith(t.code) and v.level == UnitLevel.VILLAGE
            assert v.generated
            assert v.name.endswith("社区" if v.kind == UnitKind.COMMUNITY else "村")
            assert v.urban == (v.kind == UnitKind.COMMUNITY)


def test_streets_are_mostly_communities_towns_mostly_villages(banan: DistrictDef) -> None:
    for t in banan.root.children:
        comm = sum(v.kind == UnitKind.COMMUNITY for v in t.children)
        if t.kind == UnitKind.TOWN:
            assert comm < len(t.children) / 2, t.name
    streets = [v for t in banan.root.children if t.kind == UnitKind.STREET for v in t.children]
    assert sum(v.kind == UnitKind.COMMUNITY for v in streets) > len(streets) / 2


def test_positions_inside_own_boundaries(banan: DistrictDef) -> None:
    for u in banan.units():
        assert u.boundary is not None, u.code
        assert points_in_polygon(np.array([u.lon]), np.array([u.lat]), u.boundary)[0], u.code


def test_villages_tile_the_district(banan: DistrictDef) -> None:
    rng = np.random.default_rng(7)
    pts = sample_points_in(banan.root.boundary, 3000, rng)
    villages = [v for t in banan.root.children for v in t.children]
    towns = banan.root.children
    v_counts = sum(points_in_polygon(pts[:, 0], pts[:, 1], v.boundary).astype(int) for v in villages)
    t_counts = sum(points_in_polygon(pts[:, 0], pts[:, 1], t.boundary).astype(int) for t in towns)
    assert (v_counts == 1).all() and (t_counts == 1).all()
    # and a village lies within its own town
    for t in towns:
        for v in t.children:
            assert points_in_polygon(np.array([v.lon]), np.array([v.lat]), t.boundary)[0]


def test_generation_is_deterministic(banan: DistrictDef) -> None:
    again = read_definition(builtin_path("500113"))
    assert [(u.code, u.name, u.lat, u.lon) for u in again.units()] == [
        (u.code, u.name, u.lat, u.lon) for u in banan.units()]


def test_boundaries_are_clean_polygons(banan: DistrictDef) -> None:
    """No zero-width seams (an edge doubling back on the previous one) and no slivers."""
    for u in banan.units():
        assert len(u.boundary) == 1 and len(u.boundary[0]) == 1, u.code
        ring = u.boundary[0][0][:-1] * np.array([0.87, 1.0])  # roughly isotropic at 29.4°N
        e = np.roll(ring, -1, axis=0) - ring
        e2 = np.roll(e, -1, axis=0)
        lengths = np.hypot(*e.T)
        assert lengths.min() > 0, u.code
        cross = e[:, 0] * e2[:, 1] - e[:, 1] * e2[:, 0]
        doubling_back = (np.abs(cross) < 1e-9 * lengths * np.roll(lengths, -1)) & ((e * e2).sum(axis=1) < 0)
        assert not doubling_back.any(), u.code
        assert abs(ring_area(ring)) > 1e-5, u.code  # > ~0.1 km²

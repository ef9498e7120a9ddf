from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.unit.geo.sample import feature, modified, sample_geojson, sq, write_geojson
from zhikong.core.errors import InvalidInput
from zhikong.geo.loader import read_definition
from zhikong.geo.models import UnitKind, UnitLevel


def test_geojson_district_loads(tmp_path: Path) -> None:
    d = read_definition(write_geojson(tmp_path))
    assert d.root.code == "999999" and d.root.level == UnitLevel.DISTRICT
    assert [t.code for t in d.root.children] == ["999999001", "999999101"]
    west = d.root.children[1]
    assert [v.code for v in west.children] == ["999999101200", "999999101201", "999999101202"]
    assert west.kind == UnitKind.TOWN and not west.urban
    assert d.root.children[0].urban  # streets and communities are urban by default
    # centroid from the boundary where no position is given; the given one is kept
    assert west.children[0].lat == pytest.approx(29.025) and west.children[0].lon == pytest.approx(106.05)
    assert west.children[2].lat == 29.15


def _yaml(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "d.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


YAML_DISTRICT = {
    "code": "999999", "name": "样例区", "lat": 29.1, "lon": 106.1, "seed": 3,
    "boundary": sq(106.0, 29.0, 106.2, 29.2)["coordinates"][0],
    "units": [
        {"code": "999999001", "name": "东街道", "kind": "street", "lat": 29.1, "lon": 106.15,
         "generate": {"communities": 4, "villages": 2}},
        {"code": "999999101", "name": "西镇", "kind": "town", "lat": 29.1, "lon": 106.05, "units": [
            {"code": "999999101200", "name": "西一村", "kind": "village", "lat": 29.05, "lon": 106.05},
            {"code": "999999101201", "name": "西二村", "kind": "village", "lat": 29.15, "lon": 106.05},
        ]},
    ],
}


def test_yaml_with_generated_villages_and_voronoi_boundaries(tmp_path: Path) -> None:
    d = read_definition(_yaml(tmp_path, YAML_DISTRICT))
    east, west = d.root.children
    assert len(east.children) == 6 and all(v.generated for v in east.children)
    assert [v.kind for v in east.children].count(UnitKind.COMMUNITY) == 4
    assert [v.code for v in east.children][:4] == [f"999999001{n:03d}" for n in range(1, 5)]
    assert [v.code for v in east.children][4:] == ["999999001200", "999999001201"]
    assert not any(v.generated for v in west.children)
    assert all(u.boundary is not None for u in d.units())
    # the Voronoi split of the square between the two seats is the line lon = 106.1
    xs = west.boundary[0][0][:, 0]
    assert xs.max() == pytest.approx(106.1, abs=1e-6)


def _problem(tmp_path: Path, data: dict[str, object]) -> str:
    with pytest.raises(InvalidInput) as ei:
        read_definition(write_geojson(tmp_path, data))
    return str(ei.value)


def test_unknown_parent(tmp_path: Path) -> None:
    msg = _problem(tmp_path, modified(c999999101200={"parent": "999999777"}))
    assert "unit 999999101200: parent: unknown parent 999999777" in msg


def test_code_not_nested_under_parent(tmp_path: Path) -> None:
    msg = _problem(tmp_path, modified(c999999101200={"parent": "999999001"}))
    assert "unit 999999101200: code: not nested under its parent's code 999999001" in msg


def test_duplicate_code(tmp_path: Path) -> None:
    data = sample_geojson()
    data["features"].append(copy.deepcopy(data["features"][-1]))
    assert "unit 999999101202: code: duplicate code" in _problem(tmp_path, data)


def test_polygon_not_closed(tmp_path: Path) -> None:
    ring = [[106.0, 29.0], [106.1, 29.0], [106.1, 29.05], [106.0, 29.05]]
    open_ring = {"type": "Polygon", "coordinates": [ring]}
    msg = _problem(tmp_path, modified(c999999101200={"geometry": open_ring}))
    assert "unit 999999101200: boundary: polygon 0 ring 0: polygon ring not closed" in msg


def test_bad_kind_name_and_code(tmp_path: Path) -> None:
    # problems found while reading the fields are reported together …
    msg = _problem(tmp_path, modified(c999999101201={"name": ""}, c999999001001={"kind": "castle"}))
    assert "2 problem(s)" in msg
    assert "unit 999999101201: name: missing or empty" in msg
    assert "unit 999999001001: kind: unknown kind 'castle'" in msg
    # … then the tree is checked as a whole
    msg = _problem(tmp_path, modified(c999999101200={"kind": "street"}))
    assert "unit 999999101200: kind: street is not allowed for a village" in msg
    data = sample_geojson()
    data["features"].append(feature({"code": "99999912", "name": "x", "kind": "village"}, None))
    assert "unit 99999912: code: must have 6, 9 or 12 digits" in _problem(tmp_path, data)


def test_yaml_errors(tmp_path: Path) -> None:
    bad = copy.deepcopy(YAML_DISTRICT)
    bad["units"][1]["units"][1]["lat"] = "north"  # type: ignore[index]
    bad["units"][0]["generate"] = {"communities": -1}  # type: ignore[index]
    with pytest.raises(InvalidInput) as ei:
        read_definition(_yaml(tmp_path, bad))
    msg = str(ei.value)
    assert "unit 999999101201: lat: must be a number" in msg
    assert "unit 999999001: generate.communities: must be a whole number" in msg
    bad = copy.deepcopy(YAML_DISTRICT)
    bad["units"][1]["units"][0]["code"] = "999999001205"  # type: ignore[index]
    with pytest.raises(InvalidInput) as ei:
        read_definition(_yaml(tmp_path, bad))
    assert "unit 999999001205: code: not nested under its parent's code 999999101" in str(ei.value)
    assert ei.value.field == "999999001205.code"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        read_definition(tmp_path / "missing.yaml")
    (tmp_path / "x.yaml").write_text("code: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        read_definition(tmp_path / "x.yaml")
    (tmp_path / "x.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="no features"):
        read_definition(tmp_path / "x.geojson")
    data = sample_geojson()
    data["features"] = data["features"][1:]
    assert "exactly one district feature" in _problem(tmp_path, data)


def test_missing_positions_and_code_length_reported_together(tmp_path: Path) -> None:
    data = {"code": "500113", "name": "x", "units": [{"code": "5001130", "name": "y", "kind": "town"}]}
    with pytest.raises(InvalidInput) as ei:
        read_definition(_yaml(tmp_path, data))
    msg = str(ei.value)
    assert "unit 500113: lat/lon: position missing" in msg
    assert "unit 5001130: code: must be 9 digits for a town" in msg


def test_generate_needs_a_boundary(tmp_path: Path) -> None:
    data = copy.deepcopy(YAML_DISTRICT)
    del data["boundary"]
    with pytest.raises(InvalidInput, match=r"unit 999999001: generate: needs .* boundary"):
        read_definition(_yaml(tmp_path, data))

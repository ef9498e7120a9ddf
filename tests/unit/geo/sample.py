"""A tiny district (999999 样例区) for loader and service tests: a 0.2° square, two towns, five villages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any


def sq(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(props: dict[str, Any], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def sample_geojson() -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        feature({"code": "999999", "name": "样例区"}, sq(106.0, 29.0, 106.2, 29.2)),
        feature({"code": "999999001", "name": "东街道", "kind": "street"}, sq(106.1, 29.0, 106.2, 29.2)),
        feature({"code": "999999101", "name": "西镇", "kind": "town"}, sq(106.0, 29.0, 106.1, 29.2)),
        feature({"code": "999999001001", "name": "东一社区", "kind": "community"},
                sq(106.1, 29.0, 106.2, 29.1)),
        feature({"code": "999999001002", "name": "东二社区", "kind": "community"},
                sq(106.1, 29.1, 106.2, 29.2)),
        feature({"code": "999999101200", "name": "西一村", "kind": "village"}, sq(106.0, 29.0, 106.1, 29.05)),
        feature({"code": "999999101201", "name": "西二村", "kind": "village"}, sq(106.0, 29.05, 106.1, 29.1)),
        feature({"code": "999999101202", "name": "西三村", "kind": "village", "lat": 29.15, "lon": 106.05},
                sq(106.0, 29.1, 106.1, 29.2)),
    ]}


def write_geojson(tmp: Path, data: dict[str, Any] | None = None, name: str = "d.geojson") -> Path:
    p = tmp / name
    text = json.dumps(data if data is not None else sample_geojson(), ensure_ascii=False)
    p.write_text(text, encoding="utf-8")
    return p


def modified(**changes: Any) -> dict[str, Any]:
    """The sample with ``changes[code] = {prop: value}`` applied (``geometry`` replaces the geometry)."""
    data = copy.deepcopy(sample_geojson())
    for f in data["features"]:
        ch = changes.get("c" + f["properties"]["code"])
        if ch:
            if "geometry" in ch:
                f["geometry"] = ch.pop("geometry")
            f["properties"].update(ch)
    return data

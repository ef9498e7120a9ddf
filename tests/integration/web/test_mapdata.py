"""The one map's layers: polygons and points as GeoJSON, limited by the jurisdiction given."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.core.errors import NotFound
from zhikong.geo.models import AdminUnit
from zhikong.web.pages import mapdata
from zhikong.web.pages.mapdata import S

from . import small_district


def subtree_limit(unit: AdminUnit) -> mapdata.Limit:
    def limit(stmt: S, unit_column: Any, /) -> S:
        ids = select(AdminUnit.id).where(AdminUnit.path.startswith(unit.path))
        return stmt.where(unit_column.in_(ids))
    return limit


def test_whole_district(session: Session) -> None:
    small_district.build(session)
    towns = mapdata.layer_collection(session, "towns", mapdata.no_limit)
    villages = mapdata.layer_collection(session, "villages", mapdata.no_limit)
    assert [f["properties"]["name"] for f in towns["features"]] == ["第1镇", "第2镇"]
    assert len(villages["features"]) == 4
    assert villages["features"][0]["geometry"]["type"] == "Polygon"
    assert villages["features"][0]["properties"]["parent"] == "第1镇"
    places = mapdata.layer_collection(session, "places", mapdata.no_limit)
    iso = mapdata.layer_collection(session, "isolation", mapdata.no_limit)
    assert len(places["features"]) == 4
    assert {f["properties"]["kind"] for f in places["features"]} == {"market"}
    assert [f["properties"]["name"] for f in iso["features"]] == ["第1镇隔离点"]


def test_a_village_sees_only_itself(session: Session) -> None:
    units = small_district.build(session)
    limit = subtree_limit(units["V12"])
    assert mapdata.layer_collection(session, "towns", limit)["features"] == []
    villages = mapdata.layer_collection(session, "villages", limit)["features"]
    assert [f["properties"]["code"] for f in villages] == [units["V12"].code]
    places = mapdata.layer_collection(session, "places", limit)["features"]
    assert [f["properties"]["unit"] for f in places] == [units["V12"].name]
    assert mapdata.layer_collection(session, "isolation", limit)["features"] == []


def test_a_town_sees_its_villages(session: Session) -> None:
    units = small_district.build(session)
    limit = subtree_limit(units["T2"])
    villages = mapdata.layer_collection(session, "villages", limit)["features"]
    assert sorted(f["properties"]["code"] for f in villages) == sorted([units["V21"].code, units["V22"].code])


def test_unknown_layer(session: Session) -> None:
    with pytest.raises(NotFound):
        mapdata.layer_collection(session, "secrets", mapdata.no_limit)

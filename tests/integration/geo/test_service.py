"""geo.service on SQLite and PostgreSQL: loading, idempotence, parent-sees-children, locate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.unit.geo.sample import modified, write_geojson
from zhikong.core.errors import NotFound
from zhikong.geo import service
from zhikong.geo.generate import sample_points_in
from zhikong.geo.geometry import points_in_polygon
from zhikong.geo.loader import read_definition
from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitLevel


def _count(session: Session, level: UnitLevel | None = None) -> int:
    stmt = select(func.count()).select_from(AdminUnit)
    if level is not None:
        stmt = stmt.where(AdminUnit.level == level)
    return int(session.scalar(stmt) or 0)


def test_load_builtin_banan_and_reload_is_idempotent(session: Session) -> None:
    r = service.load_builtin(session, "500113")
    session.commit()
    assert r.created == 323 and r.updated == 0
    assert _count(session, UnitLevel.TOWN) == 22
    assert 280 <= _count(session, UnitLevel.VILLAGE) <= 320
    town = service.get_unit(session, "500113104")
    assert town.name == "木洞镇" and town.path == "/500113/500113104/" and not town.generated
    village = service.children(session, town)[0]
    assert village.path == f"/500113/500113104/{village.code}/" and village.generated
    assert village.parent_id == town.id
    before = {(u.code, u.name, u.path, u.lat, u.lon, u.boundary) for u in session.scalars(select(AdminUnit))}
    r2 = service.load_builtin(session, "500113")
    session.commit()
    assert (r2.created, r2.updated, r2.unchanged) == (0, 0, 323)
    after = {(u.code, u.name, u.path, u.lat, u.lon, u.boundary) for u in session.scalars(select(AdminUnit))}
    assert before == after


def test_reload_updates_changed_names_and_positions(session: Session, tmp_path: Path) -> None:
    service.load_district(session, read_definition(write_geojson(tmp_path)))
    session.commit()
    changed = modified(c999999101202={"name": "西三新村", "lat": 29.16, "lon": 106.06})
    r = service.load_district(session, read_definition(write_geojson(tmp_path, changed)))
    session.commit()
    assert (r.created, r.updated, r.unchanged) == (0, 1, 7)
    u = service.get_unit(session, "999999101202")
    assert (u.name, u.lat, u.lon) == ("西三新村", 29.16, 106.06)


def test_subtree_filter_unit_parent_sibling_child(session: Session, tmp_path: Path) -> None:
    service.load_district(session, read_definition(write_geojson(tmp_path)))
    session.commit()

    def sees(code: str) -> set[str]:
        unit = service.get_unit(session, code)
        stmt = select(AdminUnit.code).where(service.subtree_filter(AdminUnit.path, unit))
        return set(session.scalars(stmt))

    assert sees("999999") == {u.code for u in session.scalars(select(AdminUnit))}
    assert sees("999999101") == {"999999101", "999999101200", "999999101201", "999999101202"}
    assert sees("999999101200") == {"999999101200"}  # a child sees itself, not its siblings
    assert "999999001001" not in sees("999999101")  # nor does a town see its sibling's villages
    assert "999999" not in sees("999999001")  # nor its parent

    # within(): rows attached to units, here places
    for code, vcode in [("P1", "999999001001"), ("P2", "999999101200"), ("P3", "999999101201")]:
        unit = service.get_unit(session, vcode)
        session.add(Place(code=code, name=code, kind=PlaceKind.MARKET, unit_id=unit.id, lat=unit.lat,
                          lon=unit.lon))
    session.commit()

    def places(code: str) -> set[str]:
        stmt = service.within(select(Place.code), Place.unit_id, service.get_unit(session, code))
        return set(session.scalars(stmt))

    assert places("999999") == {"P1", "P2", "P3"}
    assert places("999999101") == {"P2", "P3"}
    assert places("999999101201") == {"P3"}
    assert places("999999001002") == set()


def test_subtree_filter_does_not_match_code_prefixes_across_levels(session: Session, tmp_path: Path) -> None:
    """A path prefix ends with '/', so unit 9999991012 (if it existed) is not under 999999101."""
    service.load_district(session, read_definition(write_geojson(tmp_path)))
    session.commit()
    town = service.get_unit(session, "999999101")
    assert town.path.endswith("/")
    clause = service.subtree_filter(AdminUnit.path, town)
    compiled = str(clause.compile(compile_kwargs={"literal_binds": True}))
    assert "LIKE '/999999/999999101/%'" in compiled


def test_locate_banan(session: Session) -> None:
    service.load_builtin(session, "500113")
    session.commit()
    defn = service.builtin_definition("500113")
    for town in defn.root.children[::3]:
        for v in town.children[::4]:
            assert service.locate(session, v.lat, v.lon).code == v.code
        assert service.locate(session, town.lat, town.lon).path.startswith(f"/500113/{town.code}/")
    rng = np.random.default_rng(11)
    pts = sample_points_in(defn.root.boundary, 400, rng)
    villages = [v for t in defn.root.children for v in t.children]
    ids = service.locate_many(session, pts[:, 1], pts[:, 0])
    by_id = {u.id: u.code for u in session.scalars(select(AdminUnit))}
    for (lon, lat), uid in zip(pts, ids, strict=True):
        assert uid is not None
        expect = [v.code for v in villages
                  if points_in_polygon(np.array([lon]), np.array([lat]), v.boundary)[0]]
        assert [by_id[uid]] == expect
    with pytest.raises(NotFound):
        service.locate(session, 39.9, 116.4)  # Beijing
    assert service.try_locate(session, 39.9, 116.4) is None


def test_locate_deepest_and_fallback(session: Session, tmp_path: Path) -> None:
    data = modified(c999999101202={"geometry": None, "lat": 29.15, "lon": 106.05})
    service.load_district(session, read_definition(write_geojson(tmp_path, data)))
    session.commit()
    assert service.locate(session, 29.02, 106.05).code == "999999101200"
    assert service.locate(session, 29.15, 106.05).code == "999999101"  # no village boundary there


def test_district_projection_and_errors(session: Session) -> None:
    with pytest.raises(NotFound, match="zhikong geo load"):
        service.district_projection(session)
    with pytest.raises(NotFound):
        service.get_unit(session, "500113001")
    service.load_builtin(session)
    session.commit()
    p = service.district_projection(session)
    assert p == service.district_projection("500113")
    assert p.to_xy(29.402, 106.712) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert service.get_district(session).code == "500113"
    assert service.get_district(session, "500113").name == "巴南区"
    with pytest.raises(NotFound, match="no built-in district"):
        service.district_projection("110105")


def test_default_district_prefers_settings_code(session: Session, tmp_path: Path) -> None:
    service.load_district(session, read_definition(write_geojson(tmp_path)))  # 999999
    session.commit()
    assert service.get_district(session).code == "999999"  # the only one
    service.load_builtin(session)
    session.commit()
    assert service.get_district(session).code == "500113"  # Settings.district_code
    assert service.get_district(session, "999999").name == "样例区"

"""Key places: CSV import (UTF-8/GBK, row errors, idempotent) and the Banan demo places."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.core.errors import InvalidInput
from zhikong.geo import service
from zhikong.geo.models import Place, PlaceKind
from zhikong.geo.places import (
    counts_by_kind,
    demo_places,
    import_places,
    import_places_file,
    write_places_csv,
)

HEADER = "code,name,kind,village_code,lat,lon,address\n"


@pytest.fixture
def banan(session: Session) -> Session:
    service.load_builtin(session)
    session.commit()
    return session


def _snapshot(session: Session) -> set[tuple[object, ...]]:
    places = session.scalars(select(Place))
    return {(p.code, p.name, p.kind, p.unit_id, p.lat, p.lon, p.address) for p in places}


def test_demo_places_import_cleanly_and_idempotently(banan: Session, tmp_path: Path) -> None:
    rows = demo_places(service.builtin_definition("500113"))
    kinds = {k: sum(r.kind == k for r in rows) for k in PlaceKind}
    assert kinds[PlaceKind.ISOLATION_POINT] == 15 and kinds[PlaceKind.ADMIN_CENTRE] == 1
    for k in (PlaceKind.MARKET, PlaceKind.SUPERMARKET, PlaceKind.SQUARE, PlaceKind.CHECKPOINT,
              PlaceKind.SCHOOL, PlaceKind.HOSPITAL):
        assert kinds[k] >= 10, k
    path = write_places_csv(rows, tmp_path / "places.csv")
    r = import_places_file(banan, path)
    banan.commit()
    assert r.errors == [] and r.created == len(rows)
    # each place lies in the village it names
    for p in banan.scalars(select(Place)).all()[::7]:
        assert service.locate(banan, p.lat, p.lon).id == p.unit_id, p.code
    before = _snapshot(banan)
    r2 = import_places_file(banan, path)
    banan.commit()
    assert (r2.created, r2.updated, r2.unchanged, r2.errors) == (0, 0, len(rows), [])
    assert _snapshot(banan) == before
    assert counts_by_kind(banan)["isolation_point"] == 15


def test_gbk_file_with_bad_rows(banan: Session, tmp_path: Path) -> None:
    v = service.get_unit(banan, "500113001001")
    good = f"M1,鱼洞农贸市场,农贸市场,{v.code},{v.lat},{v.lon},巴南区某路1号\n"
    bad = (
        f"M2,超市,supermarket,500113999999,{v.lat},{v.lon},\n"      # unknown village
        f"M3,广场,square,{v.code},north,{v.lon},\n"                  # lat not a number
        f"M4,卡口,castle,{v.code},{v.lat},{v.lon},\n"                 # unknown kind
        f"M1,重复,market,{v.code},{v.lat},{v.lon},\n"                 # duplicate code
        f"M5,北京,market,{v.code},39.9,116.4,\n"                       # outside the district
        f",无编号,market,{v.code},{v.lat},{v.lon},\n"                  # missing code
    )
    path = tmp_path / "places_gbk.csv"
    path.write_bytes((HEADER + good + bad).encode("gbk"))
    r = import_places_file(banan, path)
    banan.commit()
    assert r.created == 1
    got = [(e.row, e.field) for e in r.errors]
    assert got == [(3, "village_code"), (4, "lat"), (5, "kind"), (6, "code"), (7, "lat/lon"), (8, "code")]
    assert all(e.file == "places_gbk.csv" for e in r.errors)
    assert "first on row 2" in r.errors[3].reason
    p = banan.scalars(select(Place).where(Place.code == "M1")).one()
    assert (p.name, p.kind, p.unit_id, p.address) == ("鱼洞农贸市场", PlaceKind.MARKET, v.id, "巴南区某路1号")


def test_bad_rows_never_change_stored_places(banan: Session, tmp_path: Path) -> None:
    v = service.get_unit(banan, "500113101200")
    path = tmp_path / "p.csv"
    path.write_text(HEADER + f"S1,界石超市,supermarket,{v.code},{v.lat},{v.lon},\n", encoding="utf-8-sig")
    import_places_file(banan, path)
    banan.commit()
    before = _snapshot(banan)
    path.write_text(HEADER + f"S1,改名,supermarket,{v.code},{v.lat},999,\n", encoding="utf-8")
    r = import_places_file(banan, path)
    banan.commit()
    assert r.errors and r.errors[0].field == "lon" and _snapshot(banan) == before
    # a good change is applied
    path.write_text(HEADER + f"S1,界石生活超市,supermarket,{v.code},{v.lat},{v.lon},\n", encoding="utf-8")
    r = import_places_file(banan, path)
    banan.commit()
    assert (r.updated, r.errors) == (1, [])
    assert banan.scalars(select(Place.name).where(Place.code == "S1")).one() == "界石生活超市"


def test_file_level_errors(banan: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("code,name,kind\nA,b,market\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="missing column"):
        import_places_file(banan, path)
    path.write_bytes(b"\xff\xfe\x00\x00garbage\x81")
    with pytest.raises(InvalidInput, match="neither UTF-8 nor GBK"):
        import_places_file(banan, path)
    with pytest.raises(InvalidInput, match="does not exist"):
        import_places_file(banan, tmp_path / "nope.csv")
    assert import_places(banan, []).created == 0

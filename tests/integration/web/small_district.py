"""A tiny district for the web tests: 1 district, 2 towns, 2 villages each, squares as boundaries."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitKind, UnitLevel


def square(lon: float, lat: float, d: float) -> str:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d],
            [lon - d, lat - d]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def build(session: Session) -> dict[str, AdminUnit]:
    """Units by code: ``D`` 900001, towns ``T1``/``T2``, villages ``V11``, ``V12``, ``V21``, ``V22``."""
    units: dict[str, AdminUnit] = {}
    d = AdminUnit(code="900001", name="测试区", level=UnitLevel.DISTRICT, kind=UnitKind.DISTRICT,
                  path="/900001/", lat=29.4, lon=106.5, boundary=square(106.5, 29.4, 0.2))
    session.add(d)
    session.flush()
    units["D"] = d
    for t in (1, 2):
        tlon = 106.4 + 0.2 * (t - 1)
        town = AdminUnit(code=f"900001{t:03d}", name=f"第{t}镇", level=UnitLevel.TOWN, kind=UnitKind.TOWN,
                         parent_id=d.id, path=f"/900001/900001{t:03d}/", lat=29.4, lon=tlon,
                         boundary=square(tlon, 29.4, 0.1))
        session.add(town)
        session.flush()
        units[f"T{t}"] = town
        for v in (1, 2):
            vlat = 29.35 + 0.1 * (v - 1)
            code = f"900001{t:03d}{v:03d}"
            village = AdminUnit(code=code, name=f"第{t}镇{v}村", level=UnitLevel.VILLAGE,
                                kind=UnitKind.VILLAGE, parent_id=town.id, path=f"{town.path}{code}/",
                                lat=vlat, lon=tlon, boundary=square(tlon, vlat, 0.05))
            session.add(village)
            session.flush()
            units[f"V{t}{v}"] = village
            session.add(Place(code=f"P{code}", name=f"{village.name}市场", kind=PlaceKind.MARKET,
                              unit_id=village.id, lat=vlat, lon=tlon, address="测试路1号"))
    session.add(Place(code="ISO1", name="第1镇隔离点", kind=PlaceKind.ISOLATION_POINT, unit_id=units["T1"].id,
                      lat=29.41, lon=106.41))
    session.flush()
    return units

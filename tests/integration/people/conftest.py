"""A small admin hierarchy made directly with the ORM (the geo loader is another domain's job)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
from zhikong.people.generate import VillageSpec, generate_population, write_ledger_csv

DISTRICT = "500113"
TOWN = "500113101"
VILLAGES = [VillageSpec("500113101001", "石岗村", urban=False, town_name="界石镇"),
            VillageSpec("500113101201", "桂花社区", urban=True, town_name="界石镇")]


@pytest.fixture
def villages(session: Session) -> list[VillageSpec]:
    d = AdminUnit(code=DISTRICT, name="巴南区", level=UnitLevel.DISTRICT, kind=UnitKind.DISTRICT,
                  path=f"/{DISTRICT}/", lat=29.4, lon=106.5)
    session.add(d)
    session.flush()
    t = AdminUnit(code=TOWN, name="界石镇", level=UnitLevel.TOWN, kind=UnitKind.TOWN, parent_id=d.id,
                  path=f"/{DISTRICT}/{TOWN}/", lat=29.4, lon=106.6)
    session.add(t)
    session.flush()
    for v in VILLAGES:
        session.add(AdminUnit(code=v.code, name=v.name, level=UnitLevel.VILLAGE,
                              kind=UnitKind.COMMUNITY if v.urban else UnitKind.VILLAGE,
                              parent_id=t.id, path=f"/{DISTRICT}/{TOWN}/{v.code}/", lat=29.4,
                              lon=106.6, urban=v.urban))
    session.commit()
    return VILLAGES


def write_ledger(path: Path, n: int, seed: int = 1, encoding: str = "utf-8") -> Path:
    write_ledger_csv(generate_population(VILLAGES, n, seed), path, encoding=encoding)
    return path

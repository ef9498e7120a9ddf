"""Small builders for workflow tests: a unit tree and users (created directly with the ORM)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from zhikong.auth import service as auth_service
from zhikong.auth.models import Role, User
from zhikong.auth.service import create_user
from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitKind, UnitLevel

PASSWORD = "correct-horse-9"

# cheap password hashing in tests (the parameters are stored in each hash, so checks still work)
auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class Tree:
    """district ─┬─ town1 ─┬─ village11
                 │         └─ village12
                 └─ town2 ─── village21"""

    district: AdminUnit
    town1: AdminUnit
    town2: AdminUnit
    village11: AdminUnit
    village12: AdminUnit
    village21: AdminUnit
    place11: Place


def _unit(s: Session, code: str, name: str, level: UnitLevel, kind: UnitKind, parent: AdminUnit | None,
          lat: float, lon: float) -> AdminUnit:
    path = (parent.path if parent else "/") + code + "/"
    u = AdminUnit(code=code, name=name, level=level, kind=kind, parent_id=parent.id if parent else None,
                  path=path, lat=lat, lon=lon, generated=True, urban=False)
    s.add(u)
    s.flush()
    return u


def make_tree(s: Session) -> Tree:
    d = _unit(s, "500113", "巴南区", UnitLevel.DISTRICT, UnitKind.DISTRICT, None, 29.40, 106.54)
    t1 = _unit(s, "500113001", "甲镇", UnitLevel.TOWN, UnitKind.TOWN, d, 29.30, 106.50)
    t2 = _unit(s, "500113002", "乙街道", UnitLevel.TOWN, UnitKind.STREET, d, 29.50, 106.60)
    v11 = _unit(s, "500113001001", "一村", UnitLevel.VILLAGE, UnitKind.VILLAGE, t1, 29.31, 106.51)
    v12 = _unit(s, "500113001002", "二村", UnitLevel.VILLAGE, UnitKind.VILLAGE, t1, 29.29, 106.49)
    v21 = _unit(s, "500113002001", "三社区", UnitLevel.VILLAGE, UnitKind.COMMUNITY, t2, 29.51, 106.61)
    p = Place(code="P-11", name="一村农贸市场", kind=PlaceKind.MARKET, unit_id=v11.id,
              lat=29.311, lon=106.511)
    s.add(p)
    s.flush()
    return Tree(d, t1, t2, v11, v12, v21, p)


def make_user(s: Session, role: Role, unit: AdminUnit,
              name: str | None = None) -> User:
    return create_user(s, username=name or f"{role.value}-{unit.code}", password=PASSWORD, role=role,
                       unit_id=unit.id, actor="test")


#: where each role sits in ``Tree`` for role-by-role tests
HOME: dict[Role, str] = {
    Role.DISTRICT_COMMAND: "district",
    Role.SUPERVISION: "district",
    Role.SYSTEM_ADMIN: "district",
    Role.TOWN_OPERATOR: "town1",
    Role.VILLAGE_OPERATOR: "village11",
    Role.VIDEO_PATROLLER: "town1",
    Role.ISOLATION_STAFF: "town1",
    Role.ENTERPRISE_ADMIN: "village11",
}


def api_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through ``/api/auth/login`` (cookie session) and return the CSRF token."""
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])

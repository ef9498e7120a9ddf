"""A tiny district: one town with two villages, three ledger persons, two enterprises with admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.orm import Session

from zhikong.auth.models import Role, User
from zhikong.auth.service import create_user
from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.enterprise import service
from zhikong.enterprise.models import Enterprise
from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
from zhikong.people.idcard import make_id_number
from zhikong.people.models import Person

PHONES = ["13800138001", "13800138002", "13800138003", "13800138004"]


def _unit(session: Session, code: str, level: UnitLevel, kind: UnitKind,
          parent: AdminUnit | None) -> AdminUnit:
    u = AdminUnit(code=code, name=f"单位{code[-3:]}", level=level, kind=kind,
                  parent_id=parent.id if parent else None,
                  path=(parent.path if parent else "/") + code + "/", lat=29.4, lon=106.5)
    session.add(u)
    session.flush()
    return u


@dataclass
class World:
    district: AdminUnit
    town: AdminUnit
    town2: AdminUnit
    village: AdminUnit
    village2: AdminUnit
    persons: list[Person]
    ids: list[str]
    ent_a: Enterprise
    ent_b: Enterprise
    admin_a: User
    admin_b: User
    town_user: User
    district_user: User


@pytest.fixture
def world(session: Session) -> World:
    district = _unit(session, "500113", UnitLevel.DISTRICT, UnitKind.DISTRICT, None)
    town = _unit(session, "500113001", UnitLevel.TOWN, UnitKind.TOWN, district)
    town2 = _unit(session, "500113002", UnitLevel.TOWN, UnitKind.TOWN, district)
    village = _unit(session, "500113001001", UnitLevel.VILLAGE, UnitKind.VILLAGE, town)
    village2 = _unit(session, "500113002001", UnitLevel.VILLAGE, UnitKind.VILLAGE, town2)
    cipher = get_cipher()
    ids = [make_id_number("500113", date(1980 + i, 3, 4), i, "male") for i in range(4)]
    persons = []
    for i in range(3):  # the fourth ID number is a non-resident
        p = Person(name=f"员工{i}", id_number_enc=cipher.encrypt(ids[i]),
                   id_number_hash=cipher.keyed_hash(ids[i]), id_number_masked=mask_middle(ids[i], 6, 4),
                   phone_enc=cipher.encrypt("+86" + PHONES[i]),
                   phone_hash=cipher.keyed_hash("+86" + PHONES[i]),
                   village_id=village.id if i < 2 else village2.id)
        session.add(p)
        persons.append(p)
    session.flush()
    ent_a = service.create_enterprise(session, name="甲公司", town_code=town.code, address="甲路1号")
    ent_b = service.create_enterprise(session, name="乙公司", town_code=town2.code, address="乙路2号")
    admin_a = create_user(session, username="ent_a", password="Passw0rd!long", role=Role.ENTERPRISE_ADMIN,
                          unit_id=town.id)
    admin_b = create_user(session, username="ent_b", password="Passw0rd!long", role=Role.ENTERPRISE_ADMIN,
                          unit_id=town2.id)
    service.bind_admin(session, ent_a.id, admin_a)
    service.bind_admin(session, ent_b.id, admin_b)
    town_user = create_user(session, username="town1", password="Passw0rd!long",
                            role=Role.TOWN_OPERATOR, unit_id=town.id)
    district_user = create_user(session, username="cmd", password="Passw0rd!long",
                                role=Role.DISTRICT_COMMAND, unit_id=district.id)
    session.commit()
    return World(district, town, town2, village, village2, persons, ids, ent_a, ent_b, admin_a, admin_b,
                 town_user, district_user)

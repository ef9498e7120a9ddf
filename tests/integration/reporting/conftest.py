"""Fixtures of the reporting page tests: the small tree with a district commander, both town
operators and a village operator, and a TestClient of the whole app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.factories import Tree, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.web.app import create_app


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        t = make_tree(s)
        for role, unit in (
            (Role.DISTRICT_COMMAND, t.district),
            (Role.TOWN_OPERATOR, t.town1),
            (Role.TOWN_OPERATOR, t.town2),
            (Role.VILLAGE_OPERATOR, t.village11),
        ):
            make_user(s, role, unit)
    return t


@pytest.fixture
def client(engine: Engine, tree: Tree) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c

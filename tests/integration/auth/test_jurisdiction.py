"""Exhaustive jurisdiction test: every role, bound to a town and to a village, against records in
its unit, its parent, its sibling and its child (and the rest of the tree). Zero leaks: lists,
single reads and the live-alert feed return exactly the user's subtree (district roles: all)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from tests.factories import Tree, make_tree, make_user
from zhikong.alerts import service as alerts
from zhikong.alerts.models import AlertKind
from zhikong.auth import DISTRICT_ROLES, Role, restrict
from zhikong.core.db import unit_of_work
from zhikong.core.errors import NotFound
from zhikong.people.models import Person
from zhikong.tasks import service as tasks
from zhikong.tasks.models import Priority, TaskKind

UNITS = ["district", "town1", "town2", "village11", "village12", "village21"]
#: what each position is, relative to the user's unit: (own unit, parent, sibling, child)
POSITIONS = {"town1": ("town1", "district", "town2", "village11"),
             "village11": ("village11", "town1", "village12", None)}
SUBTREE = {"district": set(UNITS), "town1": {"town1", "village11", "village12"},
           "village11": {"village11"}}


@pytest.fixture
def seeded(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
        for name in UNITS:
            unit = getattr(tree, name)
            tasks.create_task(s, kind=TaskKind.REGISTRATION, unit_id=unit.id, title=f"task@{name}",
                              description="", priority=Priority.NORMAL, source="test", actor="test")
            alerts.intake(s, alerts.AlertIn(idempotency_key=f"k-{name}", kind=AlertKind.CROWD,
                                            occurred_at=datetime.now(UTC), unit_id=unit.id,
                                            title=f"alert@{name}"))
            s.add(Person(name=f"person@{name}", village_id=unit.id))
        for role in Role:
            for pos in POSITIONS:
                make_user(s, role, getattr(tree, pos), name=f"{role.value}@{pos}")
    return tree


def test_zero_leaks(engine: Engine, seeded: Tree) -> None:
    """All 8 roles × 2 positions, on SQLite and PostgreSQL (one seeding per backend)."""
    checked = 0
    for role in Role:
        for position in POSITIONS:
            _check(engine, role, position)
            checked += 1
    assert checked == 16


def _check(engine: Engine, role: Role, position: str) -> None:
    from zhikong.auth.models import User

    want = set(UNITS) if role in DISTRICT_ROLES else SUBTREE[position]
    own, parent, sibling, child = POSITIONS[position]
    with unit_of_work(engine) as s:
        user = s.scalars(select(User).where(User.username == f"{role.value}@{position}")).one()
        items, total = tasks.list_tasks(s, user, tasks.TaskFilter(limit=500))
        assert {t.title.split("@")[1] for t in items} == want and total == len(want)
        alert_items, alert_total = alerts.list_alerts(s, user, limit=500)
        assert {a.title.split("@")[1] for a in alert_items} == want and alert_total == len(want)
        assert {a.title.split("@")[1] for a in alerts.new_since(s, user, 0)} == want
        people = s.scalars(restrict(select(Person), user, Person.village_id)).all()
        assert {p.name.split("@")[1] for p in people} == want
        # single reads of records in the parent and the sibling are "not found" unless district-level
        all_tasks = {t.title.split("@")[1]: t.id for t in tasks.list_tasks(
            s, s.scalars(select(User).where(User.username == "system_admin@town1")).one(),
            tasks.TaskFilter(limit=500))[0]}
        for where in (own, parent, sibling, child):
            if where is None:
                continue
            if where in want:
                assert tasks.get_task(s, user, all_tasks[where]).id == all_tasks[where]
            else:
                with pytest.raises(NotFound):
                    tasks.get_task(s, user, all_tasks[where])
        assert (parent in want) == (role in DISTRICT_ROLES)
        assert (sibling in want) == (role in DISTRICT_ROLES)
        if child is not None:
            assert child in want

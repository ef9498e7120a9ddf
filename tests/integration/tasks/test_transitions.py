"""Exhaustive test of the task transition table: every state × action × role.

Allowed combinations succeed and land in the table's target state; every other one raises
``Conflict`` (not allowed from this state) or ``PermissionDenied`` (not for this role), and leaves
the task unchanged. A few rules are also spelled out by hand, independently of the table.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.factories import HOME, Tree, make_tree, make_user
from zhikong.auth.models import Role, User
from zhikong.core.db import make_engine, session_factory
from zhikong.core.errors import Conflict, PermissionDenied
from zhikong.core.migrate import upgrade
from zhikong.core.time import utcnow
from zhikong.tasks import service
from zhikong.tasks.models import Priority, Task, TaskEvent, TaskKind, TaskState
from zhikong.tasks.workflow import ACTION_ROLES, TRANSITIONS, Action, allowed_actions


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, Tree, dict[Role, User], Task]]:
    import os

    from zhikong.core import config as config_mod

    d = tmp_path_factory.mktemp("transitions")
    old = {k: os.environ.get(k) for k in ("ZHIKONG_DATA_DIR", "ZHIKONG_SECRET_KEY", "ZHIKONG_DATABASE_URL")}
    os.environ["ZHIKONG_DATA_DIR"] = str(d)
    os.environ["ZHIKONG_SECRET_KEY"] = "test-secret-key-0123456789abcdef"
    os.environ.pop("ZHIKONG_DATABASE_URL", None)
    config_mod.get_settings.cache_clear()
    engine: Engine = make_engine(f"sqlite:///{d}/t.db")
    upgrade(engine)
    s = session_factory(engine)()
    tree = make_tree(s)
    users = {role: make_user(s, role, getattr(tree, HOME[role])) for role in Role}
    task = service.create_task(s, kind=TaskKind.OTHER, unit_id=tree.village11.id, title="t", description="",
                               priority=Priority.NORMAL, source="test", actor="test")
    s.commit()
    try:
        yield s, tree, users, task
    finally:
        s.close()
        engine.dispose()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config_mod.get_settings.cache_clear()


CASES = list(itertools.product(TaskState, Action, Role))


def expected(state: TaskState, action: Action, role: Role) -> type[Exception] | TaskState:
    if role not in ACTION_ROLES[action]:
        return PermissionDenied
    t = TRANSITIONS.get((state, action))
    if t is None:
        return Conflict
    if role not in t.roles:
        return PermissionDenied
    return t.to


def test_case_count() -> None:
    assert len(CASES) == len(TaskState) * len(Action) * len(Role) == 9 * 10 * 8


@pytest.mark.parametrize(("state", "action", "role"), CASES, ids=lambda v: getattr(v, "value", str(v)))
def test_every_state_action_role(world: tuple[Session, Tree, dict[Role, User], Task], state: TaskState,
                                 action: Action, role: Role) -> None:
    s, tree, users, task = world
    nested = s.begin_nested()
    try:
        task.state = state
        s.flush()
        before_version = task.version
        events_before = s.scalar(select(TaskEvent.id).order_by(TaskEvent.id.desc()).limit(1))
        want = expected(state, action, role)
        kwargs = {"reason": "why", "feedback": "done", "unit_id": tree.village12.id,
                  "deadline": utcnow() + timedelta(hours=3)}
        if isinstance(want, TaskState):
            out = service.transition(s, users[role], task.id, action, version=before_version, **kwargs)
            assert out.state == want
            assert out.version == before_version + 1
            last = s.scalars(select(TaskEvent).order_by(TaskEvent.id.desc()).limit(1)).one()
            assert (last.action, last.from_state, last.to_state, last.actor_id) == (
                action.value, state, want, users[role].id)
        else:
            with pytest.raises(want):
                service.transition(s, users[role], task.id, action, version=before_version, **kwargs)
            s.refresh(task)
            assert task.state == state and task.version == before_version
            assert s.scalar(select(TaskEvent.id).order_by(TaskEvent.id.desc()).limit(1)) == events_before
    finally:
        nested.rollback()


def test_table_rules_by_hand() -> None:
    """Rules stated independently of the table (so a wrong table entry fails here)."""
    assert Action.ACCEPT not in allowed_actions(TaskState.SUBMITTED, Role.VILLAGE_OPERATOR)
    assert allowed_actions(TaskState.ASSIGNED, Role.VILLAGE_OPERATOR) == [Action.SIGN_FOR]
    assert set(allowed_actions(TaskState.ESCALATED, Role.SUPERVISION)) == {Action.PUSH, Action.REASSIGN,
                                                                           Action.CLOSE}
    assert Action.PUSH not in allowed_actions(TaskState.ESCALATED, Role.DISTRICT_COMMAND)
    for state in TaskState:
        assert allowed_actions(state, Role.ENTERPRISE_ADMIN) == []
        assert allowed_actions(state, Role.SYSTEM_ADMIN) == []
    for state in (TaskState.ACCEPTED, TaskState.CLOSED):
        for role in Role:
            assert allowed_actions(state, role) == []
    assert TRANSITIONS[(TaskState.SUBMITTED, Action.RETURN)].to == TaskState.RETURNED
    assert TRANSITIONS[(TaskState.RETURNED, Action.SUBMIT)].to == TaskState.SUBMITTED


def test_town_cannot_accept_own_units_work(world: tuple[Session, Tree, dict[Role, User], Task]) -> None:
    s, tree, users, _ = world
    nested = s.begin_nested()
    try:
        own = service.create_task(s, kind=TaskKind.OTHER, unit_id=tree.town1.id, title="town task",
                                  description="", priority=Priority.LOW, source="test", actor="test")
        own.state = TaskState.SUBMITTED
        s.flush()
        with pytest.raises(PermissionDenied):
            service.transition(s, users[Role.TOWN_OPERATOR], own.id, Action.ACCEPT)
        out = service.transition(s, users[Role.DISTRICT_COMMAND], own.id, Action.ACCEPT)
        assert out.state == TaskState.ACCEPTED
    finally:
        nested.rollback()

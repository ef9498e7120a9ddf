"""Alert intake: idempotency, routing, suppression window, handling (confirm → task, dismiss)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import Tree, make_tree, make_user
from zhikong.alerts import service
from zhikong.alerts.models import Alert, AlertDelivery, AlertKind, AlertState, Severity
from zhikong.auth.models import Role
from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, InvalidInput, PermissionDenied
from zhikong.tasks.models import SubjectType, Task, TaskState

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def tree(engine: Engine) -> Tree:
    with unit_of_work(engine) as s:
        t = make_tree(s)
        make_user(s, Role.VILLAGE_OPERATOR, t.village11, "v11")
        make_user(s, Role.VILLAGE_OPERATOR, t.village21, "v21")
        make_user(s, Role.ENTERPRISE_ADMIN, t.village11, "ent")
    return t


def _in(key: str, tree: Tree, **kw: object) -> service.AlertIn:
    base: dict[str, object] = {"idempotency_key": key, "kind": AlertKind.CROWD, "occurred_at": T0,
                               "place_id": tree.place11.id}
    base.update(kw)
    return service.AlertIn(**base)  # type: ignore[arg-type]


def test_idempotent_intake(engine: Engine, tree: Tree) -> None:
    with unit_of_work(engine) as s:
        a1, o1 = service.intake(s, _in("dev-1", tree, snapshot=PNG))
    with unit_of_work(engine) as s:
        a2, o2 = service.intake(s, _in("dev-1", tree, snapshot=PNG))
        a3, o3 = service.intake(s, _in("dev-1", tree, snapshot=PNG))
    assert (o1, o2, o3) == ("created", "replayed", "replayed")
    assert a1.id == a2.id == a3.id
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.scalar(select(func.count()).select_from(AlertDelivery)) == 1
        assert s.get(Alert, a1.id).count == 1  # type: ignore[union-attr]
        with pytest.raises(Conflict):
            service.intake(s, _in("dev-1", tree, severity=Severity.CRITICAL))


def test_routing_and_bad_input(engine: Engine, tree: Tree) -> None:
    with unit_of_work(engine) as s:
        a, _ = service.intake(s, _in("p", tree))
        assert a.unit_id == tree.village11.id  # the place's unit
        b, _ = service.intake(s, _in("pos", tree, place_id=None, lat=29.512, lon=106.611))
        assert b.unit_id == tree.village21.id  # the village containing / nearest to the position
        with pytest.raises(InvalidInput) as e:
            service.intake(s, _in("x1", tree, place_id=None))
        assert e.value.field == "place_id"
        with pytest.raises(InvalidInput) as e:
            service.intake(s, _in("x2", tree, place_id=999))
        assert e.value.field == "place_id"
        with pytest.raises(InvalidInput) as e:
            service.intake(s, _in("x3", tree, snapshot=b"GIF89a" + b"\0" * 10))
        assert e.value.field == "snapshot_base64"
        with pytest.raises(InvalidInput):
            service.intake(s, _in("x4", tree, occurred_at=datetime.now(UTC) + timedelta(hours=2)))
        with pytest.raises(InvalidInput):
            service.intake(s, _in("x5", tree, place_id=None, lat=29.5, lon=None))


def test_suppression_window(engine: Engine, tree: Tree, settings: object) -> None:
    with unit_of_work(engine) as s:
        a, o = service.intake(s, _in("s1", tree))
        b, o2 = service.intake(s, _in("s2", tree, occurred_at=T0 + timedelta(minutes=10),
                                      severity=Severity.CRITICAL))
        c, o3 = service.intake(s, _in("s3", tree, occurred_at=T0 + timedelta(minutes=35)))
        d, o4 = service.intake(s, _in("s4", tree, occurred_at=T0 + timedelta(minutes=90)))
        e, o5 = service.intake(s, _in("s5", tree, kind=AlertKind.NO_MASK))
    assert (o, o2, o3, o4, o5) == ("created", "suppressed", "suppressed", "created", "created")
    assert a.id == b.id == c.id and d.id != a.id and e.id != a.id
    with unit_of_work(engine) as s:
        merged = s.get(Alert, a.id)
        assert merged is not None
        assert merged.count == 3 and merged.severity == Severity.CRITICAL
        assert merged.last_seen_at == T0 + timedelta(minutes=35)
    # a handled alert does not swallow new deliveries
    with unit_of_work(engine) as s:
        from zhikong.auth.models import User

        v11 = s.scalars(select(User).where(User.username == "v11")).one()
        service.act(s, v11, d.id, "dismiss", reason="误报 false alarm")
        f, o6 = service.intake(s, _in("s6", tree, occurred_at=T0 + timedelta(minutes=95)))
    assert o6 == "created" and f.id != d.id


def test_confirm_dismiss_and_roles(engine: Engine, tree: Tree) -> None:
    from zhikong.auth.models import User

    with unit_of_work(engine) as s:
        a, _ = service.intake(s, _in("c1", tree, severity=Severity.CRITICAL))
        b, _ = service.intake(s, _in("c2", tree, kind=AlertKind.FEVER))
    with unit_of_work(engine) as s:
        v11 = s.scalars(select(User).where(User.username == "v11")).one()
        v21 = s.scalars(select(User).where(User.username == "v21")).one()
        ent = s.scalars(select(User).where(User.username == "ent")).one()
        with pytest.raises(PermissionDenied):
            service.act(s, ent, a.id, "acknowledge")
        with pytest.raises(Exception) as e:
            service.act(s, v21, a.id, "acknowledge")
        assert type(e.value).__name__ == "NotFound"
        service.act(s, v11, a.id, "acknowledge")
        with pytest.raises(Conflict):
            service.act(s, v11, a.id, "acknowledge")
        done = service.act(s, v11, a.id, "confirm")
        assert done.state == AlertState.CONFIRMED and done.task_id is not None
        task = s.get(Task, done.task_id)
        assert task is not None
        assert (task.subject_type, task.subject_id, task.unit_id, task.state) == (
            SubjectType.ALERT, a.id, tree.village11.id, TaskState.ASSIGNED)
        assert task.priority.value == "urgent"
        with pytest.raises(InvalidInput):
            service.act(s, v11, b.id, "dismiss")
        assert service.act(s, v11, b.id, "dismiss", reason="体温复测正常").state == AlertState.DISMISSED
        with pytest.raises(Conflict):
            service.act(s, v11, b.id, "confirm")

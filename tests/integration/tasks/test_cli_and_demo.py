"""CLI commands (auth, tasks, worker, audit) and the demo steps on a small tree."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.factories import make_tree
from zhikong.alerts.models import Alert, AlertState
from zhikong.auth.models import Role, User
from zhikong.cli import app
from zhikong.core.db import unit_of_work
from zhikong.core.errors import Conflict, InvalidInput
from zhikong.tasks.models import Task, TaskState


class Ctx:
    def __init__(self) -> None:
        self.console = Console(width=120)
        self.data: dict[str, Any] = {}


def test_demo_steps(engine: Engine) -> None:
    from zhikong.alerts import demo as alerts_demo
    from zhikong.auth import demo as auth_demo
    from zhikong.tasks import demo as tasks_demo

    with unit_of_work(engine) as s:
        make_tree(s)
    ctx = Ctx()
    for step in (auth_demo.step, tasks_demo.step, alerts_demo.step):
        step(ctx)
    auth_demo.step(ctx)  # idempotent
    with unit_of_work(engine) as s:
        assert {u.role for u in s.scalars(select(User))} == set(Role)
        states = dict(s.execute(select(Task.state, func.count()).group_by(Task.state)).all())
        assert states[TaskState.SUBMITTED] == 1 and states[TaskState.ESCALATED] == 1
        assert states[TaskState.ASSIGNED] >= 2
        alerts = {a.kind.value: a for a in s.scalars(select(Alert))}
        assert alerts["crowd"].count == 3
        assert alerts["fever"].state == AlertState.CONFIRMED and alerts["fever"].task_id is not None
        assert alerts["no_mask"].state == AlertState.DISMISSED


def test_cli(engine: Engine) -> None:
    with unit_of_work(engine) as s:
        tree = make_tree(s)
    r = CliRunner()
    out = r.invoke(app, ["auth", "demo-users"])
    assert out.exit_code == 0, out.output
    assert "command" in out.output and "zhikong-demo" in out.output
    out = r.invoke(app, ["auth", "create-user", "ops1", "--role", "town_operator", "--unit", tree.town2.code,
                         "--password", "long-enough-1"])
    assert out.exit_code == 0, out.output
    out = r.invoke(app, ["auth", "create-user", "ops2", "--role", "town_operator", "--unit", "999",
                         "--password", "long-enough-1"])
    assert isinstance(out.exception, InvalidInput) and out.exception.field == "unit"
    out = r.invoke(app, ["tasks", "create", "核酸检测组织", "--unit", tree.village11.code, "--unit",
                         tree.village21.code, "--kind", "other", "--user", "command"])
    assert out.exit_code == 0, out.output
    out = r.invoke(app, ["tasks", "list", "--user", "ops1"])
    assert out.exit_code == 0 and "1 tasks" in out.output  # town2 sees only its village's task
    with unit_of_work(engine) as s:
        tid = s.scalar(select(Task.id).where(Task.unit_id == tree.village21.id))
    out = r.invoke(app, ["tasks", "act", str(tid), "sign_for", "--user", "ops1"])
    assert out.exit_code == 0 and "signed_for" in out.output, out.output
    out = r.invoke(app, ["tasks", "act", str(tid), "accept", "--user", "ops1"])
    assert isinstance(out.exception, Conflict)  # illegal transition (exit code 5 via zhikong.cli.main)
    out = r.invoke(app, ["tasks", "show", str(tid), "--user", "command"])
    assert out.exit_code == 0 and "sign_for" in out.output
    out = r.invoke(app, ["worker", "--once"])
    assert out.exit_code == 0 and "escalated 0" in out.output
    out = r.invoke(app, ["audit", "verify"])
    assert out.exit_code == 0 and "intact" in out.output

"""``zhikong tasks``: list, create, show and act on tasks; ``zhikong worker``."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import Role, User
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.geo.models import AdminUnit
from zhikong.tasks import service
from zhikong.tasks.models import Priority, TaskKind, TaskState
from zhikong.tasks.workflow import Action

app = typer.Typer(help="Tasks 交办/督办: list, create, show, act.", no_args_is_help=True)
console = Console()


def _user(s: Session, username: str | None) -> User:
    if username is None:
        user = s.scalar(select(User).where(User.role == Role.SYSTEM_ADMIN).order_by(User.id).limit(1))
        if user is None:
            raise NotFound("no system admin user; give --user")
        return user
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}", field="user")
    return user


def _unit(s: Session, code: str) -> int:
    unit = s.scalar(select(AdminUnit).where(AdminUnit.code == code))
    if unit is None:
        raise InvalidInput(f"unknown administrative unit {code!r}", field="unit")
    return unit.id


@app.command("list")
def list_cmd(
    user: str = typer.Option(None, "--user", help="List as this user (jurisdiction applies)."),
    state: list[TaskState] = typer.Option([], "--state", help="Only these states."),
    overdue: bool = typer.Option(False, "--overdue", help="Only overdue open tasks."),
    limit: int = typer.Option(50, help="At most this many."),
) -> None:
    """List tasks, most urgent deadline first."""
    with unit_of_work() as s:
        u = _user(s, user)
        items, total = service.list_tasks(
            s, u, service.TaskFilter(state=state, overdue=True if overdue else None, limit=limit)
        )
        table = Table("id", "state", "kind", "priority", "unit", "deadline", "title", title=f"{total} tasks")
        for t in items:
            table.add_row(
                str(t.id),
                t.state.value,
                t.kind.value,
                t.priority.value,
                t.unit.name,
                t.deadline_at.isoformat(timespec="minutes"),
                t.title,
            )
    console.print(table)


@app.command("create")
def create_cmd(
    title: str = typer.Argument(...),
    unit: list[str] = typer.Option(..., "--unit", help="Unit code; repeat for a bulk instruction."),
    kind: TaskKind = typer.Option(TaskKind.OTHER),
    priority: Priority = typer.Option(Priority.NORMAL),
    description: str = typer.Option(""),
    deadline: datetime = typer.Option(None, help="Local time; default by priority."),
    user: str = typer.Option(None, "--user", help="Create as this user."),
) -> None:
    """Create a task for one unit, or one per unit (bulk)."""
    with unit_of_work() as s:
        u = _user(s, user)
        tasks = service.create_tasks_bulk(
            s,
            unit_ids=[_unit(s, c) for c in unit],
            actor=u,
            kind=kind,
            title=title,
            description=description,
            priority=priority,
            source="cli",
            deadline=deadline,
        )
        for t in tasks:
            console.print(
                f"task {t.id} → {t.unit.name}, deadline {t.deadline_at.isoformat(timespec='minutes')}"
            )


@app.command("show")
def show_cmd(task_id: int, user: str = typer.Option(None, "--user")) -> None:
    """Show a task and its history."""
    with unit_of_work() as s:
        t = service.get_task(s, _user(s, user), task_id)
        console.print(f"[bold]#{t.id} {t.title}[/] [{t.state.value}] {t.kind.value} {t.priority.value}")
        console.print(
            f"unit {t.unit.name} · deadline {t.deadline_at.isoformat(timespec='minutes')} · v{t.version}"
        )
        table = Table("at", "action", "from", "to", "actor", "reason")
        for e in service.task_events(s, t):
            table.add_row(
                e.at.isoformat(timespec="seconds"),
                e.action,
                e.from_state.value if e.from_state else "",
                e.to_state.value,
                e.actor,
                e.reason or "",
            )
    console.print(table)


@app.command("act")
def act_cmd(
    task_id: int,
    action: Action,
    user: str = typer.Option(..., "--user", help="Act as this user (role and jurisdiction apply)."),
    reason: str = typer.Option(None),
    feedback: str = typer.Option(None),
    unit: str = typer.Option(None, help="New unit code for reassign."),
    deadline: datetime = typer.Option(None, help="New deadline (local time) for push/reassign."),
) -> None:
    """Take a workflow action on a task."""
    with unit_of_work() as s:
        t = service.transition(
            s,
            _user(s, user),
            task_id,
            action,
            reason=reason,
            feedback=feedback,
            unit_id=_unit(s, unit) if unit else None,
            deadline=deadline,
        )
        console.print(f"task {t.id} is now {t.state.value} (v{t.version})")


def worker(
    once: bool = typer.Option(False, "--once", help="Run one round and exit."),
    interval: float = typer.Option(None, help="Seconds between rounds (default: settings)."),
) -> None:
    """Deadline worker: escalate overdue tasks to the supervision group (督办)."""
    import logging

    from zhikong.core.config import get_settings
    from zhikong.tasks.worker import run_forever, run_once

    if once:
        result = run_once()
        console.print(f"escalated {len(result.escalated)} tasks; purged {result.sessions_purged} sessions")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    every = interval or get_settings().worker_interval_seconds
    console.print(f"worker running every {every:g} s (Ctrl-C to stop)")
    run_forever(every)


TOP_LEVEL_COMMANDS = [worker]

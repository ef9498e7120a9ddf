"""Demo step: a few tasks 交办 in Banan — one bulk instruction, single tasks in several states, and an
overdue one that the worker escalates to the supervision group (督办)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from zhikong.auth.models import Role, User
from zhikong.core.db import unit_of_work
from zhikong.core.time import utcnow
from zhikong.geo.models import AdminUnit
from zhikong.tasks import service
from zhikong.tasks.models import Priority, Task, TaskKind
from zhikong.tasks.workflow import Action


def _user(s: Any, role: Role) -> User | None:
    return s.scalar(select(User).where(User.role == role).order_by(User.id).limit(1))


def step(ctx: Any) -> None:
    with unit_of_work() as s:
        command = _user(s, Role.DISTRICT_COMMAND)
        town_op = _user(s, Role.TOWN_OPERATOR)
        village_op = _user(s, Role.VILLAGE_OPERATOR)
        if command is None or town_op is None or village_op is None:
            ctx.console.print("no demo users (run the auth step first); skipping demo tasks")
            return
        if s.scalar(select(Task.id).where(Task.source == "demo").limit(1)) is not None:
            ctx.console.print("demo tasks exist already")
            return
        villages = list(
            s.scalars(
                select(AdminUnit).where(AdminUnit.parent_id == town_op.unit_id).order_by(AdminUnit.code)
            )
        )
        bulk = service.create_tasks_bulk(
            s,
            unit_ids=[v.id for v in villages] or [town_op.unit_id],
            actor=command,
            source="demo",
            kind=TaskKind.REGISTRATION,
            title="开展返乡人员拉网式排查登记",
            priority=Priority.HIGH,
            description="对近14天有中高风险地区旅居史的返乡人员逐户排查，当日反馈。",
        )
        t1 = service.create_task(
            s,
            kind=TaskKind.CONTACT_QUARANTINE,
            unit_id=village_op.unit_id,
            title="落实密接人员居家隔离",
            description="核实密接人员位置，落实居家隔离和健康监测。",
            priority=Priority.URGENT,
            source="demo",
            actor=command,
        )
        service.transition(s, village_op, t1.id, Action.SIGN_FOR)
        service.transition(s, village_op, t1.id, Action.START)
        service.transition(
            s, village_op, t1.id, Action.SUBMIT, feedback="已上门核实，落实居家隔离，张贴告知书。"
        )
        late = service.create_task(
            s,
            kind=TaskKind.ARRIVAL_VERIFICATION,
            unit_id=village_op.unit_id,
            title="核查来返人员行程",
            description="电信推送名单中的来返人员，核实行程并登记。",
            priority=Priority.NORMAL,
            source="demo",
            actor=town_op,
        )
        s.flush()
        s.execute(update(Task).where(Task.id == late.id).values(deadline_at=utcnow() - timedelta(hours=1)))
        escalated = service.escalate_overdue(s)
    ctx.console.print(
        f"demo tasks: bulk instruction to {len(bulk)} units, 1 submitted for review, "
        f"{len(escalated)} escalated to the supervision group"
    )
    ctx.data["demo_task_ids"] = [t.id for t in bulk] + [t1.id, late.id]

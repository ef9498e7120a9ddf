"""Demo step: one login per role for the Banan demo (printed)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import ROLE_LABELS, Role, User
from zhikong.auth.service import create_user
from zhikong.core.db import unit_of_work
from zhikong.core.errors import ConfigError
from zhikong.geo.models import AdminUnit, UnitLevel

#: the demo password of every demo account (the demo runs on loopback only)
DEMO_PASSWORD = "zhikong-demo"


def _units(session: Session) -> tuple[AdminUnit, AdminUnit, AdminUnit]:
    district = session.scalar(
        select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT).order_by(AdminUnit.id)
    )
    if district is None:
        raise ConfigError("no district in the database: load one first (zhikong geo load)")
    town = session.scalar(
        select(AdminUnit).where(AdminUnit.parent_id == district.id).order_by(AdminUnit.code).limit(1)
    )
    if town is None:
        raise ConfigError(f"district {district.code} has no towns")
    village = session.scalar(
        select(AdminUnit).where(AdminUnit.parent_id == town.id).order_by(AdminUnit.code).limit(1)
    )
    return district, town, village or town


def demo_users(session: Session, password: str = DEMO_PASSWORD) -> list[tuple[User, bool]]:
    """Create (or find) one user per role; returns ``(user, created)`` pairs."""
    district, town, village = _units(session)
    plan: list[tuple[str, Role, AdminUnit]] = [
        ("command", Role.DISTRICT_COMMAND, district),
        ("supervisor", Role.SUPERVISION, district),
        ("town", Role.TOWN_OPERATOR, town),
        ("village", Role.VILLAGE_OPERATOR, village),
        ("video", Role.VIDEO_PATROLLER, district),
        ("isolation", Role.ISOLATION_STAFF, town),
        ("enterprise", Role.ENTERPRISE_ADMIN, village),
        ("admin", Role.SYSTEM_ADMIN, district),
    ]
    out: list[tuple[User, bool]] = []
    for username, role, unit in plan:
        user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            out.append((user, False))
            continue
        label = f"{ROLE_LABELS[role]}（{unit.name}）"
        out.append(
            (
                create_user(
                    session,
                    username=username,
                    password=password,
                    role=role,
                    unit_id=unit.id,
                    display_name=label,
                    actor="demo",
                ),
                True,
            )
        )
    return out


def users_table(pairs: list[tuple[User, bool]], password: str = DEMO_PASSWORD) -> Table:
    table = Table("username", "password", "role", "unit", title="演示账号 / demo logins")
    for user, created in pairs:
        table.add_row(
            user.username,
            password if created else "(unchanged)",
            f"{ROLE_LABELS[user.role]} {user.role.value}",
            user.unit.name,
        )
    return table


def step(ctx: Any) -> None:
    with unit_of_work() as s:
        pairs = demo_users(s)
        ctx.console.print(users_table(pairs))
        ctx.data["demo_users"] = {u.username: u.id for u, _ in pairs}

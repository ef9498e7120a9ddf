"""``zhikong auth``: users and API tokens."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from zhikong.auth import service
from zhikong.auth.demo import DEMO_PASSWORD, demo_users, users_table
from zhikong.auth.models import ROLE_LABELS, Role, User
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.geo.models import AdminUnit

app = typer.Typer(help="Users, roles, jurisdictions and API tokens.", no_args_is_help=True)
console = Console()


def _unit_id(s: object, unit: str) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    row = s.scalar(select(AdminUnit).where(AdminUnit.code == unit))
    if row is None and unit.isdigit():
        row = s.get(AdminUnit, int(unit))
    if row is None:
        raise InvalidInput(f"unknown administrative unit {unit!r} (give its code)", field="unit")
    return row.id


@app.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Login name."),
    role: Role = typer.Option(..., help="Role."),
    unit: str = typer.Option(..., help="Administrative unit code (e.g. 500113 or a town's code)."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    display_name: str = typer.Option(None, help="Display name."),
) -> None:
    """Create a user bound to one administrative unit."""
    with unit_of_work() as s:
        user = service.create_user(
            s,
            username=username,
            password=password,
            role=role,
            unit_id=_unit_id(s, unit),
            display_name=display_name,
            actor="cli",
        )
        console.print(f"created user {user.username} ({ROLE_LABELS[user.role]}) at {user.unit.name}")


@app.command("demo-users")
def demo_users_cmd(password: str = typer.Option(DEMO_PASSWORD, help="Password of the demo logins.")) -> None:
    """Create one demo login per role for the demo district and print them."""
    with unit_of_work() as s:
        console.print(users_table(demo_users(s, password), password))


@app.command("list-users")
def list_users() -> None:
    """List users."""
    with unit_of_work() as s:
        table = Table("id", "username", "role", "unit", "active", "locked until")
        for u in s.scalars(select(User).order_by(User.id)):
            table.add_row(
                str(u.id),
                u.username,
                u.role.value,
                u.unit.name,
                "yes" if u.active else "no",
                u.locked_until.isoformat(timespec="minutes") if u.locked_until else "",
            )
    console.print(table)


@app.command("create-token")
def create_token(
    username: str = typer.Argument(..., help="The user the token acts as."),
    name: str = typer.Option(..., help="What the token is for (e.g. camera-platform)."),
    days: int = typer.Option(None, help="Expire after this many days (default: never)."),
) -> None:
    """Create an API token for a machine client; prints it once."""
    with unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        _, plain = service.create_api_token(s, user, name, days=days, actor="cli")
    console.print(plain, highlight=False)


@app.command("unlock")
def unlock(username: str = typer.Argument(...)) -> None:
    """Lift a lock-out after repeated failed logins."""
    with unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.locked_until = None
        user.failed_logins = 0
        from zhikong import audit

        audit.record(s, "cli", "user.unlock", "user", user.id)
    console.print(f"unlocked {username}")

"""Demo step: serve the web command centre on the demo data and print its address and the logins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table

from zhikong.core.config import get_settings

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def login_rows(logins: Any) -> list[tuple[str, str, str, str]]:
    """(role, unit, username, password) rows from what the auth demo step left in ``ctx.data``.

    Accepts a mapping ``role -> {username, password, unit}`` (or a tuple) or a list of such dicts.
    """
    rows: list[tuple[str, str, str, str]] = []
    items: Iterable[tuple[str, Any]]
    if isinstance(logins, Mapping):
        items = logins.items()
    elif isinstance(logins, Iterable) and not isinstance(logins, str | bytes):
        items = ((str(d.get("role", "")) if isinstance(d, Mapping) else "", d) for d in logins)
    else:
        return rows
    for role, value in items:
        if isinstance(value, Mapping):
            rows.append((str(value.get("role", role)), str(value.get("unit", value.get("unit_name", ""))),
                         str(value.get("username", "")), str(value.get("password", ""))))
        elif isinstance(value, tuple | list) and len(value) >= 2:
            rows.append((str(role), str(value[2]) if len(value) > 2 else "", str(value[0]), str(value[1])))
    return rows


def step(ctx: DemoContext) -> None:
    s = get_settings()
    url = f"http://{s.host}:{s.port}/"
    rows = login_rows(ctx.data.get("logins") or ctx.data.get("demo_logins") or ctx.data.get("users"))
    if rows:
        table = Table("角色 role", "单位 unit", "用户名 username", "密码 password")
        for row in rows:
            table.add_row(*row)
        ctx.console.print(table)
    else:
        ctx.console.print("no demo logins were created (the auth step did not run); "
                          "create a user with `zhikong auth` first")
    if not ctx.serve:
        ctx.console.print(f"web command centre: `zhikong serve` then open {url} (not serving: --no-serve)")
        return
    import uvicorn

    from zhikong.web.app import create_app

    ctx.console.print(f"[bold green]web command centre 指挥平台: {url}[/]  (Ctrl+C to stop)")
    uvicorn.run(create_app(), host=s.host, port=s.port, log_level="warning")

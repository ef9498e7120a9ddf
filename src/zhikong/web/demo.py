"""Demo step: serve the web command centre on the demo data and print its address and the logins."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def logins_line(user_ids: dict[str, int]) -> str | None:
    """One line naming the demo logins (created and listed by the auth step, ``ctx.data["demo_users"]``)."""
    from zhikong.auth.demo import DEMO_PASSWORD
    from zhikong.auth.models import ROLE_LABELS, User

    if not user_ids:
        return None
    with unit_of_work() as session:
        users = session.scalars(select(User).where(User.id.in_(list(user_ids.values()))).order_by(User.id))
        names = " · ".join(f"{u.username} {ROLE_LABELS[u.role]}（{u.unit.name}）" for u in users)
    return f"演示账号 demo logins (密码 password {DEMO_PASSWORD}): {names}"


def step(ctx: DemoContext) -> None:
    s = get_settings()
    url = f"http://{s.host}:{s.port}/"
    line = logins_line(dict(ctx.data.get("demo_users") or {}))
    if line is not None:
        ctx.console.print(line)
    else:
        ctx.console.print("no demo logins (the auth step did not run); create users with `zhikong auth`")
    if not ctx.serve:
        ctx.console.print(f"web command centre: run `zhikong serve`, then open {url}")
        return
    import uvicorn

    from zhikong.web.app import create_app

    ctx.console.print(f"[bold green]智控指挥平台 web command centre: {url}[/]  (Ctrl+C to stop)")
    uvicorn.run(create_app(), host=s.host, port=s.port, log_level="warning")

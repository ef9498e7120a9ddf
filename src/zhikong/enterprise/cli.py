"""``zhikong enterprise …``: register enterprises, bind admins, posters, recompute risk, red tasks."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="企业员工风险自查 Enterprise employee self-screening.", no_args_is_help=True)
console = Console()


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="企业名称 enterprise name."),
    town: str = typer.Option(..., "--town", help="镇街编码 town code (9 digits)."),
    address: str = typer.Option("", "--address"),
    village: str | None = typer.Option(None, "--village", help="村居编码 village code."),
    admin: str | None = typer.Option(None, "--admin", help="bind this enterprise_admin user."),
) -> None:
    """Register an enterprise (and bind an admin)."""
    from sqlalchemy import select

    from zhikong.auth.models import User
    from zhikong.core.db import unit_of_work
    from zhikong.core.errors import NotFound
    from zhikong.enterprise import service

    with unit_of_work() as s:
        ent = service.create_enterprise(s, name=name, town_code=town, address=address,
                                        village_code=village)
        if admin:
            user = s.scalar(select(User).where(User.username == admin))
            if user is None:
                raise NotFound(f"user {admin} does not exist", field="admin")
            service.bind_admin(s, ent.id, user)
        eid, url = ent.id, service.registration_url(ent.id)
    console.print(f"企业 enterprise {eid}: {name}\n登记二维码 registration URL: {url}")


@app.command("list")
def list_cmd() -> None:
    """Enterprises with employee counts by level."""
    from sqlalchemy import func, select

    from zhikong.core.db import unit_of_work
    from zhikong.enterprise.models import Employee, Enterprise

    table = Table("id", "企业 name", "绿 green", "黄 yellow", "红 red")
    with unit_of_work() as s:
        counts: dict[tuple[int, str], int] = {
            (e, str(lv)): n for e, lv, n in s.execute(
                select(Employee.enterprise_id, Employee.level, func.count())
                .group_by(Employee.enterprise_id, Employee.level))}
        for ent in s.scalars(select(Enterprise).order_by(Enterprise.id)):
            table.add_row(str(ent.id), ent.name, *(str(counts.get((ent.id, lv), 0))
                                                   for lv in ("green", "yellow", "red")))
    console.print(table)


@app.command("poster")
def poster_cmd(
    enterprise_id: int = typer.Argument(...),
    out: Path = typer.Option(..., "--out", help="file to write: .pdf or .png"),
) -> None:
    """Write the enterprise's QR poster (PDF, A4) or the QR code (PNG)."""
    from zhikong.core.db import unit_of_work
    from zhikong.core.errors import InvalidInput
    from zhikong.enterprise import service
    from zhikong.enterprise.poster import poster_pdf, qr_png

    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".png"):
        raise InvalidInput(f"{out}: the file must end in .pdf or .png", field="out")
    with unit_of_work() as s:
        ent = service.get_enterprise(s, enterprise_id)
        url = service.registration_url(ent.id)
        data = poster_pdf(ent, url) if suffix == ".pdf" else qr_png(url)
    out.write_bytes(data)
    console.print(f"{out}: {len(data):,} bytes → {url}")


@app.command("recompute")
def recompute_cmd() -> None:
    """Recompute every employee's risk level (after new cases, contacts or risk-area lists)."""
    from zhikong.core.db import unit_of_work
    from zhikong.enterprise.risk import recompute

    with unit_of_work() as s:
        out = recompute(s)
    console.print(f"{out.employees:,} employees, {out.changed:,} changed, by level {out.by_level}, "
                  f"{out.tasks} village tasks, policy {out.policy_version}, {out.seconds:.1f} s")


@app.command("red-tasks")
def red_tasks_cmd() -> None:
    """Create the missing village tasks for red employees (idempotent)."""
    from zhikong.core.db import unit_of_work
    from zhikong.enterprise.town import red_tasks

    with unit_of_work() as s:
        n = red_tasks(s)
    console.print(f"{n} tasks created")

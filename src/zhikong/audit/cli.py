"""``zhikong audit``: verify and show the audit log."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from zhikong.audit.models import AuditRecord
from zhikong.audit.service import verify as verify_chain
from zhikong.core.db import unit_of_work

app = typer.Typer(help="Audit log: verify the hash chain, show recent records.", no_args_is_help=True)
console = Console()


@app.command()
def verify() -> None:
    """Check the whole hash chain; exit 1 and list problems if any record was tampered with."""
    with unit_of_work() as s:
        result = verify_chain(s)
    if result.ok:
        console.print(f"[green]OK[/] 审计链完整 / audit chain intact: {result.count} records")
        return
    console.print(
        f"[bold red]TAMPERED[/] 审计链被篡改 / audit chain broken ({len(result.problems)} problems):"
    )
    for p in result.problems[:50]:
        console.print(f"  - {p}", highlight=False)
    raise typer.Exit(1)


@app.command()
def tail(n: int = typer.Option(20, help="How many records.")) -> None:
    """Show the last N audit records."""
    with unit_of_work() as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(n)).all()
        table = Table("seq", "at", "actor", "action", "subject", "detail")
        for r in reversed(rows):
            table.add_row(
                str(r.id),
                r.at.isoformat(timespec="seconds"),
                r.actor,
                r.action,
                f"{r.subject_type}:{r.subject_id}",
                r.detail[:60],
            )
    console.print(table)

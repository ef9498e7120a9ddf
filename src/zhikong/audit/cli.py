"""``zhikong audit``: verify and show the audit log."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from zhikong.audit.linker import link_now
from zhikong.audit.models import AuditRecord
from zhikong.audit.service import Anchor, anchor, check_anchors
from zhikong.audit.service import verify as verify_chain
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput

app = typer.Typer(help="Audit log: verify the hash chain, show recent records.", no_args_is_help=True)
console = Console()


def _read_anchors(path: Path) -> list[Anchor]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InvalidInput(f"cannot read anchor file {path}: {e.strerror}", field="anchors") from e
    return [Anchor.from_json(line, f"{path}, line {n}") for n, line in enumerate(lines, 1) if line.strip()]


@app.command()
def verify(
    anchors: Path | None = typer.Option(
        None, "--anchors", help="Also check the chain against heads exported earlier by `audit anchor`."
    ),
) -> None:
    """Check the whole hash chain; exit 1 and list problems if any record was tampered with.
    Records appended but not linked yet (a process stopped in between) are linked first."""
    expected = _read_anchors(anchors) if anchors is not None else []
    link_now()
    with unit_of_work() as s:
        result = verify_chain(s)
        result.problems += check_anchors(s, expected)
    if result.ok:
        if expected:
            console.print(f"{len(expected)} anchors match / 锚点一致")
        console.print(f"[green]OK[/] 审计链完整 / audit chain intact: {result.count} records")
        if result.pending:
            console.print(f"{result.pending} records appended since, not linked yet (seals intact)")
        return
    console.print(
        f"[bold red]TAMPERED[/] 审计链被篡改 / audit chain broken ({len(result.problems)} problems):"
    )
    for p in result.problems[:50]:
        console.print(f"  - {p}", highlight=False)
    raise typer.Exit(1)


@app.command("anchor")
def export_anchor(
    out: Path = typer.Option(..., "--out", help="Append the head to this file (keep it on another host)."),
) -> None:
    """Append the chain's current head (sequence, hash, time) to an anchor file kept outside the
    database; `audit verify --anchors FILE` later proves the chain was not rewritten before it."""
    link_now()
    with unit_of_work() as s:
        head = anchor(s)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(head.to_json() + "\n")
    console.print(f"anchored record {head.seq} ({head.hash[:16]}…) → {out}", highlight=False)


@app.command()
def tail(n: int = typer.Option(20, help="How many records.")) -> None:
    """Show the last N audit records."""
    with unit_of_work() as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.id.desc()).limit(n)).all()
        table = Table("seq", "at", "actor", "action", "subject", "detail")
        for r in reversed(rows):
            table.add_row(
                str(r.seq) if r.seq is not None else f"({r.id})",
                r.at.isoformat(timespec="seconds"),
                r.actor,
                r.action,
                f"{r.subject_type}:{r.subject_id}",
                r.detail[:60],
            )
    console.print(table)

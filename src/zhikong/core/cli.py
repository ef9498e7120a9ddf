"""``zhikong db``: create and migrate the operational database."""

from __future__ import annotations

import typer
from rich.console import Console

from zhikong.core import migrate

app = typer.Typer(help="Operational database: migrations and status.", no_args_is_help=True)
console = Console()


@app.command()
def upgrade(revision: str = typer.Argument("heads", help="Target revision (default: all heads).")) -> None:
    """Apply migrations up to REVISION (default: every domain's head)."""
    migrate.upgrade(revision=revision)
    console.print(f"database at {migrate.current_heads_text()}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(revision)
    console.print(f"database at {migrate.current_heads_text()}")


@app.command()
def current() -> None:
    """Show the revisions the database is at."""
    console.print(migrate.current_heads_text())

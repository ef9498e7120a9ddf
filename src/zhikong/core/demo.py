"""Demo step: create or migrate the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zhikong.core import migrate
from zhikong.core.config import get_settings

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    s = get_settings()
    migrate.upgrade()
    ctx.console.print(f"database {s.resolved_database_url} at {migrate.current_heads_text()}")
    ctx.console.print(f"lake {s.resolved_lake_dir}")

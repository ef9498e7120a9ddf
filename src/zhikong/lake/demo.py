"""Demo step: ingest the demo world's feeds into the lake and show what landed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    from zhikong.lake.service import get_lake, ingest_world

    world = ctx.data.get("world_dir")
    if world is None:
        ctx.console.print("no world to ingest (the sim step did not run)")
        return
    with ctx.console.status("ingesting the world's feeds …"):
        results = ingest_world(Path(world))
    lake = get_lake()
    ctx.data["lake_dir"] = lake.root
    rejected = sum(r.rejected for r in results)
    t = Table("source", "rows", "MB", "days")
    for src, s in lake.stats().items():
        mb = int(str(s["bytes"])) / 1e6
        t.add_row(src, f"{s['rows']:,}", f"{mb:.1f}", f"{s['first_day']} … {s['last_day']}")
    ctx.console.print(t)
    ctx.console.print(f"{len(results)} files ingested, {rejected:,} rows rejected "
                      f"(see {lake.root / '_rejects'})")

"""Demo step: generate the demo world (ledger, places, feeds, ground truth)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from zhikong.core.config import get_settings
from zhikong.core.time import local_day, utcnow
from zhikong.sim.params import SimParams

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    from zhikong.sim.service import generate_world

    out = get_settings().data_dir / "worlds" / "demo"
    start = getattr(ctx, "start", None) or local_day(utcnow()) - timedelta(days=ctx.days)
    params = SimParams(seed=ctx.seed, people=ctx.people, days=ctx.days, start_date=start)
    with ctx.console.status(f"generating a world of {ctx.people:,} people × {ctx.days} days …"):
        summary = generate_world(out, params)
    ctx.data["world_dir"] = out
    ctx.data["ledger_csv"] = out / "ledger.csv"
    ctx.data["places_csv"] = out / "places.csv"
    last = start + timedelta(days=ctx.days - 1)
    ctx.console.print(f"world {out}: {start} .. {last}, {summary.cases} infections, "
                      f"{summary.close_contacts} true close contacts")
    ctx.console.print("feeds: " + ", ".join(f"{k} {n:,}" for k, n in summary.rows.items()))

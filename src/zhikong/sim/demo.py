"""Demo step: generate the demo world (ledger, places, feeds, ground truth)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zhikong.core.config import get_settings
from zhikong.sim.params import SimParams

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    from zhikong.sim.service import generate_world

    out = get_settings().data_dir / "worlds" / "demo"
    params = SimParams(seed=ctx.seed, people=ctx.people, days=ctx.days)
    with ctx.console.status(f"generating a world of {ctx.people:,} people × {ctx.days} days …"):
        summary = generate_world(out, params)
    ctx.data["world_dir"] = out
    ctx.data["ledger_csv"] = out / "ledger.csv"
    ctx.data["places_csv"] = out / "places.csv"
    ctx.console.print(f"world {out}: {summary.cases} infections, "
                      f"{summary.close_contacts} true close contacts")
    ctx.console.print("feeds: " + ", ".join(f"{k} {n:,}" for k, n in summary.rows.items()))

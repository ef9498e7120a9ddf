"""Demo step: trace the demo world's first reported cases on the lake and store the contacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext, max_cases: int = 5) -> None:
    import pandas as pd

    from zhikong.core.config import get_settings
    from zhikong.core.db import unit_of_work
    from zhikong.core.errors import ZhikongError
    from zhikong.engine import open_engine
    from zhikong.tracing.policy import load_policy
    from zhikong.tracing.service import CaseInput, import_school_roster, register_cases, run_trace

    world = ctx.data.get("world_dir")
    truth = Path(world) / "truth" / "cases.parquet" if world else None
    if truth is None or not truth.exists():
        ctx.console.print("tracing: no world with reported cases (the sim step did not run)")
        return
    cases = pd.read_parquet(truth)
    cases = cases[cases["reported_at"].notna()].sort_values("reported_at").head(max_cases)
    settings = get_settings()
    roster = truth.parent.parent / "rosters" / "school_rosters.csv"
    if roster.is_file():  # the education bureau's class rosters (学校班级花名册), as delivered
        try:
            r = import_school_roster(roster, settings.resolved_lake_dir)
            ctx.console.print(
                f"tracing: class rosters imported: {r.stored} of {r.rows} pupils, {r.schools} schools, "
                f"{len(r.errors)} rows rejected (e.g. {r.errors[0]})"
                if r.errors
                else f"tracing: class rosters imported: {r.stored} pupils, {r.schools} schools"
            )
        except ZhikongError as e:
            ctx.console.print(f"tracing: class rosters not imported: {e.message}")
    policy = load_policy()
    engine = open_engine(settings)
    try:
        with unit_of_work() as s:
            rows = []
            for c in cases.itertuples(index=False):
                onset = c.onset_at if pd.notna(c.onset_at) else c.sampled_at
                try:
                    rows += register_cases(
                        s, [CaseInput(str(c.id_number), onset.to_pydatetime(), c.reported_at.to_pydatetime())]
                    )
                except ZhikongError as e:
                    ctx.console.print(f"tracing: skipped a case: {e.message}")
            if not rows:
                ctx.console.print("tracing: no reported case is in the ledger")
                return
            run, result = run_trace(s, engine, settings.resolved_lake_dir, rows, policy)
            labels = {str(r.id): r.label for r in rows}
    except ZhikongError as e:
        ctx.console.print(f"tracing: {e.message}")
        return
    finally:
        engine.close()
    ctx.data["trace_run"] = run.id
    t = Table("case", "class", "hop", "score", "why", title=f"trace run {run.id} · {policy.title}")
    for c in result.top(10):
        t.add_row(labels.get(c.case_key, c.case_key), c.cls, str(c.hop), f"{c.score:.1f}", c.explain())
    ctx.console.print(t)
    found = result.counts()
    counts = {k: found.get(k, 0) for k in ("close", "secondary", "companion")}
    ctx.console.print(f"{len(rows)} cases traced: " + ", ".join(f"{k} {n}" for k, n in counts.items()))

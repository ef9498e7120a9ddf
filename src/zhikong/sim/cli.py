"""``zhikong sim …``: generate a synthetic district world."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zhikong.core.config import get_settings
from zhikong.sim.params import SimParams

app = typer.Typer(help="合成区县模拟 / synthetic district with ground truth.", no_args_is_help=True)


@app.command()
def generate(
    people: int = typer.Option(5000, "--people", help="People in the ledger and world."),
    days: int = typer.Option(14, "--days", help="Days of simulated movement."),
    seed: int = typer.Option(20200301, "--seed", help="Random seed (same seed, same world)."),
    out: Path | None = typer.Option(None, "--out", help="World directory (default <data_dir>/worlds/demo)."),
    start: str = typer.Option("2020-03-01", "--start", help="First simulated local day, YYYY-MM-DD."),
) -> None:
    """Generate a world: ledger, places, reference tables, feeds and ground truth."""
    from zhikong.core.errors import InvalidInput
    from zhikong.sim.params import parse_start
    from zhikong.sim.service import generate_world

    if people < 10:
        raise InvalidInput("--people must be at least 10", field="people")
    if not 1 <= days <= 120:
        raise InvalidInput("--days must be between 1 and 120", field="days")
    target = out or get_settings().data_dir / "worlds" / "demo"
    console = Console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = int(bar.add_task({"people": "人员与场所 people & places",
                                                 "days": "逐日模拟 days"}.get(stage, stage), total=total))
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        params = SimParams(seed=seed, people=people, days=days, start_date=parse_start(start))
        summary = generate_world(target, params, progress=progress)
    console.print(f"world {summary.out}: {summary.cases} infections, "
                  f"{summary.close_contacts} true close contacts")
    for src, n in summary.rows.items():
        console.print(f"  {src:<11} {n:>12,} rows {summary.bytes[src] / 1e6:>9.1f} MB")
    console.print(f"world hash {summary.world_hash[:16]}")

"""``zhikong eval …``: score the engines on a simulated world against its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="评估 / evaluation against a simulated world's ground truth.", no_args_is_help=True)
console = Console()


@app.command("tracing")
def tracing_cmd(
    world: Path | None = typer.Option(
        None, "--world", help="World directory (default <data_dir>/worlds/demo)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    policy: str = typer.Option("protocol-9", "--policy", help="Policy name or YAML file."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
) -> None:
    """Recall and precision of close, secondary and companion contacts: zhikong vs grid and tower rules."""
    from zhikong.core.config import get_settings
    from zhikong.engine import open_engine
    from zhikong.evaluation.tracing import CLASSES, evaluate_tracing
    from zhikong.evaluation.world import World
    from zhikong.tracing.policy import load_policy

    settings = get_settings()
    w = World(world or settings.data_dir / "worlds" / "demo")
    eng = open_engine(settings, engine)
    try:
        ev = evaluate_tracing(w, eng, load_policy(policy))
    finally:
        eng.close()
    if as_json:
        typer.echo(json.dumps(ev.table, indent=2))
        return
    t = Table(title=f"tracing on {w.root} · {ev.cases} reported cases")
    for col in ("method", "class", "recall", "precision", "tp", "fp", "fn"):
        t.add_column(col, justify="right" if col not in ("method", "class") else "left")
    for method, per_class in ev.table.items():
        for cls in CLASSES:
            m = per_class[cls]
            t.add_row(
                method,
                cls,
                f"{m['recall']:.3f}",
                f"{m['precision']:.3f}",
                str(m["tp"]),
                str(m["fp"]),
                str(m["fn"]),
            )
    console.print(t)


@app.command("screening")
def screening_cmd(
    world: Path | None = typer.Option(None, "--world",
                                      help="World directory (default <data_dir>/worlds/demo)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb or spark."),
) -> None:
    """Linkage precision/recall/F1 and blocking recall on the noisy lists; concealment precision/recall."""
    from zhikong.screening.cli import eval_screening

    eval_screening(world, as_json, backend)

"""``zhikong eval …``: score the engines on a simulated world against its ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="评估 / evaluation against a simulated world's ground truth.", no_args_is_help=True)


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

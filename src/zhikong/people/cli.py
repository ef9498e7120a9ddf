"""``zhikong people``: the resident ledger (generate, import, show, stats)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zhikong.core.errors import InvalidInput

if TYPE_CHECKING:
    from zhikong.people.generate import PopulationChunk

app = typer.Typer(help="Resident ledger (基础台账): generate, import, look up.", no_args_is_help=True)
console = Console()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


@app.command()
def generate(
    people: int = typer.Option(5000, help="Number of persons."),
    seed: int = typer.Option(20200301, help="Random seed (same seed, same ledger)."),
    out: Path = typer.Option(Path("ledger.csv"), help="Output CSV (ledger import format)."),
    district: str = typer.Option("", help="District code (default: the configured district)."),
) -> None:
    """Write a synthetic ledger CSV for the villages of the loaded district."""
    from zhikong.core import migrate
    from zhikong.core.config import get_settings
    from zhikong.core.db import unit_of_work
    from zhikong.people.generate import generate_population, write_ledger_csv
    from zhikong.people.service import village_specs

    migrate.upgrade()
    code = district or get_settings().district_code
    with unit_of_work() as s:
        villages = village_specs(s, code)
    if not villages:
        raise InvalidInput(f"区县 {code} 没有村居，请先加载行政区划 / district {code} has no villages: "
                           "load the administrative hierarchy first (zhikong geo load)", field="district")
    with _progress() as prog:
        task = prog.add_task("生成 / generating", total=people)

        def chunks() -> Iterator[PopulationChunk]:
            for c in generate_population(villages, people, seed):
                yield c
                prog.advance(task, len(c.persons))

        n = write_ledger_csv(chunks(), out)
    console.print(f"wrote {n} persons to {out}")

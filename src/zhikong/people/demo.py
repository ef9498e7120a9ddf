"""Demo step: fill the resident ledger.

If an earlier step left a ledger file in ``ctx.data["ledger_csv"]`` (the simulator's world has one),
that file is imported; otherwise ``ctx.people`` persons are generated for the villages of the loaded
district (seeded by ``ctx.seed``) into ``<data_dir>/ledger/`` and imported. Importing is idempotent,
so running the demo again changes nothing. The result is left in ``ctx.data["people_import"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.people import service
from zhikong.people.generate import generate_population, write_ledger_csv
from zhikong.people.importer import import_ledger

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    s = get_settings()
    given = ctx.data.get("ledger_csv")
    if given:
        path = Path(given)
        ctx.console.print(f"importing the ledger {path}")
    else:
        with unit_of_work() as session:
            villages = service.village_specs(session, s.district_code)
        if not villages:
            ctx.console.print(f"[yellow]district {s.district_code} has no villages loaded; "
                              "no ledger generated[/]")
            return
        path = s.data_dir / "ledger" / f"generated-{ctx.people}-{ctx.seed}.csv"
        if not path.exists():
            tmp = path.with_suffix(".part")
            write_ledger_csv(generate_population(villages, ctx.people, ctx.seed), tmp)
            tmp.replace(path)
        ctx.console.print(f"generated {ctx.people:,} persons for {len(villages)} villages → {path}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=ctx.console, transient=True) as prog:
        task = prog.add_task("导入台账 / importing ledger", total=None)
        res = import_ledger(path, progress=lambda n: prog.advance(task, n))
    ctx.data["people_import"] = res
    with unit_of_work() as session:
        st = service.stats(session)
    ctx.console.print(
        f"ledger: {res.rows_total:,} rows read, {res.inserted:,} inserted, {res.updated:,} updated, "
        f"{res.unchanged:,} unchanged, {res.rejected:,} rejected ({res.rows_per_second:,.0f} rows/s); "
        f"now {st['persons']:,} persons in {st['households']:,} households "
        f"({', '.join(f'{k} {v:,}' for k, v in st['by_status'].items())})")
    if res.reject_file:
        ctx.console.print(f"[yellow]rejected rows: {res.reject_file}[/]")

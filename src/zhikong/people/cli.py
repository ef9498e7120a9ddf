"""``zhikong people``: the resident ledger (generate, import, show, stats)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Ledger file: CSV (UTF-8 or GBK) or Excel .xlsx."),
    reject_file: Path | None = typer.Option(None, help="Where to write rejected rows "
                                                       "(default: FILE.rejects.csv beside the input)."),
    workers: int | None = typer.Option(None, help="Worker processes that validate and encrypt ahead of "
                                                  "the database writes (default: 2 for big files on a "
                                                  "multi-core machine)."),
) -> None:
    """Import a ledger file: bad rows are reported and skipped, good rows land, re-import changes nothing."""
    from zhikong.core import migrate
    from zhikong.people.importer import import_ledger

    migrate.upgrade()
    size = file.stat().st_size if file.is_file() else 0
    with _progress() as prog:
        task = prog.add_task("导入 / importing", total=None)
        res = import_ledger(file, reject_file=reject_file, workers=workers,
                            progress=lambda n: prog.advance(task, n))
        prog.update(task, total=res.rows_total, completed=res.rows_total)
    table = Table(title=f"{res.file} ({res.encoding}, {size / 1e6:.1f} MB) → batch {res.batch_id}")
    table.add_column("结果 / outcome")
    table.add_column("行数 / rows", justify="right")
    for label, n in (("读取 / read", res.rows_total), ("新增 / inserted", res.inserted),
                     ("更新 / updated", res.updated), ("未变 / unchanged", res.unchanged),
                     ("拒绝 / rejected", res.rejected), ("新户 / new households", res.households_created)):
        table.add_row(label, f"{n:,}")
    console.print(table)
    console.print(f"{res.seconds:.1f} s, {res.rows_per_second:,.0f} rows/s")
    if res.errors:
        console.print(f"[yellow]{res.rejected} 行被拒绝 / rows rejected; first problems:[/]")
        for e in res.errors[:10]:
            console.print(f"  - {e}", highlight=False)
        console.print(f"rejected rows with reasons: {res.reject_file}")


@app.command()
def show(id_number: str = typer.Argument(..., help="ID number (any accepted spelling).")) -> None:
    """Show one person of the ledger (identifiers masked)."""
    from zhikong.core.db import unit_of_work
    from zhikong.people.service import get_by_id_number

    with unit_of_work() as s:
        p = get_by_id_number(s, id_number)
        table = Table(show_header=False)
        rows = [("身份证号 / ID number", p.id_number_masked or ""), ("姓名 / name", p.name),
                ("性别 / sex", str(p.sex or "")), ("出生日期 / born", str(p.birth_date or "")),
                ("手机号 / phone", p.phone_masked or ""),
                ("户号 / household", p.household.code if p.household else ""),
                ("住址 / address", p.address or ""),
                ("村居 / village", f"{p.village.code} {p.village.name}"),
                ("居住状态 / status", str(p.residence_status))]
        for k, v in rows:
            table.add_row(k, v)
        console.print(table)


@app.command()
def stats() -> None:
    """Counts of the ledger: persons, households, by status, sex and town."""
    from zhikong.core.db import unit_of_work
    from zhikong.people import service

    with unit_of_work() as s:
        st = service.stats(s)
    console.print(f"persons {st['persons']:,}, households {st['households']:,}, "
                  f"with phone {st['with_phone']:,}")
    console.print("by status: " + ", ".join(f"{k} {v:,}" for k, v in st["by_status"].items()))
    console.print("by sex: " + ", ".join(f"{k} {v:,}" for k, v in st["by_sex"].items()))
    table = Table("town code", "town", "persons")
    for code, name, n in st["by_town"]:
        table.add_row(code, name, f"{n:,}")
    console.print(table)

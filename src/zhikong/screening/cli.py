"""``zhikong screening …``: import lists and risk areas, link lists, find concealment."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="排查 / screening: incoming lists, linkage to the ledger, concealment.",
                  no_args_is_help=True)
console = Console()


def _date(value: str, field: str) -> date:
    from zhikong.core.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD, got {value!r}", field=field) from e


@app.command("import-list")
def import_list_cmd(
    file: Path = typer.Argument(..., help="CSV (UTF-8 or GBK) or Excel file of the list."),
    source: str = typer.Option(..., "--source", help="telecom, travel, netizen, cdc, declaration, other."),
    list_date: str = typer.Option(..., "--date", help="Date of the list (YYYY-MM-DD)."),
    allow_duplicates: bool = typer.Option(False, help="Accept rows repeated inside the list."),
) -> None:
    """Import an incoming list; a file with bad rows is rejected whole, with a report per row."""
    from zhikong.core.db import unit_of_work
    from zhikong.screening.service import import_list

    with unit_of_work() as s:
        lst = import_list(s, file, source=source, list_date=_date(list_date, "date"),
                          allow_duplicates=allow_duplicates)
        list_id, rows = lst.id, lst.rows_total
    console.print(f"名单 list {list_id}: {rows} 行 rows imported from {file.name} ({source}, {list_date})")


@app.command("import-risk-areas")
def import_risk_areas_cmd(
    file: Path = typer.Argument(..., help="CSV/Excel: level, city or area_code, street, effective_from/to."),
    published: str | None = typer.Option(None, "--published",
                                         help="Publication date (default: latest start)."),
) -> None:
    """Import one publication of the high/medium risk-area list."""
    from zhikong.core.db import unit_of_work
    from zhikong.screening.service import import_risk_areas

    with unit_of_work() as s:
        n = import_risk_areas(s, file, published_on=_date(published, "published") if published else None)
    console.print(f"风险地区 risk areas: {n} 条 entries imported from {file.name}")


@app.command("link")
def link_cmd(
    list_id: int = typer.Argument(..., help="The list to link to the ledger."),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb or spark."),
) -> None:
    """Link a list to the ledger: auto links, verification tasks, not-in-ledger registrations."""
    from zhikong.core.db import unit_of_work
    from zhikong.screening.service import link_list

    with console.status("关联中 linking…"), unit_of_work() as s:
        sm = link_list(s, list_id, backend=backend)  # type: ignore[arg-type]
    t = Table(title=f"名单 list {sm.list_id}: {sm.rows} rows")
    for col in ("自动关联 auto link", "待核实 review", "台账外 not in ledger", "任务 tasks",
                "重点人员 key persons"):
        t.add_column(col, justify="right")
    t.add_row(str(sm.auto_link), str(sm.review), str(sm.not_in_ledger), str(sm.tasks), str(sm.key_persons))
    console.print(t)


@app.command("dedupe")
def dedupe_cmd(
    list_id: int = typer.Argument(..., help="The list to deduplicate."),
    backend: str = typer.Option("duckdb", "--backend", help="duckdb or spark."),
) -> None:
    """Find rows of one list that are the same person (同一人重复上报)."""
    from zhikong.core.db import unit_of_work
    from zhikong.screening.service import dedupe_list

    with console.status("去重中 deduplicating…"), unit_of_work() as s:
        groups = dedupe_list(s, list_id, backend=backend)  # type: ignore[arg-type]
    console.print(f"名单 list {list_id}: {len(groups)} 组重复 groups of duplicates")
    for g in groups[:50]:
        console.print("  rows " + ", ".join(str(r) for r in g))


@app.command("concealment")
def concealment_cmd(
    lake: Path | None = typer.Option(None, "--lake", help="Lake directory (default: the settings')."),
) -> None:
    """Find people whose declaration the travel and roaming records contradict (瞒报)."""
    from zhikong.core.db import unit_of_work
    from zhikong.screening.service import run_concealment

    with console.status("比对中 checking…"), unit_of_work() as s:
        sm = run_concealment(s, lake)
    console.print(f"瞒报 concealment: {sm.flagged} flagged of {sm.checked} people; {sm.tasks} tasks created")


def eval_screening(world: Path | None, as_json: bool, backend: str) -> None:
    """Shared body of ``zhikong eval screening``."""
    from zhikong.core.config import get_settings
    from zhikong.evaluation.screening import evaluate_screening

    w = world or get_settings().data_dir / "worlds" / "demo"
    with console.status("评估中 evaluating…"):
        ev = evaluate_screening(w, backend=backend)  # type: ignore[arg-type]
    d = ev.as_dict()
    if as_json:
        typer.echo(json.dumps({"linkage": d["linkage"], "concealment": d["concealment"]}, indent=2))
        return
    t = Table(title=f"screening on {w}")
    for col in ("list", "rows", "in ledger", "links", "review", "precision", "recall", "F1",
                "blocking recall"):
        t.add_column(col, justify="left" if col == "list" else "right")
    for name, s in d["lists"].items():
        t.add_row(name, str(s["rows"]), str(s["in_ledger"]), str(s["links"]), str(s["review"]),
                  f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}",
                  f"{s['blocking_recall']:.4f}")
    console.print(t)
    c = d["concealment_detail"]
    console.print(f"linkage (arrival lists): {d['linkage']}")
    console.print(f"concealment: precision {c['precision']:.4f}, recall {c['recall']:.4f} "
                  f"({c['correct']} of {c['flagged']} flagged; {c['true_concealers']} true concealers)")

"""``zhikong trace …`` and ``zhikong tracing …``: trace cases on the lake, list and export results."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from zhikong.core.errors import InvalidInput
from zhikong.core.time import as_utc

app = typer.Typer(help="流调溯源 / contact tracing: policies, runs, exports.", no_args_is_help=True)
console = Console()


def _when(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as e:
        raise InvalidInput(
            f"--{field}: {value!r} is not an ISO date/time such as 2022-03-12T08:00", field=field
        ) from e


def trace(
    cases: list[str] = typer.Argument(None, help="Case ID numbers or phones, optionally CASE@ONSET."),
    all_new: bool = typer.Option(False, "--all-new", help="Trace every registered case not yet traced."),
    onset: str = typer.Option("", "--onset", help="Onset (or sampling) time, ISO; local time if no zone."),
    isolated: str = typer.Option("", "--isolated", help="Isolation time (window end); default now."),
    policy: str = typer.Option("protocol-9", "--policy", help="Policy name or YAML file."),
    engine: str = typer.Option("", "--engine", help="duckdb or spark (default: settings)."),
    export: Path | None = typer.Option(None, "--export", help="Directory for CSV, Excel and graph files."),
) -> None:
    """流调: trace cases' contacts on the lake and store them (close, secondary, companion)."""
    from zhikong.core.config import get_settings
    from zhikong.core.db import unit_of_work
    from zhikong.engine import open_engine
    from zhikong.tracing.graph import ContactGraph
    from zhikong.tracing.policy import load_policy
    from zhikong.tracing.service import CaseInput, export_run, new_cases, register_cases, run_trace

    pol = load_policy(policy)
    settings = get_settings()
    if not cases and not all_new:
        raise InvalidInput("give case IDs/phones, or --all-new", field="case")
    inputs = []
    for raw in cases or []:
        ident, _, own_onset = raw.partition("@")
        when = _when(own_onset or onset, "onset")
        if when is None:
            raise InvalidInput(
                f"case {ident}: give its onset/sampling time (--onset or CASE@TIME)", field="onset"
            )
        inputs.append(CaseInput(ident, when, _when(isolated, "isolated")))
    eng = open_engine(settings, engine or None)
    try:
        with unit_of_work() as s:
            rows = register_cases(s, inputs) if inputs else []
            if all_new:
                rows += [c for c in new_cases(s) if c not in rows]
            with console.status(f"tracing {len(rows)} case(s) on {eng.dialect.name}…"):
                run, result = run_trace(s, eng, settings.resolved_lake_dir, rows, pol)
            run_id = run.id
            labels = {c.person_key: c.label for c in rows}
            key_of = {str(c.id): c.person_key for c in rows}
    finally:
        eng.close()
    missing = [s for s, ok in result.sources.items() if not ok]
    if missing:
        console.print(f"[yellow]no data in sources: {', '.join(missing)}[/]")
    for key in result.without_trajectory:
        console.print(f"[yellow]case {labels.get(key_of.get(key, ''), key)}: no trajectory in the window[/]")
    t = Table(title=f"trace run {run_id} · {pol.title}")
    for col in ("class", "count"):
        t.add_column(col)
    counts = result.counts()
    for cls in ("close", "secondary", "companion"):
        t.add_row(cls, str(counts.get(cls, 0)))
    console.print(t)
    if export is not None:
        with unit_of_work() as s:
            paths = export_run(s, run_id, export)
        graph = ContactGraph.from_table(list(key_of.values()), result.table, key_of)
        (export / f"graph-{run_id}.json").write_text(graph.to_json(labels), encoding="utf-8")
        (export / f"graph-{run_id}.graphml").write_text(graph.to_graphml(labels), encoding="utf-8")
        for p in paths:
            console.print(f"wrote {p}")


TOP_LEVEL_COMMANDS = [trace]


@app.command("policies")
def policies() -> None:
    """List the built-in policies."""
    from zhikong.tracing.policy import available_policies, load_policy

    for name in available_policies():
        p = load_policy(name)
        console.print(
            f"{name}: {p.title} · window {p.infectious_window.days_before_onset} d before onset · "
            f"close ≥ {p.close_contact.min_minutes:g} min · quarantine "
            f"{p.quarantine.close.central_days}+{p.quarantine.close.home_days} d"
        )


@app.command("check-policy")
def check_policy(path: Path) -> None:
    """Validate a policy file."""
    from zhikong.tracing.policy import load_policy

    p = load_policy(path)
    console.print(f"{path}: valid ({p.name}, edition {p.edition})")


@app.command("add-case")
def add_case(
    identifier: str, onset: str = typer.Option(..., "--onset"), isolated: str = typer.Option("", "--isolated")
) -> None:
    """Register a case to be traced by `zhikong trace --all-new`."""
    from zhikong.core.db import unit_of_work
    from zhikong.tracing.service import CaseInput, register_cases

    when = _when(onset, "onset")
    assert when is not None
    with unit_of_work() as s:
        (row,) = register_cases(s, [CaseInput(identifier, when, _when(isolated, "isolated"))])
        console.print(f"case {row.label} registered (id {row.id})")


@app.command("export")
def export_cmd(run_id: int, out: Path = typer.Option(Path("."), "--out")) -> None:
    """Export a stored trace run to CSV and Excel."""
    from zhikong.core.db import unit_of_work
    from zhikong.tracing.service import export_run

    with unit_of_work() as s:
        for p in export_run(s, run_id, out):
            console.print(f"wrote {p}")


@app.command("import-roster")
def import_roster_cmd(
    files: list[Path] = typer.Argument(..., help="Class roster files (CSV or Excel), one or more schools."),
    lake: Path | None = typer.Option(None, "--lake", help="Lake directory (default: settings)."),
) -> None:
    """导入学校班级花名册 / import class rosters from the education bureau for the class detector."""
    from zhikong.core.config import get_settings
    from zhikong.tracing.service import import_school_roster

    lake_dir = lake or get_settings().resolved_lake_dir
    for path in files:
        r = import_school_roster(path, lake_dir)
        console.print(
            f"{r.file}: {r.stored} of {r.rows} pupils stored for {r.schools} school(s); "
            f"{len(r.errors)} row(s) rejected"
        )
        for e in r.errors[:20]:
            console.print(f"  [yellow]{e}[/]")
        if len(r.errors) > 20:
            console.print(f"  … and {len(r.errors) - 20} more")

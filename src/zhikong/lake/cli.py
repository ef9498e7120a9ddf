"""``zhikong lake …``: ingest feeds, purge old partitions, show what the lake holds."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhikong.core.config import get_settings
from zhikong.core.errors import InvalidInput

if TYPE_CHECKING:
    from zhikong.lake.service import IngestResult

app = typer.Typer(help="轨迹数据湖 / trajectory data lake.", no_args_is_help=True)
console = Console()


def _print_result(r: IngestResult) -> None:
    if r.skipped:
        console.print(f"{r.file}: already ingested (batch {r.batch[:12]}), nothing added")
        return
    console.print(f"{r.file}: {r.accepted:,} rows landed in {r.source} ({', '.join(r.days) or 'no day'}), "
                  f"{r.rejected:,} rejected")
    for e in r.sample[:5]:
        console.print(f"  - {e}", highlight=False)
    if r.reject_file:
        console.print(f"  rejected rows: {r.reject_file}")


@app.command()
def ingest(
    path: Path = typer.Argument(..., help="A feed file (CSV, JSON Lines, Parquet) or a directory of them."),
    source: str = typer.Option(..., "--source",
                               help="cell, roaming, camera, venue_scan, travel, gps, proximity."),
    strict: bool = typer.Option(False, help="Reject the whole batch if any row is bad."),
    since: str | None = typer.Option(None, help="Reject rows before this time (ISO-8601 with offset)."),
    until: str | None = typer.Option(None, help="Reject rows after this time (ISO-8601 with offset)."),
    derive: bool = typer.Option(True, "--derive/--no-derive",
                                help="Rebuild the derived cell stays after landing (--no-derive for "
                                     "frequent small files; run `zhikong lake build-stays` later)."),
) -> None:
    """Validate, pseudonymise and land feed files (one batch per file)."""
    from zhikong.lake.service import ingest_files

    window = [_when(since, "since"), _when(until, "until")]
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for r in ingest_files([(f, source) for f in files], strict=strict, since=window[0], until=window[1],
                          build_derived=derive):
        _print_result(r)


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError as e:
        raise InvalidInput(f"--{name} {text!r} is not an ISO-8601 time", field=name) from e
    if t.tzinfo is None:
        raise InvalidInput(f"--{name} {text!r} needs a UTC offset, e.g. +08:00", field=name)
    return t


@app.command("ingest-ref")
def ingest_ref(
    path: Path = typer.Argument(..., help="Directory with tower.csv, camera.csv, venue.csv."),
) -> None:
    """Load the reference tables (towers, cameras, venues); each replaces its table."""
    from zhikong.lake.service import ingest_ref as run

    for table, n in run(path).items():
        console.print(f"ref {table}: {n:,} rows")


@app.command("ingest-world")
def ingest_world(
    world: Path = typer.Argument(..., help="A world directory from `zhikong sim generate`."),
) -> None:
    """Ingest a whole world: reference tables, then every feed file."""
    from zhikong.lake.service import ingest_world as run

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("入湖 ingest", total=None)
        results = run(world, progress=lambda _s, d, t: bar.update(task, completed=d, total=t))
    _summary(results)


def _summary(results: list[IngestResult]) -> None:
    per: dict[str, list[int]] = {}
    for r in results:
        acc = per.setdefault(r.source, [0, 0, 0])
        acc[0] += r.accepted
        acc[1] += r.rejected
        acc[2] += int(r.skipped)
    t = Table("source", "landed", "rejected", "files already in")
    for src, (a, rj, sk) in per.items():
        t.add_row(src, f"{a:,}", f"{rj:,}", str(sk))
    console.print(t)


@app.command()
def purge(
    older_than: int | None = typer.Option(None, "--older-than",
                                          help="Days to keep (default: retention_days)."),
    today: str | None = typer.Option(None, help="Reference day YYYY-MM-DD (default: today, local)."),
) -> None:
    """Remove whole day partitions older than the retention period, and say what was removed."""
    from zhikong.core.time import utcnow
    from zhikong.lake.service import get_lake

    s = get_settings()
    keep = older_than if older_than is not None else s.retention_days
    if keep < 0:
        raise InvalidInput("--older-than must be ≥ 0", field="older_than")
    try:
        ref = date.fromisoformat(today) if today else utcnow().astimezone(ZoneInfo(s.timezone)).date()
    except ValueError as e:
        raise InvalidInput(f"--today {today!r} is not a date YYYY-MM-DD", field="today") from e
    cutoff = ref - timedelta(days=keep)
    lake = get_lake()
    from zhikong.lake.service import derive

    with lake.locked():
        removed = lake.purge_before(cutoff)
        if removed:
            derive(lake)
    if not removed:
        console.print(f"nothing older than {cutoff} (kept {keep} days)")
    for src, day, rows, size in removed:
        console.print(f"removed {src} day={day}: {rows:,} rows, {size / 1e6:.1f} MB")


@app.command("build-stays")
def build_stays(
    force: bool = typer.Option(False, help="Rebuild even when the derived stays are up to date."),
) -> None:
    """Derive the cell stays a trace reads (once per lake change; ingest runs this itself)."""
    from zhikong.lake.service import get_lake
    from zhikong.tracing.stays import build_stays as run

    lake = get_lake()
    with lake.locked():
        b = run(lake.root, force=force, memory_limit=get_settings().duckdb_memory_limit)
    if not b.built:
        console.print(f"cell stays up to date ({b.path})")
        return
    console.print(f"cell stays: {b.pings:,} pings of {b.people:,} phones → {b.stays:,} stays in "
                  f"{b.seconds:.1f} s ({b.pings_per_s:,.0f} pings/s), {b.path}")


@app.command()
def stats() -> None:
    """Rows, bytes and days per source."""
    from zhikong.lake.service import get_lake

    lake = get_lake()
    t = Table("source", "rows", "MB", "partitions", "first day", "last day")
    for src, s in lake.stats().items():
        t.add_row(src, f"{s['rows']:,}", f"{int(str(s['bytes'])) / 1e6:.1f}", str(s["partitions"]),
                  str(s["first_day"]), str(s["last_day"]))
    console.print(t)
    console.print(f"lake {lake.root}")

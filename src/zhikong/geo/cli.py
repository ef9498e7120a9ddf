"""``zhikong geo``: load districts and key places, list and show administrative units."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput
from zhikong.geo import service
from zhikong.geo.loader import read_definition
from zhikong.geo.models import AdminUnit, Place, UnitLevel
from zhikong.geo.places import KIND_NAMES_ZH, import_places_file

app = typer.Typer(help="Administrative hierarchy (区县 → 镇街 → 村居) and key places.", no_args_is_help=True)
console = Console()


@app.command()
def load(
    file: Path | None = typer.Option(None, "--file", "-f", help="District file (YAML or GeoJSON); default: "
                                     "Settings.district_file, else the built-in district_code."),
) -> None:
    """Load (or update) the district's units; re-loading the same file changes nothing."""
    s = get_settings()
    path = file or s.district_file
    defn = read_definition(path) if path else service.builtin_definition(s.district_code)
    with unit_of_work() as session:
        r = service.load_district(session, defn)
    console.print(f"{defn.root.code} {defn.root.name} ({defn.source}): {r.created} created, "
                  f"{r.updated} updated, {r.unchanged} unchanged")


@app.command("places-import")
def places_import(
    file: Path = typer.Argument(..., help="CSV: code,name,kind,village_code,lat,lon,address"),
) -> None:
    """Import key places from CSV (UTF-8 or GBK); bad rows are reported and skipped."""
    with unit_of_work() as session:
        r = import_places_file(session, file)
    console.print(f"{file.name}: {r.created} created, {r.updated} updated, {r.unchanged} unchanged, "
                  f"{len(r.errors)} rejected")
    for e in r.errors[:50]:
        console.print(f"  - {e}", highlight=False)
    if len(r.errors) > 50:
        console.print(f"  … {len(r.errors) - 50} more")
    if r.errors:
        raise typer.Exit(InvalidInput.exit_code)


@app.command("list")
def list_units(
    level: UnitLevel | None = typer.Option(None, help="Only units of this level."),
    under: str | None = typer.Option(None, help="Only units under (and including) this code."),
) -> None:
    """List administrative units with their place counts."""
    with unit_of_work() as session:
        stmt = select(AdminUnit).order_by(AdminUnit.code)
        if level is not None:
            stmt = stmt.where(AdminUnit.level == level)
        if under:
            stmt = stmt.where(service.subtree_filter(AdminUnit.path, service.get_unit(session, under)))
        units = list(session.scalars(stmt))
        places = dict(session.execute(select(Place.unit_id, func.count()).group_by(Place.unit_id)).all())
        table = Table("code", "name", "kind", "lat", "lon", "places", "generated")
        for u in units:
            table.add_row(u.code, u.name, u.kind.value, f"{u.lat:.5f}", f"{u.lon:.5f}",
                          str(places.get(u.id, 0)), "yes" if u.generated else "")
    console.print(table)
    console.print(f"{len(units)} units")


@app.command()
def show(code: str = typer.Argument(..., help="Unit code (6, 9 or 12 digits).")) -> None:
    """Show one unit: its parents, children and key places."""
    with unit_of_work() as session:
        u = service.get_unit(session, code)
        chain = [p for p in u.path.strip("/").split("/") if p != u.code]
        parents = [service.get_unit(session, c).name for c in chain]
        console.print(f"[bold]{u.code} {u.name}[/] ({u.kind.value}, {u.level.value}"
                      f"{', generated name' if u.generated else ''})")
        console.print(f"位置 position: {u.lat:.6f}, {u.lon:.6f}   上级 parents: {' / '.join(parents) or '-'}")
        kids = service.children(session, u)
        if kids:
            console.print(f"下级 children ({len(kids)}): " + "、".join(f"{k.name}({k.code})" for k in kids))
        places = list(session.scalars(service.within(select(Place), Place.unit_id, u).order_by(Place.code)))
        console.print(f"重点场所 key places: {len(places)}")
        for p in places[:30]:
            console.print(f"  {p.code}  {p.name}  [{KIND_NAMES_ZH[p.kind]}]  {p.lat:.5f},{p.lon:.5f}")


@app.command()
def locate(lat: float = typer.Argument(...), lon: float = typer.Argument(...)) -> None:
    """Which unit holds a position (deepest unit whose boundary contains it)."""
    with unit_of_work() as session:
        u = service.locate(session, lat, lon)
        console.print(f"{u.code} {u.name} ({u.path})")

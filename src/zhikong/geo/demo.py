"""Demo step: load the district (Banan by default) and its demo key places; print a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.geo import service
from zhikong.geo.loader import read_definition
from zhikong.geo.models import PlaceKind
from zhikong.geo.places import KIND_NAMES_ZH, counts_by_kind, demo_places, import_places, units_per_level

if TYPE_CHECKING:
    from zhikong.demo import DemoContext


def step(ctx: DemoContext) -> None:
    s = get_settings()
    if s.district_file:
        defn = read_definition(s.district_file)
    else:
        defn = service.builtin_definition(s.district_code)
    rows = demo_places(defn, seed=ctx.seed)
    with unit_of_work() as session:
        loaded = service.load_district(session, defn)
        placed = import_places(session, rows, file="demo places")
        levels = units_per_level(session)
        kinds = counts_by_kind(session)
    if placed.errors:
        ctx.console.print(f"[yellow]{len(placed.errors)} demo places rejected: {placed.errors[0]}")
    ctx.data["district"] = defn
    ctx.data["district_code"] = defn.root.code
    ctx.data["places"] = rows
    ctx.console.print(f"{defn.root.code} {defn.root.name}: units {loaded.created} created, "
                      f"{loaded.updated} updated, {loaded.unchanged} unchanged; places {placed.created} "
                      f"created, {placed.updated} updated, {placed.unchanged} unchanged")
    table = Table("级别 level", "数量 units", "重点场所 kind", "数量 places")
    lv = [("区县 district", levels["district"]), ("镇街 town/street", levels["town"]),
          ("村居 village/community", levels["village"])]
    kd = [(f"{KIND_NAMES_ZH[PlaceKind(k)]} {k}", n) for k, n in sorted(kinds.items(), key=lambda t: -t[1])]
    for i in range(max(len(lv), len(kd))):
        a = lv[i] if i < len(lv) else ("", "")
        b = kd[i] if i < len(kd) else ("", "")
        table.add_row(str(a[0]), str(a[1]), str(b[0]), str(b[1]))
    ctx.console.print(table)

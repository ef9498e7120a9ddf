"""Demo step: import the simulated world's lists and risk areas, link them, find concealment.

Needs ``ctx.data["world_dir"]`` (the sim step) and a ledger in the database (the people step);
``ctx.data["lake_dir"]`` (the lake step) is used for concealment when present. Lists already
imported (same file content) are not imported again.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from zhikong.core.db import unit_of_work
from zhikong.screening.imports import sha256_of
from zhikong.screening.models import IncomingList, ListSource, RiskArea
from zhikong.screening.service import import_list, import_risk_areas, link_list, run_concealment

if TYPE_CHECKING:
    from zhikong.demo import DemoContext

#: world list name → list source
WORLD_LISTS = {"self_declared": ListSource.DECLARATION, "arrivals_telecom": ListSource.TELECOM,
               "netizen_reports": ListSource.NETIZEN}


def step(ctx: DemoContext) -> None:
    world = ctx.data.get("world_dir")
    if not world or not (Path(world) / "world.json").is_file():
        ctx.console.print("[yellow]screening: no simulated world; skipped[/]")
        return
    world = Path(world)
    params = json.loads((world / "world.json").read_text())["params"]
    start = date.fromisoformat(params["start_date"])
    with unit_of_work() as s:
        if not s.scalar(select(func.count()).select_from(RiskArea)):
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "risk_areas.csv"
                f.write_text("风险等级,城市,生效日期\n" + "".join(
                    f"高,{c},{start - timedelta(days=30)}\n" for c in params.get("risk_cities", [])),
                    encoding="utf-8")
                n = import_risk_areas(s, f, published_on=start - timedelta(days=30))
            ctx.console.print(f"screening: {n} risk areas")
    for name, source in WORLD_LISTS.items():
        path = world / "lists" / f"{name}.csv"
        if not path.is_file():
            continue
        with unit_of_work() as s:
            if s.scalar(select(IncomingList.id).where(IncomingList.sha256 == sha256_of(path))):
                continue
            lst = import_list(s, path, source=source,
                              list_date=start + timedelta(days=int(params.get("days", 14))),
                              allow_duplicates=True)
            sm = link_list(s, lst.id)
        ctx.console.print(f"screening: {name}: {sm.rows} rows → {sm.auto_link} linked, "
                          f"{sm.review} to verify, {sm.not_in_ledger} not in ledger, "
                          f"{sm.key_persons} key persons, {sm.tasks} tasks")
    lake = ctx.data.get("lake_dir")
    with unit_of_work() as s:
        cs = run_concealment(s, Path(lake) if lake else None)
    ctx.console.print(f"screening: concealment {cs.flagged} flagged, {cs.tasks} tasks")

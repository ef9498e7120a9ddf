"""Demo step: two enterprises in the first towns, employees registered from the simulated ledger
(some of them contacts or travellers), a recompute, a QR poster, the admin bound.

Needs ``ctx.data["world_dir"]`` (sim step) and the ledger (people step); idempotent.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from zhikong.auth.models import User
from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.time import day_bounds_utc
from zhikong.enterprise import service
from zhikong.enterprise.models import Enterprise, EnterpriseAdmin
from zhikong.enterprise.poster import poster_pdf
from zhikong.enterprise.risk import recompute
from zhikong.geo.models import AdminUnit, UnitLevel

if TYPE_CHECKING:
    from zhikong.demo import DemoContext

EMPLOYEES = 150


def step(ctx: DemoContext) -> None:
    world = ctx.data.get("world_dir")
    ledger = Path(world) / "ledger.csv" if world else None
    if ledger is None or not ledger.is_file():
        ctx.console.print("[yellow]enterprise: no simulated world; skipped[/]")
        return
    with ledger.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = random.Random(ctx.seed)
    with unit_of_work() as s:
        towns = s.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.TOWN)
                          .order_by(AdminUnit.code).limit(2)).all()
        ents = []
        for i, town in enumerate(towns):
            name = ["重庆巴南示范制造有限公司", "巴南区示范物流有限公司"][i]
            ent = s.scalar(select(Enterprise).where(Enterprise.name == name))
            if ent is None:
                ent = service.create_enterprise(s, name=name, town_code=town.code,
                                                address=f"{town.name}工业园{i + 1}号")
            ents.append(ent)
        admin = s.scalar(select(User).where(User.username == "enterprise"))
        if admin is not None and ents and s.scalar(select(EnterpriseAdmin).where(
                EnterpriseAdmin.user_id == admin.id)) is None:
            service.bind_admin(s, ents[0].id, admin)
        made = 0
        for k, r in enumerate(rng.sample(rows, min(EMPLOYEES, len(rows)))):
            reg = service.validate_registration(r["name"], r["id_number"], r["phone"], True)
            if reg.errors:
                continue
            res = service.register_employee(s, ents[k % len(ents)], reg, recompute_now=False)
            made += res.created
        # judge as of the simulated world's last day (its cases and contacts are in the past)
        params = json.loads((ledger.parent / "world.json").read_text()).get("params", {})
        at = None
        if params.get("start_date"):
            last = date.fromisoformat(params["start_date"]) + timedelta(days=int(params.get("days", 14)))
            at = day_bounds_utc(last)[0]
        out = recompute(s, at=at)
        poster = get_settings().data_dir / "exports" / f"enterprise-{ents[0].id}-poster.pdf"
        poster.parent.mkdir(parents=True, exist_ok=True)
        poster.write_bytes(poster_pdf(ents[0], service.registration_url(ents[0].id)))
        url = service.registration_url(ents[0].id)
    ctx.console.print(f"enterprise: {len(ents)} enterprises, {made} new employees; levels {out.by_level}; "
                      f"{out.tasks} village tasks; poster {poster}")
    ctx.console.print(f"enterprise: registration page {url} (admin login 'enterprise')")

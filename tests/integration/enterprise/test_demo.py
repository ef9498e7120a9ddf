"""The demo step on a hand-made world directory (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.demo import DemoContext
from zhikong.enterprise import demo
from zhikong.enterprise.models import Employee, Enterprise

from .conftest import PHONES, World


def test_demo_step(session: Session, world: World, tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        return
    (tmp_path / "world.json").write_text(json.dumps({"params": {"start_date": "2026-11-01", "days": 14}}))
    rows = ["id_number,name,sex,birth_date,phone,household_code,address,village_code,residence_status"]
    rows += [f"{world.ids[i]},员工{i},male,,{PHONES[i]},,,{world.village.code},resident" for i in range(4)]
    (tmp_path / "ledger.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ctx = DemoContext(console=Console(record=True), data={"world_dir": str(tmp_path)})
    demo.step(ctx)
    demo.step(ctx)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Employee)) == 4
    assert session.scalar(select(func.count()).select_from(Enterprise)) == 4  # 2 fixture + 2 demo
    assert "registration page" in ctx.console.export_text()

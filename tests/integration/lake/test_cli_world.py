"""The commands end to end: ``sim generate`` → ``lake ingest-world`` → ``lake stats``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from zhikong.cli import app
from zhikong.core.config import Settings
from zhikong.core.time import local_day, utcnow


def test_generate_ingest_stats(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "w"
    r = runner.invoke(app, ["sim", "generate", "--people", "300", "--days", "1", "--seed", "5",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "world hash" in r.output and "cell" in r.output
    meta = json.loads((out / "world.json").read_text())
    assert meta["persons"] == 300 and meta["villages"] == 300       # Banan's built-in villages
    r = runner.invoke(app, ["lake", "ingest-world", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["lake", "stats"])
    assert r.exit_code == 0 and f"{meta['rows']['cell']:,}" in r.output
    r = runner.invoke(app, ["sim", "generate", "--people", "5", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0
    r = runner.invoke(app, ["sim", "generate", "--people", "50", "--start", "2020-02-30",
                            "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "2020-02-30" in str(r.exception)


def test_demo_steps(settings: Settings) -> None:
    from rich.console import Console

    from zhikong.demo import DemoContext
    from zhikong.lake import demo as lake_demo
    from zhikong.sim import demo as sim_demo

    ctx = DemoContext(console=Console(record=True, width=200), people=200, days=1, seed=3, serve=False)
    sim_demo.step(ctx)
    assert ctx.data["world_dir"] == settings.data_dir / "worlds" / "demo"
    assert ctx.data["ledger_csv"].is_file()
    params = json.loads((ctx.data["world_dir"] / "world.json").read_text())["params"]
    yesterday = local_day(utcnow()) - timedelta(days=1)
    assert params["start_date"] == yesterday.isoformat()  # a one-day demo world ends yesterday
    lake_demo.step(ctx)
    text = ctx.console.export_text()
    assert "cell" in text and "files ingested, 0 rows rejected" in text

"""The commands end to end: ``sim generate`` → ``lake ingest-world`` → ``lake stats``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zhikong.cli import app
from zhikong.core.config import Settings


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

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.integration.people.conftest import write_ledger
from zhikong.cli import app
from zhikong.demo import DemoContext
from zhikong.people import demo
from zhikong.people.importer import ImportResult


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_generate_import_show_stats(session: Session, villages: object, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "gen.csv"
    r = runner.invoke(app, ["people", "generate", "--people", "200", "--seed", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 201
    r = runner.invoke(app, ["people", "import", str(out)])
    assert r.exit_code == 0, r.output
    assert "200" in r.output and "inserted" in r.output
    first_id = lines[1].split(",")[0]
    r = runner.invoke(app, ["people", "show", first_id.lower()])
    assert r.exit_code == 0, r.output
    assert first_id[:4] + "**********" + first_id[-4:] in r.output
    assert first_id not in r.output
    r = runner.invoke(app, ["people", "stats"])
    assert r.exit_code == 0 and "persons 200" in r.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_demo_step_generates_or_imports_given(session: Session, villages: object,
                                              tmp_path: Path) -> None:
    ctx = DemoContext(console=Console(record=True, width=200), people=150, seed=2)
    demo.step(ctx)
    res = ctx.data["people_import"]
    assert isinstance(res, ImportResult) and res.inserted == 150
    demo.step(ctx)
    assert ctx.data["people_import"].unchanged == 150
    ctx.data["ledger_csv"] = str(write_ledger(tmp_path / "world.csv", 50, seed=99))
    demo.step(ctx)
    assert ctx.data["people_import"].inserted == 50
    assert "now 200 persons" in ctx.console.export_text()

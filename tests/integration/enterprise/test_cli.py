"""``zhikong enterprise`` commands on a migrated SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zhikong.cli import app
from zhikong.core.errors import NotFound

from .conftest import World


def test_cli_create_poster_recompute(world: World, tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        return
    runner = CliRunner()
    r = runner.invoke(app, ["enterprise", "create", "丙公司", "--town", world.town.code])
    assert r.exit_code == 0, r.output
    assert "/enterprise/r/" in r.output
    out = tmp_path / "p.pdf"
    r = runner.invoke(app, ["enterprise", "poster", str(world.ent_a.id), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:5] == b"%PDF-"
    r = runner.invoke(app, ["enterprise", "poster", "99999", "--out", str(out)])
    assert r.exit_code != 0 and isinstance(r.exception, NotFound)
    r = runner.invoke(app, ["enterprise", "recompute"])
    assert r.exit_code == 0 and "changed" in r.output
    r = runner.invoke(app, ["enterprise", "list"])
    assert "丙公司" in r.output

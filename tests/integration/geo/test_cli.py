"""``zhikong geo`` commands end to end on the default SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.unit.geo.sample import write_geojson
from zhikong.core.config import Settings
from zhikong.core.migrate import upgrade
from zhikong.geo.cli import app
from zhikong.geo.places import demo_places, write_places_csv
from zhikong.geo.service import builtin_definition

runner = CliRunner()


def test_geo_commands(settings: Settings, tmp_path: Path) -> None:
    upgrade()
    r = runner.invoke(app, ["load"])
    assert r.exit_code == 0, r.output
    assert "323 created" in r.output
    r = runner.invoke(app, ["load"])
    assert "0 created, 0 updated, 323 unchanged" in r.output
    r = runner.invoke(app, ["list", "--level", "town"])
    assert r.exit_code == 0 and "22 units" in r.output and "天星寺镇" in r.output
    path = write_places_csv(demo_places(builtin_definition("500113"))[:20], tmp_path / "p.csv")
    r = runner.invoke(app, ["places-import", str(path)])
    assert r.exit_code == 0 and "20 created" in r.output
    with path.open("a", encoding="utf-8") as fh:
        fh.write("X,x,market,500113001001,1,1,\n")
    r = runner.invoke(app, ["places-import", str(path)])
    assert r.exit_code == 2 and "20 unchanged, 1 rejected" in r.output and "row 22" in r.output
    r = runner.invoke(app, ["show", "500113001"])
    assert r.exit_code == 0 and "龙洲湾街道" in r.output and "巴南区" in r.output
    r = runner.invoke(app, ["locate", "29.385", "106.515"])
    assert r.exit_code == 0 and "/500113/500113002/" in r.output
    # another district from a file
    r = runner.invoke(app, ["load", "--file", str(write_geojson(tmp_path))])
    assert r.exit_code == 0 and "999999 样例区" in r.output and "8 created" in r.output


def test_demo_step(settings: Settings) -> None:
    from rich.console import Console

    from zhikong.demo import DemoContext
    from zhikong.geo.demo import step

    upgrade()
    console = Console(record=True, width=120)
    ctx = DemoContext(console=console, serve=False)
    step(ctx)
    step(ctx)  # idempotent
    out = console.export_text()
    assert "units 323 created" in out and "units 0 created, 0 updated, 323 unchanged" in out
    assert "places 0 created, 0 updated" in out
    assert ctx.data["district_code"] == "500113" and len(ctx.data["places"]) > 100

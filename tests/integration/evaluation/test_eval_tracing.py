"""``zhikong eval tracing`` on a tiny hand-made world: figures and the JSON shape."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from zhikong.people.idcard import make_id_number

IDS = {k: make_id_number("500113", date(1980, 1, 1), i, "male") for i, k in enumerate("ABCDX")}
PHONES = {k: f"1380013800{i}" for i, k in enumerate("ABCDX")}


def _world(root: Path) -> Path:
    (root / "truth").mkdir(parents=True)
    (root / "ref").mkdir()
    (root / "world.json").write_text(
        json.dumps({"params": {"people": 5, "days": 3, "start_date": "2022-03-10"}})
    )
    pd.DataFrame(
        {
            "id_number": list(IDS.values()),
            "phone": list(PHONES.values()),
            "household_code": ["H1", "H1", "H2", "H3", "H4"],
        }
    ).to_parquet(root / "truth" / "persons.parquet")
    utc = "2022-03-12T00:00:00+08:00"
    pd.DataFrame(
        {
            "id_number": [IDS["A"]],
            "onset_at": [pd.Timestamp(utc)],
            "sampled_at": [pd.Timestamp(utc)],
            "reported_at": [pd.Timestamp("2022-03-12T12:00:00+08:00")],
        }
    ).to_parquet(root / "truth" / "cases.parquet")
    pd.DataFrame(
        {
            "case_id_number": [IDS["A"], IDS["A"], IDS["A"]],
            "contact_id_number": [IDS["B"], IDS["C"], IDS["D"]],
        }
    ).to_parquet(root / "truth" / "close_contacts.parquet")
    pd.DataFrame(
        {
            "venue_id": ["R1", "M1"],
            "name": ["面馆", "市场"],
            "kind": ["restaurant", "market"],
            "lat": [29.4, 29.41],
            "lon": [106.5, 106.51],
            "x": [0.0, 900.0],
            "y": [0.0, 900.0],
            "unit_code": ["", ""],
        }
    ).to_csv(root / "ref" / "venue.csv", index=False)
    pd.DataFrame(
        {
            "tower_id": ["T1"],
            "lat": [29.4],
            "lon": [106.5],
            "x": [0.0],
            "y": [0.0],
            "radius_m": [300.0],
            "unit_code": [""],
        }
    ).to_csv(root / "ref" / "tower.csv", index=False)
    feeds = root / "feeds"
    (feeds / "venue_scan").mkdir(parents=True)
    pd.DataFrame(
        {
            "venue_id": ["R1", "R1", "M1", "M1"],
            "ts": [
                "2022-03-11T12:00:00+08:00",
                "2022-03-11T12:05:00+08:00",
                "2022-03-11T09:00:00+08:00",
                "2022-03-11T09:05:00+08:00",
            ],
            "id_number": [IDS["A"], IDS["C"], IDS["A"], IDS["X"]],
        }
    ).to_csv(feeds / "venue_scan" / "2022-03-11.csv", index=False)
    (feeds / "cell").mkdir()
    pd.DataFrame(
        {
            "phone": [PHONES["A"], PHONES["A"], PHONES["X"], PHONES["X"]],
            "ts": [
                "2022-03-11T20:00:00+08:00",
                "2022-03-11T20:20:00+08:00",
                "2022-03-11T20:00:00+08:00",
                "2022-03-11T20:20:00+08:00",
            ],
            "tower_id": ["T1"] * 4,
            "event": ["periodic"] * 4,
        }
    ).to_csv(feeds / "cell" / "2022-03-11.csv", index=False)
    return root


@pytest.mark.usefixtures("settings")
def test_eval_tracing_json(tmp_path: Path) -> None:
    from zhikong.cli import app

    world = _world(tmp_path / "w")
    res = CliRunner().invoke(app, ["eval", "tracing", "--world", str(world), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"zhikong", "grid", "tower"}
    for per_class in out.values():
        assert set(per_class) == {"close", "secondary", "companion"}
        for m in per_class.values():
            assert set(m) == {"recall", "precision", "tp", "fp", "fn"}
    # B (household) and C (restaurant, 55 min) found; D never observed; X shared the market with A
    # for 40 minutes (close range under the built-in policy: no feed tells the stall row) but was
    # not a true contact
    assert out["zhikong"]["close"] == {"recall": 0.6667, "precision": 0.6667, "tp": 2, "fp": 1, "fn": 1}
    # the tower rule flags X (same tower at the same time) and misses the others
    assert out["tower"]["close"]["tp"] == 0 and out["tower"]["close"]["fp"] == 1
    assert (world / ".eval" / "lake" / "_SUCCESS").exists()


@pytest.mark.usefixtures("settings")
def test_eval_tracing_rejects_a_non_world(tmp_path: Path) -> None:
    from zhikong.cli import app

    res = CliRunner().invoke(app, ["eval", "tracing", "--world", str(tmp_path)])
    assert res.exit_code != 0

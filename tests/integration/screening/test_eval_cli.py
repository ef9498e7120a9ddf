"""``zhikong eval screening`` on a small hand-built world, and the screening CLI's error path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from zhikong.cli import app
from zhikong.core.config import Settings
from zhikong.screening.noise import noisy_list, synthetic_ledger


def _world(root: Path) -> None:
    ledger = synthetic_ledger(400, seed=51)
    (root / "lists").mkdir(parents=True)
    (root / "truth" / "lists").mkdir(parents=True)
    ledger.drop(columns=["unique_id"]).to_csv(root / "ledger.csv", index=False)
    (root / "world.json").write_text(json.dumps({"params": {
        "start_date": "2020-03-01", "risk_cities": ["武汉市"]}}))
    records, truth = noisy_list(ledger, 80, seed=52, noise=0.3)
    records.drop(columns=["unique_id"]).to_csv(root / "lists" / "arrivals_telecom.csv", index=False)
    ids = dict(zip(ledger["unique_id"], ledger["id_number"], strict=True))
    pd.DataFrame({"row": range(1, len(truth) + 1),
                  "id_number": [ids.get(t) if t else None for t in truth]}).to_parquet(
        root / "truth" / "lists" / "arrivals_telecom.identity.parquet")
    # three travellers from Wuhan: 0 declared, 1 and 2 concealed (2 is seen by roaming only)
    t = ledger.iloc[:4]
    (root / "feeds" / "travel").mkdir(parents=True)
    (root / "feeds" / "roaming").mkdir(parents=True)
    pd.DataFrame({"id_number": t["id_number"].iloc[:2], "mode": "train", "vehicle": "G1",
                  "carriage": "01", "seat": "1A", "origin_city": "武汉市", "origin_code": "420100",
                  "depart_ts": "2020-03-02T08:00:00+08:00", "ts": "2020-03-02T13:00:00+08:00"}
                 ).to_csv(root / "feeds" / "travel" / "2020-03-02.csv", index=False)
    pd.DataFrame({"phone": [t["phone"].iloc[2], t["phone"].iloc[3]], "city": ["武汉市", "成都市"],
                  "city_code": ["420100", "510100"], "first_seen": "2020-02-20T08:00:00+08:00",
                  "last_seen": "2020-03-02T08:00:00+08:00"}
                 ).to_csv(root / "feeds" / "roaming" / "2020-03-02.csv", index=False)
    decl = t.iloc[:1][["name", "id_number", "phone"]].assign(origin_city="武汉市")
    decl.to_csv(root / "lists" / "self_declared.csv", index=False)
    pd.DataFrame({"row": [1], "id_number": [t["id_number"].iloc[0]]}).to_parquet(
        root / "truth" / "lists" / "self_declared.identity.parquet")
    pd.DataFrame({"id_number": t["id_number"].iloc[:3], "concealed": [False, True, True],
                  "from_risk_area": True}).to_parquet(root / "truth" / "travellers.parquet")


def test_eval_screening_json(settings: Settings, tmp_path: Path) -> None:
    world = tmp_path / "world"
    _world(world)
    res = CliRunner().invoke(app, ["eval", "screening", "--world", str(world), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert set(out) == {"linkage", "concealment"}
    assert set(out["linkage"]) == {"precision", "recall", "f1", "blocking_recall"}
    assert set(out["concealment"]) == {"precision", "recall"}
    assert out["linkage"]["f1"] >= 0.95
    assert out["concealment"] == {"precision": 1.0, "recall": 1.0}


def test_import_list_cli_reports_rows(settings: Settings, tmp_path: Path) -> None:
    from zhikong.core.migrate import upgrade

    upgrade()
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,手机号\n,13800138000\n张三,13900139000\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["screening", "import-list", str(bad), "--source", "telecom",
                                   "--date", "2020-03-01"])
    assert res.exit_code != 0
    assert isinstance(res.exception, Exception)
    with pytest.raises(Exception, match="row 2"):
        raise res.exception

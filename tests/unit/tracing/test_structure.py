"""Structure detectors (workplace seen through the cell feed, schools) and the policy's score threshold."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.unit.tracing.scenario import at, build_scenario, pings, write_ref, write_source
from zhikong.core.errors import ConfigError
from zhikong.core.time import CHINA_TZ
from zhikong.engine import duckdb_engine
from zhikong.tracing.lake import LEDGER_SCHEMA
from zhikong.tracing.policy import Policy, load_policy, parse_policy
from zhikong.tracing.trace import IndexCase, TraceResult, trace


def born(year: int) -> int:
    return int(datetime(year, 6, 1, tzinfo=CHINA_TZ).timestamp())


def person(key: str, phone: str | None, year: int, village: str = "500113001005") -> dict[str, Any]:
    return {"pid_id": key, "pid_phone": phone, "household": None, "born_s": born(year), "village": village}


def build(lake: Path) -> pa.Table:
    """March 2022: Wednesday 9 and Thursday 10 are school and working days."""
    write_ref(
        lake,
        "venue",
        [
            {
                "venue_id": "W-OFF",
                "name": "公司",
                "kind": "work",
                "x": 0.0,
                "y": 0.0,
                "unit_code": "500113001001",
            },
            {
                "venue_id": "SCH",
                "name": "学校",
                "kind": "school",
                "x": 2000.0,
                "y": 0.0,
                "unit_code": "500113001002",
            },
        ],
    )
    write_ref(
        lake,
        "tower",
        [
            {"tower_id": "TW", "x": 10.0, "y": 0.0, "radius_m": 300.0},
            {"tower_id": "TS", "x": 2010.0, "y": 0.0, "radius_m": 300.0},
            {"tower_id": "TX", "x": 9000.0, "y": 9000.0, "radius_m": 300.0},
        ],
    )
    write_source(
        lake,
        "venue_scan",
        [
            {"venue_id": "W-OFF", "ts": at(10, 9, 0), "pid": "A"},  # the case scans on Thursday
            {"venue_id": "W-OFF", "ts": at(3, 9, 0), "pid": "P"},  # P scanned a week earlier only
        ],
    )
    school_day = [d for day in (9, 10) for d in (at(day, 8, 0),)]
    cell: list[dict[str, Any]] = []
    for who in ("phP", "phQ"):  # P and Q under the workplace's tower all Thursday; Q never scanned it
        cell += pings(who, "TW", at(10, 8, 30), 8 * 60 + 30)
    for who in ("phS", "phM", "phR"):  # pupils S and M and adult R at the school's tower
        for start in school_day:
            cell += pings(who, "TS", start, 8 * 60)
    cell += pings("phO2", "TS", at(9, 20, 0), 60)  # a teenager at the tower in the evening only
    write_source(lake, "cell", cell)
    return pa.Table.from_pylist(
        [
            person("A", None, 1985),
            person("P", "phP", 1990),
            person("Q", "phQ", 1991),
            person("S", "phS", 2011),
            person("M", "phM", 2013),
            person("R", "phR", 1980),
            person("N", None, 2012),  # no phone, same town (500113001): a schoolmate
            person("O", None, 2012, village="500113002001"),  # no phone, another town
            person("O2", "phO2", 2009),
        ],
        schema=LEDGER_SCHEMA,
    )


def run(lake: Path, key: str, policy: Policy | None = None) -> TraceResult:
    led = build(lake)
    case = IndexCase(key, key, at(11, 0), at(11, 12))
    with duckdb_engine() as eng:
        return trace(eng, lake, led, [case], policy or load_policy())


def test_colleague_seen_only_by_the_cell_feed_is_close_with_evidence(tmp_path: Path) -> None:
    res = run(tmp_path, "A")
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("P") == "close"
    assert "Q" not in cls  # same tower, never scanned the workplace: nothing ties Q to it
    ev = res.evidence[res.evidence["contact"] == "P"]
    assert set(zip(ev["source"], ev["place"], ev["distance"], strict=True)) == {("cell", "W-OFF", "near")}
    # A's scan stay (work dwell 240 min from 09:00) inside P's inferred stay 08:30..17:00
    assert float(ev["minutes"].sum()) == pytest.approx(240.0)
    p = next(c for c in res.contacts if c.contact == "P")
    assert "cell" in p.explain()


def test_schoolmates_by_tower_and_by_town(tmp_path: Path) -> None:
    res = run(tmp_path, "S")
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("M") == "close"  # a pupil at the school's tower in school hours
    assert cls.get("N") == "close"  # no phone, school age, lives in the school's town
    assert "R" not in cls  # an adult at the same tower
    assert "O" not in cls  # no phone, another town
    assert "O2" not in cls  # school age, but at the tower only in the evening
    ev = res.evidence[res.evidence["contact"] == "M"]
    found = set(zip(ev["source"], ev["place"], ev["distance"], strict=True))
    assert found == {("ledger", "school:SCH", "school"), ("cell", "TS", "coarse")}


def test_school_rule_off_finds_no_schoolmates(tmp_path: Path) -> None:
    data = load_policy().model_dump()
    data["school"]["enabled"] = False
    res = run(tmp_path, "S", parse_policy(data))
    assert not [c for c in res.contacts if c.contact in ("M", "N")]


def test_score_threshold_moves_a_contact_between_classes(tmp_path: Path) -> None:
    led = build_scenario(tmp_path)
    case = IndexCase("A", "idA", at(12, 0), at(13, 0))
    data = load_policy().model_dump()
    # a market shared for 45 minutes is not close range here (the built-in policies say it is)
    data["rules"]["venue_near_kinds"] = ["restaurant", "work", "school"]
    base = parse_policy(data)
    data = base.model_dump()
    data["close_contact"]["score_threshold"] = 5.0
    lowered = parse_policy(data)
    with duckdb_engine() as eng:
        before = trace(eng, tmp_path, led, [case], base)
        after = trace(eng, tmp_path, led, [case], lowered)
    # D shared the market (same place, not the same stall row) for 45 minutes: score 45 x 0.3 x 0.7 x 0.9
    d = before.ranking[before.ranking["contact"] == "idD"]["score"].iloc[0]
    assert 5.0 < d < 15.0
    assert "idD" not in {c.contact for c in before.contacts if c.cls == "close"}
    assert "idD" in {c.contact for c in after.contacts if c.cls == "close"}


def test_policy_rejects_bad_school_and_anchor_fields() -> None:
    data = load_policy().model_dump()
    data["school"]["age"] = [18, 6]
    with pytest.raises(ConfigError, match="school"):
        parse_policy(data)
    data = load_policy().model_dump()
    data["rules"]["anchor_hours"] = {"work": [17, 8]}
    with pytest.raises(ConfigError, match="anchor_hours"):
        parse_policy(data)
    data = load_policy().model_dump()
    data["close_contact"]["score_threshold"] = -1
    with pytest.raises(ConfigError, match="score_threshold"):
        parse_policy(data)

"""The visit detector: one side scanned a restaurant, the other was briefly under its tower."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.unit.tracing.scenario import at, pings, write_ref, write_source
from zhikong.engine import duckdb_engine
from zhikong.tracing.lake import LEDGER_SCHEMA
from zhikong.tracing.policy import Policy, load_policy, parse_policy
from zhikong.tracing.trace import IndexCase, TraceResult, trace


def visit_policy(**rules: Any) -> Policy:
    data = load_policy().model_dump()
    data["rules"].update({"visit_kinds": ["restaurant", "market"], "visit_max_minutes": 120, **rules})
    return parse_policy(data)


def build(lake: Path, scans: list[dict[str, Any]] = (), cells: list[dict[str, Any]] = ()) -> pa.Table:  # type: ignore[assignment]
    """Thursday 10 March 2022: restaurant R (tower TR) at lunch, shop S (tower TS) elsewhere."""
    write_ref(
        lake,
        "venue",
        [
            {
                "venue_id": "R",
                "name": "餐馆",
                "kind": "restaurant",
                "x": 0.0,
                "y": 0.0,
                "unit_code": "500113001001",
            },
            {
                "venue_id": "S",
                "name": "超市",
                "kind": "supermarket",
                "x": 5000.0,
                "y": 0.0,
                "unit_code": "500113001001",
            },
        ],
    )
    write_ref(
        lake,
        "tower",
        [
            {"tower_id": "TR", "x": 20.0, "y": 0.0, "radius_m": 300.0},
            {"tower_id": "TS", "x": 5020.0, "y": 0.0, "radius_m": 300.0},
            {"tower_id": "TH", "x": 9000.0, "y": 0.0, "radius_m": 300.0},
        ],
    )
    write_source(
        lake,
        "venue_scan",
        [
            {"venue_id": "R", "ts": at(10, 12, 0), "pid": "A"},  # the case scans the restaurant
            {"venue_id": "S", "ts": at(10, 12, 0), "pid": "C"},  # C scanned a shop at the time
            {"venue_id": "R", "ts": at(10, 18, 0), "pid": "D"},  # D dines at R in the evening
            *scans,
        ],
    )
    cell: list[dict[str, Any]] = []
    cell += pings("phA", "TH", at(10, 8, 0), 230) + pings("phA", "TR", at(10, 12, 0), 50)
    cell += pings("phA", "TH", at(10, 13, 0), 240) + pings("phA", "TR", at(10, 18, 0), 40)
    cell += pings("phA", "TH", at(10, 18, 50), 120)  # A: 60 + 50 minutes under TR that day
    cell += pings("phB", "TH", at(10, 8, 0), 230) + pings("phB", "TR", at(10, 12, 0), 50)  # a visit
    cell += pings("phB", "TH", at(10, 13, 0), 240)
    # H lives under the tower: there all day, in stays the silences split into short ones
    cell += pings("phH", "TR", at(10, 7, 0), 270) + pings("phH", "TR", at(10, 12, 5), 50)
    cell += pings("phH", "TR", at(10, 13, 30), 270)
    cell += pings("phC", "TR", at(10, 12, 0), 50)  # briefly under TR but scanned the shop S
    write_source(lake, "cell", cell + list(cells))
    return pa.Table.from_pylist(
        [
            {"pid_id": k, "pid_phone": f"ph{k}", "household": None, "born_s": None, "village": None}
            for k in "ABCDHPQ"
        ],
        schema=LEDGER_SCHEMA,
    )


def run(lake: Path, policy: Policy, key: str = "A", **extra: list[dict[str, Any]]) -> TraceResult:
    led = build(lake, **extra)
    with duckdb_engine() as eng:
        return trace(eng, lake, led, [IndexCase(key, key, at(11, 0), at(11, 12))], policy)


def test_a_brief_stay_under_the_restaurants_tower_meets_the_scan(tmp_path: Path) -> None:
    res = run(tmp_path, visit_policy())
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("B") == "close"  # scanned nothing, briefly under R's tower while A ate there
    assert cls.get("H") != "close"  # under the tower all day: at home, not at the restaurant
    assert cls.get("C") != "close"  # scanned a shop elsewhere at the time
    ev = res.evidence[(res.evidence["contact"] == "B") & (res.evidence["place"] == "R")]
    assert list(zip(ev["source"], ev["distance"], strict=True)) == [("cell", "near")]
    assert 45 <= float(ev["minutes"].sum()) <= 60
    # the other way round: A did not scan in the evening, D did, A was briefly under R's tower
    assert cls.get("D") == "close"


def test_visits_off_or_longer_than_the_limit_find_nobody(tmp_path: Path) -> None:
    off = run(tmp_path / "off", visit_policy(visit_kinds=[]))
    assert not {"B", "D"} & {c.contact for c in off.contacts if c.cls == "close"}
    short = run(tmp_path / "short", visit_policy(visit_max_minutes=40))
    assert not {"B", "D"} & {c.contact for c in short.contacts if c.cls == "close"}


def test_a_scanned_stay_lasts_while_its_owner_stays_under_the_tower(tmp_path: Path) -> None:
    # P scans R at 09:00 (a 60-minute dwell) but stays until 10:30, as P's cell stays show; Q scans
    # R at 10:05: the scans alone overlap by 0 minutes, P's visit stay extends P's to 10:30
    scans = [
        {"venue_id": "R", "ts": at(10, 9, 0), "pid": "P"},
        {"venue_id": "R", "ts": at(10, 10, 5), "pid": "Q"},
    ]
    cells = pings("phP", "TR", at(10, 9, 0), 80) + pings("phP", "TH", at(10, 10, 30), 60)
    policy = visit_policy(venue_dwell_minutes={"default": 30, "restaurant": 60})
    res = run(tmp_path, policy, key="P", scans=scans, cells=cells)
    q = res.evidence[res.evidence["contact"] == "Q"]
    assert set(zip(q["source"], q["place"], q["distance"], strict=True)) == {("cell", "R", "near")}
    assert float(q["minutes"].sum()) == pytest.approx(25.0)
    assert {c.contact: c.cls for c in res.contacts}.get("Q") == "close"


def _gap_visit(tmp_path: Path, p_cells: list[dict[str, Any]]) -> dict[str, str]:
    """9 March: P scans R at 09:00 (a 60-minute dwell here) and pings R's tower TR at 09:10 and
    10:30 only (sparse records: two stays, 09:10–09:40 and 10:30–11:00); Q scans R at 09:50 and the
    shop S at 10:25; B, who scans nothing, is on TR from 10:05 to 10:40. The scans alone overlap by
    10 minutes (P–Q) and 0 (P–B)."""
    scans = [
        {"venue_id": "R", "ts": at(9, 9, 0), "pid": "P"},
        {"venue_id": "R", "ts": at(9, 9, 50), "pid": "Q"},
        {"venue_id": "S", "ts": at(9, 10, 25), "pid": "Q"},
    ]
    cells = p_cells + pings("phB", "TR", at(9, 10, 5), 35) + pings("phB", "TH", at(9, 11, 0), 60)
    policy = visit_policy(venue_dwell_minutes={"default": 30, "restaurant": 60, "supermarket": 30})
    res = run(tmp_path, policy, key="P", scans=scans, cells=cells)
    return {c.contact: c.cls for c in res.contacts}


def test_a_scanned_visit_lasts_until_the_phone_leaves_the_venues_tower(tmp_path: Path) -> None:
    # P's first record on TR comes 10 minutes after the scan, and the silence 09:10–10:30 splits P's
    # visit into two stays with no other tower between: P's visit runs from 09:00 to 11:00, so Q (both
    # scanned, 35 minutes) is a close contact. B (scanned nothing) meets P's scanned stay (09:00–10:00)
    # and P's cell stays, not P's extended visit: 0 minutes
    p_cells = pings("phP", "TR", at(9, 9, 10), 80, every=80) + pings("phP", "TH", at(9, 11, 0), 60)
    cls = _gap_visit(tmp_path, p_cells)
    assert cls.get("Q") == "close"
    assert cls.get("B") != "close"


def test_a_visit_ends_when_the_phone_is_seen_elsewhere_or_when_its_owner_lives_there(tmp_path: Path) -> None:
    # P was on the tower TH at 09:50, between the two stays on TR: P left R, and the scan's dwell stands
    left = pings("phP", "TR", at(9, 9, 10), 0) + pings("phP", "TH", at(9, 9, 50), 0)
    left += pings("phP", "TR", at(9, 10, 30), 0) + pings("phP", "TH", at(9, 11, 0), 60)
    cls = _gap_visit(tmp_path / "left", left)
    assert cls.get("Q") != "close"
    assert cls.get("B") != "close"
    # P lives under TR (there all day): P's stays there say nothing about the restaurant
    home = pings("phP", "TR", at(9, 6, 0), 240, every=20) + pings("phP", "TR", at(9, 10, 30), 400, every=20)
    cls = _gap_visit(tmp_path / "home", home)
    assert cls.get("Q") != "close"
    assert cls.get("B") != "close"


@pytest.mark.parametrize(
    ("venue", "q_at", "b_at"),
    [
        ("S", at(9, 10, 25), at(9, 10, 35)),  # supermarket: 45-minute dwell (was 30)
        ("R", at(9, 11, 5), at(9, 11, 20)),  # restaurant: 90-minute dwell (was 60)
    ],
)
def test_the_built_in_dwells_of_supermarkets_and_restaurants(
    tmp_path: Path, venue: str, q_at: datetime, b_at: datetime
) -> None:
    # P scans at 10:00, Q 20 (supermarket) or 25 (restaurant) minutes before P's dwell ends (the old
    # dwells gave 5 and 0); B 10 minutes before it ends, too short. Nobody's phone is near the venue
    scans = [
        {"venue_id": venue, "ts": at(9, 10, 0), "pid": "P"},
        {"venue_id": venue, "ts": q_at, "pid": "Q"},
        {"venue_id": venue, "ts": b_at, "pid": "B"},
    ]
    res = run(tmp_path, load_policy("protocol-9"), key="P", scans=scans)
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("Q") == "close"
    assert cls.get("B") != "close"
    q = res.evidence[(res.evidence["contact"] == "Q") & (res.evidence["source"] == "venue_scan")]
    assert float(q["minutes"].sum()) == pytest.approx(25.0 if venue == "R" else 20.0)

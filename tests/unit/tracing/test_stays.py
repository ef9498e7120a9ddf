"""Stay rules: cell gaps and ping-pong, venue dwell cut by the next scan."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.unit.tracing.scenario import at, ledger, write_ref, write_source
from zhikong.engine import duckdb_engine
from zhikong.tracing import pipeline
from zhikong.tracing.lake import register_lake
from zhikong.tracing.policy import load_policy


def _stays(tmp_path: Path, table: str) -> list[tuple[str, str, int, int]]:
    policy = load_policy()
    eng = duckdb_engine()
    register_lake(eng, tmp_path)
    eng.register_arrow("ledger", ledger([("idP", "phP", None)]))
    lo = int(at(1, 0).timestamp())
    pipeline.prepare(eng, policy, lo, lo + 30 * 86400)
    rows = eng.sql(f"SELECT * FROM ({pipeline.named_stays(table)}) q ORDER BY person, start_s").to_pylist()
    return [(r["person"], r["place"], (r["start_s"] - lo) // 60, (r["end_s"] - lo) // 60) for r in rows]


def test_cell_ping_pong_is_merged_and_gaps_split_stays(tmp_path: Path) -> None:
    t0 = at(1, 0)

    def ping(tower: str, minute: int) -> dict[str, object]:
        return {"pid": "phP", "ts": t0 + timedelta(minutes=minute), "tower_id": tower, "event": "periodic"}

    write_source(
        tmp_path,
        "cell",
        [
            ping("A", 0),
            ping("A", 10),
            ping("B", 14),
            ping("A", 18),  # B is a ping-pong (A-B-A in 8 min)
            ping("A", 25),
            ping("A", 100),  # silence of 75 min > 30: new stay
            ping("C", 110),
            ping("C", 120),  # moved to C
            ping("B", 200),  # B after a long time, then nothing
        ],
    )
    got = _stays(tmp_path, "stay_cell")
    # person mapped to the ID pseudonym through the ledger
    assert got == [
        ("idP", "A", 0, 55),  # first ping .. last ping (25) + at most the 30-minute gap
        ("idP", "A", 100, 110),  # until the next ping elsewhere
        ("idP", "C", 110, 150),
        ("idP", "B", 200, 230),
    ]


def test_ping_pong_needs_both_neighbours_within_t(tmp_path: Path) -> None:
    t0 = at(1, 0)
    write_source(
        tmp_path,
        "cell",
        [
            {"pid": "phP", "ts": t0 + timedelta(minutes=m), "tower_id": tw, "event": "data"}
            for tw, m in (("A", 0), ("B", 6), ("A", 12))  # 12 > 10 minutes: a real move
        ],
    )
    places = [r[1] for r in _stays(tmp_path, "stay_cell")]
    assert places == ["A", "B", "A"]


def test_venue_stay_lasts_the_kinds_dwell_unless_the_next_scan_comes_first(tmp_path: Path) -> None:
    write_ref(
        tmp_path,
        "venue",
        [
            {"venue_id": "R", "kind": "restaurant"},
            {"venue_id": "M", "kind": "market"},
            {"venue_id": "X", "kind": "unknown-kind"},
        ],
    )
    write_source(
        tmp_path,
        "venue_scan",
        [
            {"venue_id": "R", "ts": at(1, 12, 0), "pid": "idP"},  # restaurant: 90 min, but next scan at 12:20
            {"venue_id": "M", "ts": at(1, 12, 20), "pid": "idP"},  # market: 60 min
            {"venue_id": "X", "ts": at(1, 18, 0), "pid": "idP"},  # unknown kind: default 30 min
        ],
    )
    got = [(p, s, e) for _, p, s, e in _stays(tmp_path, "stay_venue")]
    assert got == [("R", 720, 740), ("M", 740, 800), ("X", 1080, 1110)]

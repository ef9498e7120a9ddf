"""Scoring, per-pair summaries and the close rule in SQL (``tracing.risk``) against their documented
definitions, on hand-made and random evidence."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.tracing.policy import Policy, load_policy, parse_policy
from zhikong.tracing.result import CONTACT_SCHEMA, contact_results, encoded, rounded_contributions
from zhikong.tracing.risk import register_weights, round3, scored_sql, strings, summarise

DAY = 86400
ONSET = {1: 100 * DAY, 2: 100 * DAY + 3600}


@pytest.fixture
def eng() -> Iterator[QueryEngine]:
    with duckdb_engine() as e:
        yield e


def _load(eng: QueryEngine, rows: list[dict[str, object]], policy: Policy) -> list[dict[str, object]]:
    """Score ``rows`` (evidence on numbers) and return them with their score, in row order."""
    eng.register_arrow("ev", pa.Table.from_pylist([{**r, "n": i} for i, r in enumerate(rows)]))
    eng.register_arrow("cases", pa.table({"case_key": list(ONSET), "onset_s": list(ONSET.values())}))
    register_weights(eng, policy)
    eng.create_table("scored", scored_sql("SELECT * FROM ev", "cases", policy))
    return eng.sql("SELECT * FROM scored ORDER BY n").to_pylist()


Row = dict[str, object]


def _row(case: int, contact: int, source: str, distance: str, minutes: float, start: int) -> Row:
    return {
        "case_key": case,
        "contact": contact,
        "source": source,
        "distance": distance,
        "minutes": minutes,
        "start_s": start,
        "end_s": start + int(minutes * 60),
    }


def test_the_score_is_the_documented_product(eng: QueryEngine) -> None:
    policy = load_policy()
    w = policy.weights
    onset = ONSET[1]
    rows = [
        _row(1, 7, "venue_scan", "near", 30.0, onset - 1),  # a second before onset: day −1, not 0
        _row(1, 7, "venue_scan", "near", 30.0, onset),  # day 0
        _row(1, 7, "cell", "coarse", 120.0, onset - 10 * DAY),  # before the table: its first day (−2)
        _row(1, 8, "proximity", "close", 12.5, onset + 4 * DAY + 5),  # day 4: not tabulated, day 3 applies
        _row(1, 8, "gps", "near", 10.0, onset + 30 * DAY),  # after the table: its last day
        _row(2, 9, "ledger", "household", 480.0, ONSET[2] - 2 * DAY),  # the case's own onset: day −2
        _row(2, 9, "roaming", "near", 10.0, ONSET[2]),  # a source without a weight scores 0
    ]
    got = _load(eng, rows, policy)
    for r in got:
        day = math.floor((int(r["start_s"]) - ONSET[int(r["case_key"])]) / DAY)  # type: ignore[call-overload]
        want = (
            float(r["minutes"])  # type: ignore[arg-type]
            * w.distance.get(str(r["distance"]), 0.0)  # type: ignore[call-overload]
            * w.source.get(str(r["source"]), 0.0)
            * policy.infectiousness_at(day)
        )
        assert r["score"] == want, r
    assert got[0]["score"] == 30 * 0.6 * 0.7 * 0.9 and got[1]["score"] == 30 * 0.6 * 0.7 * 1.0
    assert got[2]["score"] == pytest.approx(120 * 0.02 * 0.3 * 0.6)
    assert got[3]["score"] == pytest.approx(12.5 * 1.0 * 0.9 * 0.8)
    assert got[6]["score"] == 0.0


def test_summaries_match_the_per_pair_definition(eng: QueryEngine) -> None:
    rng = random.Random(5)
    policy = load_policy()
    rows = [
        _row(
            rng.choice([1, 2]),
            rng.randint(10, 15),
            rng.choice(["cell", "venue_scan", "proximity", "ledger"]),
            rng.choice(["coarse", "near", "close", "household"]),
            rng.choice([0.0, 5.0, 12.5, 30.0, 1 / 3]),
            ONSET[1] + rng.randint(-3 * DAY, 3 * DAY),
        )
        for _ in range(400)
    ]
    scored = _load(eng, rows, policy)
    summarise(eng, policy, "scored", "s")
    out = {(r["case_key"], r["contact"]): r for r in eng.sql("SELECT * FROM s").to_pylist()}
    per_src = {
        (r["case_key"], r["contact"], r["source"]): r for r in eng.sql("SELECT * FROM s_ps").to_pylist()
    }
    close_range = set(policy.close_contact.close_range)
    pairs: dict[tuple[object, object], list[dict[str, object]]] = {}
    for r in scored:
        pairs.setdefault((r["case_key"], r["contact"]), []).append(r)
    assert set(out) == set(pairs)
    for pair, g in pairs.items():
        score: dict[str, list[float]] = {}
        close: dict[str, list[float]] = {}
        for r in g:
            score.setdefault(str(r["source"]), []).append(float(r["score"]))  # type: ignore[arg-type]
            close.setdefault(str(r["source"]), []).append(
                float(r["minutes"]) if r["distance"] in close_range else 0.0  # type: ignore[arg-type]
            )
        row = out[pair]
        for src in score:
            got = per_src[(*pair, src)]["score"]
            assert got == pytest.approx(math.fsum(score[src]), abs=5.01e-7) and _on_grid(got)
        by_source = [per_src[(*pair, src)]["score"] for src in score]
        assert row["score"] == round(math.fsum(by_source), 6) and _on_grid(row["score"])
        # the largest source's close-range minutes, not their sum over sources
        close_minutes = max(math.fsum(v) for v in close.values())
        assert row["close_minutes"] == pytest.approx(close_minutes, abs=5.01e-7)
        assert _on_grid(row["close_minutes"])
        assert (row["first_s"], row["last_s"]) == (min(r["start_s"] for r in g), max(r["end_s"] for r in g))
        hh = any(r["distance"] == "household" for r in g)
        assert row["household"] == int(hh)
        assert row["is_close"] == (hh or row["close_minutes"] >= policy.close_contact.min_minutes)


def _on_grid(v: object) -> bool:
    """``v`` has at most 6 decimals (it is the double nearest to a multiple of 10⁻⁶)."""
    return float(v) == round(float(v), 6)  # type: ignore[arg-type]


def test_summaries_do_not_depend_on_the_order_of_the_rows(eng: QueryEngine) -> None:
    rng = random.Random(8)
    policy = load_policy()
    # many small, unround scores per pair: float sums in another order differ in the last bits
    rows = [
        _row(
            1,
            rng.randint(10, 12),
            rng.choice(["cell", "venue_scan"]),
            rng.choice(["near", "coarse"]),
            rng.randint(1, 600) / 60 / rng.choice([1, 3, 7]),
            ONSET[1] + rng.randint(0, DAY),
        )
        for _ in range(3000)
    ]
    got = []
    for _ in range(3):
        rng.shuffle(rows)
        _load(eng, rows, policy)
        summarise(eng, policy, "scored", "s")
        got.append(
            (
                eng.sql("SELECT * FROM s ORDER BY case_key, contact").to_pylist(),
                eng.sql("SELECT * FROM s_ps ORDER BY case_key, contact, source").to_pylist(),
            )
        )
    assert got[0] == got[1] == got[2]


def test_close_minutes_are_rounded_before_the_threshold(eng: QueryEngine) -> None:
    """150 × 0.1 minute is 15 minutes, though its float sum in row order is a little below 15."""
    assert math.fsum([0.1] * 150) == 15.0 and sum([0.1] * 150) < 15.0
    rows = [_row(1, 1, "proximity", "close", 0.1, ONSET[1] + 60 * i) for i in range(150)]
    rows += [_row(1, 2, "proximity", "close", 14.9999, ONSET[1])]  # a real shortfall stays one
    assert _classes(eng, load_policy(), rows) == {1: True, 2: False}
    assert eng.sql("SELECT close_minutes FROM s WHERE contact = 1").column(0).to_pylist() == [15.0]


def _classes(eng: QueryEngine, policy: Policy, rows: list[dict[str, object]], **kw: float) -> dict[int, bool]:
    _load(eng, rows, policy)
    summarise(eng, policy, "scored", "s", **kw)  # type: ignore[arg-type]
    return {int(r["contact"]): bool(r["is_close"]) for r in eng.sql("SELECT * FROM s").to_pylist()}


def test_the_close_rule_at_its_edges(eng: QueryEngine) -> None:
    base = load_policy()
    t = ONSET[1]
    rows = [
        _row(1, 1, "proximity", "close", 15.0, t),  # exactly the threshold: close
        _row(1, 2, "proximity", "close", 14.99, t),  # just under
        _row(1, 3, "proximity", "close", 10.0, t),  # 10 + 10 min from two sources: the larger counts
        _row(1, 3, "venue_scan", "near", 10.0, t),
        _row(1, 4, "proximity", "close", 8.0, t),  # 8 + 8 min from one source add up
        _row(1, 4, "proximity", "close", 8.0, t + DAY),
        _row(1, 5, "cell", "coarse", 600.0, t),  # long but not close range
        _row(1, 6, "ledger", "household", 480.0, t),  # the household
        _row(1, 7, "camera", "near", 5.0, t),
    ]
    want = {1: True, 2: False, 3: False, 4: True, 5: False, 6: True, 7: False}
    assert _classes(eng, base, rows) == want
    # secondary contacts: their own minimum
    assert _classes(eng, base, rows, min_minutes=10.0) == {**want, 2: True, 3: True}
    data = base.model_dump()
    data["close_contact"]["household"] = False
    data["close_contact"]["score_threshold"] = 600 * 0.02 * 0.3 * 1.0  # contact 5's score, exactly
    policy = parse_policy(data)
    got = _classes(eng, policy, rows)
    assert got[5] and not got[7]  # a score at the threshold is close; 5 min × 0.6 × 0.6 is not
    assert got[6] and got[2]  # household minutes and 14.99 close minutes score above it


def test_contact_results_carry_their_contributions_in_order() -> None:
    contacts = encoded(
        pa.table(
            {
                "case_key": ["a", "a", "b"],
                "contact": ["p", "q", "p"],
                "cls": ["close", "companion", "secondary"],
                "hop": [1, 1, 2],
                "score": [3.0, 0.0, 1.5],
                "close_minutes": [20.0, 0.0, 12.0],
                "first_s": [1, 2, 3],
                "last_s": [4, 5, 6],
                "via": [None, None, "r"],
            }
        ),
        CONTACT_SCHEMA,
    )
    contrib = rounded_contributions(
        pa.table({"n": [0, 0, 2], "source": ["venue_scan", "cell", "gps"], "score": [2.00049, 0.9995, 1.5]})
    )
    got = contact_results(contacts, contrib)
    assert [c.contributions for c in got] == [{"venue_scan": 2.0, "cell": 1.0}, {}, {"gps": 1.5}]
    assert list(got[0].contributions) == ["venue_scan", "cell"]
    assert (got[2].via, got[2].hop, got[2].cls, got[1].via) == ("r", 2, "secondary", None)
    assert got[0].explain() == "score 3.0 = venue_scan 2.0, cell 1.0"
    # some rows only: the same objects
    assert contact_results(contacts, contrib, np.array([0, 2])) == [got[0], got[2]]
    assert contact_results(contacts, contrib, np.array([1])) == [got[1]]


def test_round3_rounds_as_python_does() -> None:
    rng = np.random.default_rng(4)
    # sums rounded to 6 decimals, many of them ties at the 4th decimal (…x500)
    values = np.concatenate(
        [rng.integers(0, 10**9, 5000) / 1e6, (rng.integers(0, 10**6, 5000) * 1000 + 500) / 1e6, [0.0, 2.0005]]
    )
    assert round3(values) == [round(float(v), 3) for v in values]
    assert round3(np.array([])) == []


def test_strings_keep_nulls() -> None:
    got = strings(pa.chunked_array([["a", None], ["b", "a"]]))
    assert got.tolist() == ["a", None, "b", "a"] and got[0] is got[3]

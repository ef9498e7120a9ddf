"""Range joins split by day (``tracing.intervals``) find the same overlapping pairs, once each, as
the join without days: intervals across midnight, over several days and of zero length."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from zhikong.engine import duckdb_engine
from zhikong.tracing.intervals import by_day, first_day, register_days

DAY = 86400
LO = 1_583_000_000 - (1_583_000_000 + 8 * 3600) % DAY  # a local midnight


def _intervals(rng: random.Random, n: int) -> pa.Table:
    rows = []
    for i in range(n):
        start = LO + rng.randrange(0, 6 * DAY)
        length = rng.choice([0, 0, 60, 3600, 5 * 3600, DAY - 1, DAY, 2 * DAY + 7])
        if rng.random() < 0.2:  # on a midnight
            start -= (start + 8 * 3600) % DAY
        rows.append({"id": i, "place": rng.randrange(3), "a": start, "b": start + length})
    return pa.Table.from_pylist(rows)


@pytest.mark.parametrize(("seed", "first", "last"), [(1, 0, 9), (2, 0, 9), (3, 0, 9), (4, 2, 4), (5, 1, 3)])
def test_pairs_by_day_are_the_pairs_of_the_plain_range_join(seed: int, first: int, last: int) -> None:
    rng = random.Random(seed)
    with duckdb_engine() as eng:
        eng.register_arrow("xs", _intervals(rng, 150))
        eng.register_arrow("os", _intervals(rng, 150))
        # the trace's days: intervals reaching beyond them are cut to them; the pairs whose overlap
        # starts on those days are found
        register_days(eng, LO + first * DAY, LO + last * DAY)
        day0 = (LO + first * DAY + 8 * 3600) // DAY
        day1 = (LO + last * DAY + 8 * 3600) // DAY
        plain = eng.sql(
            "SELECT x.id AS xi, o.id AS oi FROM xs x "
            "JOIN os o ON o.place = x.place AND o.a < x.b AND o.b > x.a "
            f"WHERE (GREATEST(x.a, o.a) + 28800) // 86400 BETWEEN {day0} AND {day1}"
        ).to_pylist()
        split = eng.sql(
            f"""WITH xd AS ({by_day("xs", "a", "b")}), od AS ({by_day("os", "a", "b")})
            SELECT x.id AS xi, o.id AS oi FROM xd x JOIN od o
              ON o.place = x.place AND o.dd = x.dd AND o.a < x.b AND o.b > x.a
            WHERE {first_day("x", "a", "o", "a")}"""
        ).to_pylist()
    pairs = sorted((r["xi"], r["oi"]) for r in plain)
    assert len(pairs) > 30  # the scenario has overlaps, some of them zero-length
    assert sorted((r["xi"], r["oi"]) for r in split) == pairs  # the same pairs, none twice

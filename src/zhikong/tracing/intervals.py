"""Range joins of time intervals, split by local day (shared by ``pipeline`` and ``structure``).

Overlap detectors join stays of the same place whose intervals overlap. With the place as the
only equality, every stay of the index side is compared with every stay of the others at that
place over the whole period; with the local day as a second key, only with those of the same day.
"""

from __future__ import annotations

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.tracing.columns import LOCAL_OFFSET_S, case_base, unskipped


def day_no(col: str) -> str:
    """The local day number of ``col`` (epoch seconds), as in ``trace_days``."""
    return f"((({col}) + {LOCAL_OFFSET_S}) // 86400)"


def register_days(engine: QueryEngine, lo_s: int, hi_s: int) -> None:
    """``trace_days(dd)``: the local day numbers from ``lo_s`` to ``hi_s``, ``trace_span(dlo, dhi)``
    the first and last of them, and ``trace_day_offsets(k, off)``: ``off`` = 0..k for every span
    ``k`` of days they allow (for :func:`by_day`)."""
    d0, d1 = (lo_s + LOCAL_OFFSET_S) // 86400, (hi_s + LOCAL_OFFSET_S) // 86400
    engine.register_arrow("trace_days", pa.table({"dd": pa.array(range(d0, d1 + 1), pa.int64())}))
    span = {"dlo": pa.array([d0], pa.int64()), "dhi": pa.array([d1], pa.int64())}
    engine.register_arrow("trace_span", pa.table(span))
    pairs = [(k, off) for k in range(d1 - d0 + 1) for off in range(k + 1)]
    engine.register_arrow(
        "trace_day_offsets",
        pa.table({"k": pa.array([k for k, _ in pairs], pa.int64()),
                  "off": pa.array([o for _, o in pairs], pa.int64())}),
    )


def by_day(rel: str, a: str, b: str) -> str:
    """The rows of ``rel`` (intervals ``[a, b)``, epoch seconds), once for each day ``dd`` of
    ``trace_days`` they cover (a zero-length interval covers its start's day).

    Join two such relations on ``dd`` too, and keep a pair only on the day its overlap starts
    (:func:`first_day`): two intervals overlap from ``s0``, the later start, both cover ``s0``'s
    day, so each overlapping pair is found exactly once, as by the join without days (for overlaps
    starting within the trace's days). ``rel`` is read once, with an equi-join on the number of
    days covered (most intervals: one), so the plan stays small (Spark inlines what is repeated).
    The rows get the columns ``dd0``, ``dd1`` (first and last day) and ``dd``."""
    first = f"GREATEST({day_no(f'r.{a}')}, s.dlo)"
    last = f"LEAST({day_no(f'GREATEST(r.{a}, r.{b} - 1)')}, s.dhi)"
    return f"""
        SELECT r.*, r.dd0 + o.off AS dd FROM (
          SELECT r.*, {first} AS dd0, {last} AS dd1 FROM {rel} r CROSS JOIN trace_span s) r
        JOIN trace_day_offsets o ON o.k = r.dd1 - r.dd0"""


def first_day(x: str, a: str, o: str, start: str) -> str:
    """The condition keeping a pair of :func:`by_day` rows ``x`` (start ``a``) and ``o`` (start
    ``start``) on the day their overlap starts only."""
    return f"{day_no(f'GREATEST({x}.{a}, {o}.{start})')} = {x}.dd"


def others_sql(stays: str, *, skip: bool = False) -> str:
    """The CTEs ``env`` and ``oc`` of an overlap detector: ``oc`` holds the rows of ``stays`` (with
    ``person, place, start_s, end_s``) at the places of ``x`` (the index persons' stays cut to their
    windows: ``case_key, place, a, b``), within the span of the index persons' time there (``env``),
    so the range join sees only candidates.

    ``skip``: per place and case (``cs``, :func:`columns.case_base`; ``x`` needs it, and the range
    join ``o.cs = x.cs``), each case's candidates without the contacts it leaves out
    (``idx_skip``, :func:`columns.unskipped`): at hop 2 most of the others at a case's workplace
    are its close contacts, whose pairs would be made and then dropped."""
    if not skip:
        return f"""env AS (SELECT place, MIN(a) AS a0, MAX(b) AS b1 FROM x GROUP BY place),
        oc AS (
          SELECT o.* FROM {stays} o JOIN env ON env.place = o.place
          WHERE o.start_s < env.b1 AND o.end_s > env.a0)"""
    return f"""env AS (SELECT place, cs, MIN(a) AS a0, MAX(b) AS b1 FROM x GROUP BY place, cs),
        oc AS (
          SELECT o.*, env.cs FROM {stays} o JOIN env ON env.place = o.place
          WHERE o.start_s < env.b1 AND o.end_s > env.a0 AND {unskipped("env.cs", "o.person")})"""


def case_of(case_key: str) -> str:
    """The column ``cs`` (:func:`others_sql`) of an index row numbered ``case_key``: ``, <sql> AS cs``."""
    return f", {case_base(case_key)} AS cs"

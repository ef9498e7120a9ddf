"""Range joins of time intervals, split by local day (shared by ``pipeline`` and ``structure``).

Overlap detectors join stays of the same place whose intervals overlap. With the place as the
only equality, every stay of the index side is compared with every stay of the others at that
place over the whole period; with the local day as a second key, only with those of the same day.
"""

from __future__ import annotations

import pyarrow as pa

from zhikong.engine import QueryEngine

LOCAL_OFFSET_S = 8 * 3600  # China has one zone and no DST: local day = floor((t + 8h) / 1 day)


def day_no(col: str) -> str:
    """The local day number of ``col`` (epoch seconds), as in ``trace_days``."""
    return f"((({col}) + {LOCAL_OFFSET_S}) // 86400)"


def register_days(engine: QueryEngine, lo_s: int, hi_s: int) -> None:
    """``trace_days(dd)``: the local day numbers from ``lo_s`` to ``hi_s``, for :func:`by_day`."""
    d0, d1 = (lo_s + LOCAL_OFFSET_S) // 86400, (hi_s + LOCAL_OFFSET_S) // 86400
    engine.register_arrow("trace_days", pa.table({"dd": pa.array(range(d0, d1 + 1), pa.int64())}))


def by_day(rel: str, a: str, b: str) -> str:
    """The rows of ``rel`` (intervals ``[a, b)``, epoch seconds), once for each day ``dd`` of
    ``trace_days`` they cover (a zero-length interval covers its start's day).

    Join two such relations on ``dd`` too, and keep a pair only on the day its overlap starts
    (:func:`first_day`): two intervals overlap from ``s0``, the later start, both cover ``s0``'s
    day, so each overlapping pair is found exactly once, as by the join without days."""
    d0, d1 = day_no(f"r.{a}"), day_no(f"GREATEST(r.{a}, r.{b} - 1)")
    return f"""
        SELECT r.*, {d0} AS dd FROM {rel} r WHERE {d0} = {d1}
        UNION ALL
        SELECT r.*, d.dd FROM {rel} r JOIN trace_days d ON d.dd >= {d0} AND d.dd <= {d1} WHERE {d0} < {d1}"""


def first_day(x: str, a: str, o: str, start: str) -> str:
    """The condition keeping a pair of :func:`by_day` rows ``x`` (start ``a``) and ``o`` (start
    ``start``) on the day their overlap starts only."""
    return f"{day_no(f'GREATEST({x}.{a}, {o}.{start})')} = {x}.dd"

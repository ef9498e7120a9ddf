"""Risk score and classification of contacts, from evidence rows, in SQL on the engine.

score = Σ over evidence rows of ``minutes × w_distance × w_source × infectiousness(day from onset)``
(a weight the policy does not list is 0; the day is ``floor((start − onset) / 1 day)``, and days
beyond the policy's table take its nearest tabulated day); each contact keeps the contribution of
every source so a field worker sees why it ranks where it does. Classes follow the policy:

* ``close`` — same household (when the policy says so), close-range minutes ≥ the threshold, or a
  score ≥ ``close_contact.score_threshold`` when the policy sets one.
  Close-range minutes are counted per source and the largest source total is used, so two sources
  seeing the same half hour do not count it twice.
* ``companion`` — the 时空伴随 grid rule holds (and the person is not a close contact).
* ``secondary`` — a close contact of a close contact, from that person's exposure on (hop 2).

The SQL here reads and writes engine tables on case and person numbers (``tracing.pipeline``);
sums of scores and minutes are rounded to 6 decimals (:func:`summarise`), so they do not depend on
the order in which an engine adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhikong.engine import QueryEngine
from zhikong.tracing.policy import Policy

CLASSES = ("close", "secondary", "companion")


@dataclass
class ContactResult:
    case_key: str
    contact: str
    cls: str
    hop: int
    score: float
    close_minutes: float
    first_s: int
    last_s: int
    contributions: dict[str, float] = field(default_factory=dict)
    via: str | None = None

    def explain(self) -> str:
        return explain(self.score, self.contributions)


def _strings(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "''"


def _double(v: float) -> str:
    return f"CAST({float(v)!r} AS DOUBLE)"


def _days(policy: Policy) -> tuple[int, int]:
    """The tabulated days of infectiousness: outside them the nearest one applies."""
    keys = sorted(policy.infectiousness)
    return keys[0], keys[-1]


def register_weights(engine: QueryEngine, policy: Policy) -> None:
    """The policy's weights as tables ``w_distance``, ``w_source`` and ``w_day`` (for :func:`scored_sql`)."""
    w = policy.weights
    for name, col, weights in (("w_distance", "distance", w.distance), ("w_source", "source", w.source)):
        engine.register_arrow(
            name,
            pa.table(
                {
                    col: pa.array([str(k) for k in weights], pa.string()),
                    "w": pa.array([float(v) for v in weights.values()], pa.float64()),
                }
            ),
        )
    lo, hi = _days(policy)
    days = list(range(lo, hi + 1))
    engine.register_arrow(
        "w_day",
        pa.table(
            {
                "day": pa.array(days, pa.int64()),
                "w": pa.array([float(policy.infectiousness_at(d)) for d in days], pa.float64()),
            }
        ),
    )


def scored_sql(evidence: str, cases: str, policy: Policy) -> str:
    """The rows of query ``evidence`` (with ``case_key``, ``source``, ``distance``, ``minutes``,
    ``start_s``) with their ``score``; ``cases`` is a table of ``case_key`` and ``onset_s``.

    The weights are the policy's (those of :func:`register_weights`), written into the statement
    as ``CASE`` expressions: the same doubles, multiplied in the same order, without joining the
    (millions of) evidence rows to three small tables on strings (a row without a day from onset
    has no score and is left out, as by the join on the day's weight)."""
    lo, hi = _days(policy)
    w = policy.weights
    day = f"LEAST(GREATEST(CAST(FLOOR((e.start_s - o.onset_s) / 86400.0) AS BIGINT), {lo}), {hi})"
    by_day = " ".join(f"WHEN {d} THEN {_double(policy.infectiousness_at(d))}" for d in range(lo, hi + 1))
    return f"""
        SELECT e.*, e.minutes * {_weight("e.distance", w.distance)} * {_weight("e.source", w.source)}
               * (CASE {day} {by_day} END) AS score
        FROM ({evidence}) e JOIN {cases} o ON o.case_key = e.case_key
        WHERE e.start_s IS NOT NULL AND o.onset_s IS NOT NULL"""


def _weight(col: str, weights: Mapping[Any, float]) -> str:
    """SQL: the weight of ``col``'s value in ``weights`` (0 for a value not there, or null)."""
    cases = " ".join(f"WHEN {_strings([str(k)])} THEN {_double(v)}" for k, v in weights.items())
    return f"(CASE {col} {cases} ELSE {_double(0.0)} END)" if cases else _double(0.0)


#: scores and close-range minutes are rounded to this many decimals (:func:`rounded`)
DECIMALS = 6


def rounded(expr: str) -> str:
    """SQL: ``expr`` (a non-negative DOUBLE) rounded half up to :data:`DECIMALS` decimals, as
    ``floor(x × 10^d + 0.5) / 10^d`` in double arithmetic, the same on every engine (and in numpy).

    Sums are rounded so that they do not depend on the order an engine adds in: two orders give
    sums a few units in the last place apart, which rounding maps to the same value (unless the
    exact sum lies on a rounding boundary, at the 7th decimal)."""
    scale = _double(10.0**DECIMALS)
    return f"(FLOOR(({expr}) * {scale} + CAST(0.5 AS DOUBLE)) / {scale})"


def summarise(
    engine: QueryEngine,
    policy: Policy,
    scored: str,
    name: str,
    *,
    min_minutes: float | None = None,
    first: str = "0",
    keep: tuple[str, ...] = (),
) -> None:
    """Per case and contact of evidence table ``scored`` (with ``score``):

    * table ``<name>_ps``, per case, contact and source: ``score`` (the sum of its rows' scores),
      close-range minutes (``close_min``, the sum of its close-range rows' minutes), first and last
      time, ``household`` (1 when a row is the household's) and ``ord``, the smallest value of
      ``first`` (contributions are listed by it, then by source);
    * table ``<name>``, per case and contact: ``score`` (the sum over sources), ``close_minutes``
      (the largest source's), first/last time, ``household`` and ``is_close`` (:func:`close_rule`,
      with ``min_minutes``).

    Every sum is :func:`rounded` (the pair's score is the rounded sum of its sources' rounded
    scores), so the close rule compares values that do not depend on the order of the rows.
    ``keep``: columns of ``scored`` whose smallest value both tables keep."""
    close = _strings(policy.close_contact.close_range)
    extra = "".join(f", MIN({c}) AS {c}" for c in keep)
    close_min = f"CASE WHEN distance IN ({close}) THEN minutes ELSE 0.0 END"
    engine.create_table(
        f"{name}_ps",
        f"""
        SELECT case_key, contact, source, {rounded("SUM(score)")} AS score,
               {rounded(f"SUM({close_min})")} AS close_min, MIN(start_s) AS first_s,
               MAX(end_s) AS last_s, MAX(CASE WHEN distance = 'household' THEN 1 ELSE 0 END) AS household,
               MIN({first}) AS ord{extra}
        FROM {scored} GROUP BY case_key, contact, source""",
    )
    engine.create_table(
        name,
        f"""
        SELECT s.*, {close_rule(policy, min_minutes)} AS is_close FROM (
          SELECT case_key, contact, {rounded("SUM(score)")} AS score, MAX(close_min) AS close_minutes,
                 MIN(first_s) AS first_s, MAX(last_s) AS last_s, MAX(household) AS household{extra}
          FROM {name}_ps GROUP BY case_key, contact) s""",
    )


def close_rule(policy: Policy, min_minutes: float | None = None) -> str:
    """The policy's close rule over a summary row (``household``, ``score``, ``close_minutes``):
    household (when the policy says so), close-range minutes ≥ the threshold (``min_minutes``, else
    the policy's), or a score at or above ``close_contact.score_threshold`` when the policy sets one."""
    cc = policy.close_contact
    rule = []
    if cc.household:
        rule.append("household = 1")
    if cc.score_threshold is not None:
        rule.append(f"score >= {_double(cc.score_threshold)}")
    rule.append(f"close_minutes >= {_double(cc.min_minutes if min_minutes is None else min_minutes)}")
    return "(" + " OR ".join(rule) + ")"


def strings(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A string column as a numpy object array (None for null), each distinct value one ``str``."""
    d = pc.dictionary_encode(col)
    if isinstance(d, pa.ChunkedArray):
        d = d.combine_chunks()
    values = np.array([*d.dictionary.to_pylist(), None], dtype=object)
    return values[d.indices.fill_null(len(d.dictionary)).to_numpy()]


def round3_array(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to 3 decimals as Python's ``round(v, 3)`` does, vectorised: ``rint(v × 1000)
    / 1000`` is Python's correctly rounded result except next to a tie, where Python's ``round``
    decides."""
    scaled = values * 1000.0
    out = np.rint(scaled) / 1000.0
    near = np.flatnonzero(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5) < 1e-6)
    out[near] = [round(float(v), 3) for v in values[near]]
    return out


def round3(values: np.ndarray) -> list[float]:
    """``[round(v, 3) for v in values]`` (:func:`round3_array`)."""
    return round3_array(values).tolist()


def explain(score: float, contributions: dict[str, float]) -> str:
    """A contact's one-line explanation: its score and its sources' contributions, largest first."""
    parts = ", ".join(f"{src} {v:.1f}" for src, v in sorted(contributions.items(), key=lambda kv: -kv[1]))
    return f"score {score:.1f} = {parts}" if parts else f"score {score:.1f}"

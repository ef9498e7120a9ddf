"""Tracing on the lake: index cases in, classified contacts with evidence out (no database here).

>>> # doctest: +SKIP
>>> result = trace(engine, lake_dir, ledger, [IndexCase("c1", pid, onset, isolated)], load_policy())
>>> [c.explain() for c in result.contacts[:3]]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.engine import QueryEngine
from zhikong.tracing import pipeline, stays
from zhikong.tracing.columns import VIA_BASE
from zhikong.tracing.lake import ledger_frame, register_lake
from zhikong.tracing.policy import Policy
from zhikong.tracing.result import (
    CONTACT_SCHEMA,
    EVIDENCE_TABLE_SCHEMA,
    Names,
    TraceResult,
    rounded_contributions,
)
from zhikong.tracing.risk import register_weights, scored_sql, summarise


@dataclass(frozen=True)
class IndexCase:
    """A case to trace: ``person`` is its person key (ID pseudonym, else phone pseudonym)."""

    key: str
    person: str
    onset_at: datetime
    end_at: datetime

    def window(self, policy: Policy) -> tuple[int, int]:
        start = int(self.onset_at.timestamp()) - policy.infectious_window.days_before_onset * 86400
        return start, int(self.end_at.timestamp())


def check_cases(cases: list[IndexCase], now: datetime | None = None) -> None:
    now = now or utcnow()
    if not cases:
        raise InvalidInput("no cases to trace", field="case")
    for c in cases:
        if c.onset_at > now:
            raise InvalidInput(
                f"case {c.key}: onset/sampling time {c.onset_at.isoformat()} is in the future", field="onset"
            )
        if c.end_at < c.onset_at:
            raise InvalidInput(f"case {c.key}: isolation time is before onset", field="isolated")


def index_table(cases: list[IndexCase], policy: Policy) -> pa.Table:
    rows = []
    for c in cases:
        start, end = c.window(policy)
        rows.append(
            {
                "case_key": c.key,
                "hop": 1,
                "person": c.person,
                "onset_s": int(c.onset_at.timestamp()),
                "start_s": start,
                "end_s": end,
            }
        )
    return pa.Table.from_pylist(rows, schema=pipeline.IDX_SCHEMA)


@dataclass(frozen=True)
class TraceLake:
    """What :func:`open_trace` registered: the lake's derived stays (``stays.fresh``, or None), which
    sources have data, the index table (``index_table``) and the period to prepare."""

    derived: Path | None
    sources: dict[str, bool]
    idx: pa.Table
    lo_s: int
    hi_s: int


def open_trace(
    engine: QueryEngine,
    lake_dir: Path,
    ledger: pa.Table,
    cases: list[IndexCase],
    policy: Policy,
    now: datetime | None = None,
) -> TraceLake:
    """Check ``cases``, register the lake and the ledger on ``engine`` and work out the period a
    trace prepares: the index persons' windows, from the companion rule's look-back before the
    earliest to an hour after the latest."""
    check_cases(cases, now)
    derived = stays.fresh(lake_dir, policy.rules)
    sources = register_lake(engine, lake_dir, stays=derived)
    if not any(sources.values()):
        raise InvalidInput(
            f"the lake at {lake_dir} has no trajectory data in any source "
            f"({', '.join(sources)}); ingest feeds first",
            field="lake",
        )
    engine.register_arrow("ledger", ledger_frame(ledger))
    idx = index_table(cases, policy)
    lo = min(idx.column("start_s").to_pylist()) - policy.companion.lookback_days * 86400
    hi = max(idx.column("end_s").to_pylist()) + 3600
    return TraceLake(derived, sources, idx, lo, hi)


def trace(
    engine: QueryEngine,
    lake_dir: Path,
    ledger: pa.Table,
    cases: list[IndexCase],
    policy: Policy,
    *,
    secondary: bool = True,
    now: datetime | None = None,
) -> TraceResult:
    """Trace ``cases`` over the lake: close contacts, companions and (optionally) secondary contacts.

    Evidence, scores, summaries and classes are engine tables on case and person numbers
    (``tr_*``); they are named only in the outputs."""
    lake = open_trace(engine, lake_dir, ledger, cases, policy, now)
    derived, sources, idx = lake.derived, lake.sources, lake.idx
    made = pipeline.prepare(
        engine, policy, lake.lo_s, lake.hi_s, derived=derived is not None,
        parts=stays.fresh_parts(derived, lake_dir, policy.rules, policy.companion.cell_m),
    )

    pipeline.register_index(engine, idx)
    own = pipeline.keep_own_cells(engine)  # (read three times at hop 1, then dropped)
    present = pipeline.with_trajectory(engine, own)
    without = [c.key for c in cases if c.person not in present]
    # the cases on numbers, with their names (``idx`` is replaced at hop 2)
    engine.create_table(
        "tr_case",
        "SELECT i.case_key, c.case_key AS name, i.person, i.onset_s, i.start_s, i.end_s "
        "FROM idx i JOIN idx_case c ON c.ck = i.case_key",
    )
    register_weights(engine, policy)
    ev1 = pipeline.exposures(engine, policy, own_cell=own)
    engine.create_table("tr_ev1", scored_sql(ev1, "tr_case", policy))
    pipeline.drop_exposures(engine)
    comp = pipeline.companion_sql(
        policy, named=False, hours=False, secs="grid_secs" if "grid_secs" in made else pipeline.GRID_SECS,
        own_cell=own,
    )
    engine.create_table(
        "tr_comp",
        f"""SELECT case_key, contact, MIN(start_s) AS start_s, MAX(end_s) AS end_s
            FROM ({comp}) c GROUP BY case_key, contact""",
    )
    engine.drop(own)
    summarise(engine, policy, "tr_ev1", "tr_s1")
    # hop 1: close contacts, else companions (with evidence or without)
    engine.create_table(
        "tr_c1",
        """
        SELECT s.case_key, s.contact, CASE WHEN s.is_close THEN 'close' ELSE 'companion' END AS cls,
               s.score, s.close_minutes, s.first_s, s.last_s
        FROM tr_s1 s LEFT JOIN tr_comp c ON c.case_key = s.case_key AND c.contact = s.contact
        WHERE s.is_close OR c.case_key IS NOT NULL
        UNION ALL
        SELECT c.case_key, c.contact, 'companion' AS cls, 0.0 AS score, 0.0 AS close_minutes,
               c.start_s AS first_s, c.end_s AS last_s
        FROM tr_comp c LEFT JOIN tr_s1 s ON s.case_key = c.case_key AND s.contact = c.contact
        WHERE s.case_key IS NULL""",
    )
    hop2 = (
        secondary
        and policy.secondary_contact.enabled
        and bool(engine.scalar("SELECT COUNT(*) FROM tr_s1 WHERE is_close"))
    )
    if hop2:
        _secondary(engine, policy)
    case_name = _dictionary(engine, "SELECT case_key AS k, name FROM tr_case")
    person = _dictionary(engine, "SELECT pk AS k, s AS name FROM pkey")
    ranked = _dictionary(engine, "SELECT ord AS k, s AS name FROM pkey")
    table, contributions, evidence = _outputs(engine, hop2, case_name, person, ranked)
    t = engine.sql(
        "SELECT s.case_key, s.contact, s.score, s.close_minutes FROM tr_s1 s "
        "LEFT JOIN pkey k ON k.pk = s.contact ORDER BY s.case_key, k.ord"
    )
    ranking = pd.DataFrame(
        {
            "case_key": case_name.strings(t.column("case_key")),
            "contact": person.strings(t.column("contact")),
            **{c: t.column(c).cast(pa.float64()).to_numpy() for c in ("score", "close_minutes")},
        },
        copy=False,
    )
    engine.drop(*TABLES)
    pipeline.drop_exposures(engine)  # the hop-2 detectors' tables (``tr_ev2`` read them)
    return TraceResult(
        table=table,
        contributions=contributions,
        evidence_table=evidence,
        sources=sources,
        without_trajectory=without,
        ranking=ranking,
    )


#: the tables a trace leaves on the engine until its outputs are read
TABLES = (
    *("tr_case", "tr_ev1", "tr_comp", "tr_s1_ps", "tr_s1", "tr_c1"),
    *("tr_via", "idx_skip", "tr_ev2", "tr_s2_ps", "tr_s2", "tr_out"),
)


def _secondary(engine: QueryEngine, policy: Policy) -> None:
    """Hop 2: the close contacts of close contacts (``tr_s2``, with ``is_close`` for secondary), from
    each close contact's first close-range exposure on, over the case's window. Pairs that are close
    contacts of the case at hop 1 and index persons are not secondary contacts."""
    close = ", ".join(f"'{d}'" for d in policy.close_contact.close_range) or "''"
    # one hop-2 index row per close pair, numbered in (case, close contact) order: the detectors
    # group by it, and the evidence comes out in that order. The number is case × VIA_BASE + the
    # close contact's rank (``pkey.ord``, pseudonym order), so the evidence gives both back by
    # arithmetic rather than by a join of every row (its ``via`` is that rank)
    engine.create_table(
        "tr_via",
        f"""
        SELECT s.case_key * {VIA_BASE} + p.ord AS ck2, s.case_key, s.contact AS via,
               k.onset_s, GREATEST(k.start_s, COALESCE(f.first_s, k.start_s)) AS start_s, k.end_s
        FROM tr_s1 s JOIN tr_case k ON k.case_key = s.case_key JOIN pkey p ON p.pk = s.contact
        LEFT JOIN (SELECT case_key, contact, MIN(start_s) AS first_s FROM tr_ev1
                   WHERE distance IN ({close}) GROUP BY case_key, contact) f
          ON f.case_key = s.case_key AND f.contact = s.contact
        WHERE s.is_close""",
    )
    engine.create_table(
        "idx", "SELECT ck2 AS case_key, 2 AS hop, via AS person, onset_s, start_s, end_s FROM tr_via"
    )
    # same-tower evidence ("coarse") can never make a secondary contact unless the policy counts
    # it as close range; skipping it keeps hop 2 small (thousands of index persons). The school
    # stand-in is not applied again at hop 2: a schoolmate's schoolmates are the case's own, and
    # on a 100,000-person world it made hop 2 tens of millions of rows. The class roster is (a
    # close contact's class is 40 pupils). Visits (one side's scan, the other's cell stay) are
    # not either: their tens of thousands of hop-2 index persons made the run exceed 20 GB
    hop2 = [s for s in pipeline.DETECTORS if s not in ("school", "venue_visit")]
    if "coarse" not in policy.close_contact.close_range:
        hop2.remove("cell")
    cols = ", ".join(f"e.{c}" for c in pipeline.EVIDENCE_COLUMNS if c != "case_key")
    # the pairs left out (the case's close contacts, and every case's index persons) on one number,
    # case × VIA_BASE + contact, like the rows' ``ck2``: the detectors with many rows leave them out
    # before they aggregate (two thirds of the pairs of venue scans and workplaces), the others'
    # rows after, each in an anti-join on one small key (on two keys, the engine built its hash
    # table of the millions of evidence rows), so the evidence is not joined to them again here
    engine.create_table(
        "idx_skip",
        f"""
        SELECT case_key * {VIA_BASE} + contact AS k FROM tr_s1 WHERE is_close
        UNION
        SELECT c.case_key * {VIA_BASE} + p.person AS k FROM tr_case c
        CROSS JOIN (SELECT DISTINCT person FROM tr_case WHERE person IS NOT NULL) p""",
    )
    # a view of the detectors' tables (``ev_*``, kept until the outputs are read): its two readers
    # (the summary and the evidence of the secondary contacts) score the rows again, which costs
    # less than storing the 1.5 M scored rows once more (DuckDB; Spark computes it once)
    engine.create_view(
        "tr_ev2",
        scored_sql(
            f"""
            SELECT e.case_key // {VIA_BASE} AS case_key, {cols}, e.case_key AS ck2,
                   e.case_key % {VIA_BASE} AS via
            FROM ({pipeline.exposures(engine, policy, hop2, skip=True)}) e""",
            "tr_case",
            policy,
        ),
    )
    # contributions listed in the order of the close contacts they came through
    summarise(
        engine,
        policy,
        "tr_ev2",
        "tr_s2",
        min_minutes=policy.secondary_contact.min_minutes,
        first="ck2",
        keep=("via",),
    )


def _outputs(
    engine: QueryEngine, hop2: bool, case_name: Names, person: Names, ranked: Names
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The classified contacts (by case, score descending, contact), their contributions and the
    evidence (hop 1: every row; then the secondary contacts' rows) as :class:`TraceResult` tables.
    The evidence is in no particular order (:func:`sort_evidence`). Names are not joined in SQL
    (that made the engine carry a million long strings through the joins and the conversion):
    ``case_name`` and ``person`` are the names by number, ``ranked`` by rank (``pkey.ord``: the
    ``via`` column) (:func:`_dictionary`), which the name columns take as their dictionary
    (:meth:`result.Names.column`)."""
    rows = (
        "SELECT case_key, contact, cls, 1 AS hop, score, close_minutes, first_s, last_s, "
        "CAST(NULL AS BIGINT) AS via FROM tr_c1"
    )
    if hop2:
        rows = f"""
            SELECT c.* FROM ({rows}) c
            LEFT JOIN tr_s2 s ON s.case_key = c.case_key AND s.contact = c.contact AND s.is_close
            WHERE s.case_key IS NULL
            UNION ALL
            SELECT case_key, contact, 'secondary' AS cls, 2 AS hop, score, close_minutes, first_s, last_s, via
            FROM tr_s2 WHERE is_close"""
    # numbered from 0 by case, score descending, contact (its name's rank): within each case (the
    # engine sorts the cases in parallel), after the contacts of the cases before it
    engine.create_table(
        "tr_out",
        f"""
        WITH r AS (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.case_key ORDER BY r.score DESC, p.ord) AS k
                   FROM ({rows}) r LEFT JOIN pkey p ON p.pk = r.contact),
             b AS (SELECT case_key, SUM(COUNT(*)) OVER (ORDER BY case_key) - COUNT(*) AS before
                   FROM r GROUP BY case_key)
        SELECT r.case_key, r.contact, r.cls, r.hop, r.score, r.close_minutes, r.first_s, r.last_s, r.via,
               b.before + r.k - 1 AS n
        FROM r JOIN b ON b.case_key = r.case_key""",
    )
    t = engine.sql(
        "SELECT case_key, contact, cls, hop, score, close_minutes, first_s, last_s, via "
        "FROM tr_out ORDER BY n"
    )
    names = {"case_key": case_name, "contact": person, "via": ranked}
    contacts = _typed(t, CONTACT_SCHEMA, names)
    # each contact's sources with a positive score, in the order of their first evidence row
    parts = [
        f"SELECT o.n, p.source, p.score, p.ord FROM tr_out o JOIN tr_s{hop}_ps p "
        f"ON p.case_key = o.case_key AND p.contact = o.contact WHERE o.hop = {hop} AND p.score > 0"
        for hop in ((1, 2) if hop2 else (1,))
    ]
    contrib = engine.sql(
        f"SELECT n, source, score FROM ({' UNION ALL '.join(parts)}) q ORDER BY n, ord, source"
    )
    cols = "case_key, hop, contact, source, place, start_s, end_s, minutes, distance, score"
    ev = f"SELECT {cols}, CAST(NULL AS BIGINT) AS via FROM tr_ev1"
    if hop2:
        # the secondary contacts' rows, as those of no other pair: every pair of ``tr_ev2`` is in
        # ``tr_s2``, and the few not close (a sixth) make a smaller hash table than the close ones
        # for the 1.5 M rows to probe (DuckDB: a fifth less CPU for this read at 100k)
        ev += f"""
            UNION ALL
            SELECT {", ".join(f"e.{c}" for c in cols.split(", "))}, e.via
            FROM tr_ev2 e LEFT JOIN (SELECT case_key, contact FROM tr_s2 WHERE NOT is_close) s
              ON s.case_key = e.case_key AND s.contact = e.contact
            WHERE s.case_key IS NULL"""
    t = engine.sql(ev)
    evidence = _typed(t, EVIDENCE_TABLE_SCHEMA, names)
    return contacts, rounded_contributions(contrib), evidence


def _typed(t: pa.Table, schema: pa.Schema, names: dict[str, Names]) -> pa.Table:
    """The columns of ``schema`` from ``t``, cast to its types, name columns on ``names``."""
    cols = [
        names[f.name].column(t.column(f.name)) if f.name in names else t.column(f.name).cast(f.type)
        for f in schema
    ]
    return pa.table(cols, schema=schema)


def _dictionary(engine: QueryEngine, sql: str) -> Names:
    """Names by number from ``sql`` (columns ``k``, a distinct non-negative number, and ``name``)."""
    t = engine.sql(sql)
    return Names.of(t.column("k").to_numpy(), t.column("name").combine_chunks().cast(pa.string()))


#: the columns :func:`sort_evidence` orders by: the order evidence rows were listed in before the
#: trace stopped sorting them (hop, case, for hop 2 the close contact they came through, contact,
#: source, start, place (missing last), end, minutes, distance)
EVIDENCE_ORDER = [
    *("hop", "case_key", "via", "contact", "source"),
    *("start_s", "place", "end_s", "minutes", "distance"),
]


def sort_evidence(evidence: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """``evidence`` (as in :class:`TraceResult`) sorted by ``by`` (default :data:`EVIDENCE_ORDER`),
    missing values last, with a fresh index."""
    out = evidence.sort_values(by or EVIDENCE_ORDER, na_position="last", kind="stable")
    return out.reset_index(drop=True)

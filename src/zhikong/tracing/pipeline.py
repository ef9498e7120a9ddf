"""Stays and exposures from the lake, in backend-agnostic SQL (DuckDB dialect, transpiled for Spark).

Inputs registered on the engine: the lake views (``tracing.lake``), ``ledger`` (pid_id, pid_phone,
household: keyed hashes from the operational ledger) and ``idx`` (the index persons to trace).

People: a row's ``person`` is the ID-number pseudonym when the ledger links the pid to one, else the
pid itself, so a phone seen in the cell feed and an ID number scanned at a venue are one person.

Stay rules (documented in ``docs/tracing.md``):

* **cell** — pings sorted by time; a ping at tower B between two pings at A that are at most
  ``ping_pong_minutes`` apart is a ping-pong and counts as A; consecutive pings at one tower form a
  stay unless the silence between them exceeds ``cell_gap_minutes``; a stay runs from its first ping
  until the person's next ping elsewhere, but at most ``cell_gap_minutes`` after its last ping.
  Stays come from the person's whole stream of pings; a trace takes those overlapping its period
  (derived once per lake: ``zhikong.tracing.stays``).
* **venue_scan** — a scan starts a stay lasting the venue kind's typical dwell, cut short by the
  person's next scan.
* **camera / gps / proximity / travel** — used as points or encounters (see the detectors).

Every detector returns evidence rows ``(case_key, hop, contact, source, place, start_s, end_s,
minutes, distance)`` aggregated per case, contact, source, place, distance class and local day.
"""

from __future__ import annotations

from collections.abc import Collection

import pyarrow as pa
import pyarrow.compute as pc

from zhikong.core.errors import InvalidInput
from zhikong.engine import QueryEngine
from zhikong.tracing import structure
from zhikong.tracing.columns import DETECTORS as DETECTORS
from zhikong.tracing.columns import EVIDENCE_COLUMNS as EVIDENCE_COLUMNS
from zhikong.tracing.columns import EVIDENCE_SCHEMA as EVIDENCE_SCHEMA
from zhikong.tracing.columns import IDX_SCHEMA as IDX_SCHEMA
from zhikong.tracing.columns import LOCAL_OFFSET_S as LOCAL_OFFSET_S
from zhikong.tracing.columns import STRUCTURAL as STRUCTURAL
from zhikong.tracing.columns import case_base, unskipped
from zhikong.tracing.intervals import by_day, case_of, day_no, first_day, others_sql
from zhikong.tracing.policy import Policy
from zhikong.tracing.prepare import GRID_SECS as GRID_SECS
from zhikong.tracing.prepare import prepare as prepare

#: the cell stays on the companion rule's grid cells (``grid``) instead of towers, as a stay table
GRID_STAYS = "(SELECT person, grid AS place, start_s, end_s FROM stay_cell WHERE grid IS NOT NULL)"


def register_index(engine: QueryEngine, idx: pa.Table) -> None:
    """Register the index persons (``IDX_SCHEMA``) as ``idx``, on person numbers (call
    :func:`prepare` first); a person the lake and the ledger do not know matches nothing.

    Case keys are numbered too (``idx_case``, in key order): hop-2 keys are long ("case, contact"),
    and the detectors group every evidence row by them. Outputs are named again (``_named``)."""
    engine.register_arrow("idx_s", idx.cast(IDX_SCHEMA))
    engine.create_table(
        "idx_case",
        "SELECT case_key, ROW_NUMBER() OVER (ORDER BY case_key) AS ck "
        "FROM (SELECT DISTINCT case_key FROM idx_s WHERE case_key IS NOT NULL) d",
    )
    engine.create_table(
        "idx",
        "SELECT c.ck AS case_key, i.hop, k.pk AS person, i.onset_s, i.start_s, i.end_s "
        "FROM idx_s i JOIN idx_case c ON c.case_key = i.case_key LEFT JOIN pkey k ON k.s = i.person",
    )


def keep_own_cells(engine: QueryEngine) -> str:
    """Keep the cell stays of the index persons of ``idx`` (``stay_cell``'s rows) as table
    ``idx_cell`` and return its name: at hop 1 the trace reads them three times (who has any
    trajectory, the cell detector, the companion rule), each a scan of every person's stays."""
    engine.create_table("idx_cell", "SELECT s.* FROM stay_cell s WHERE s.person IN (SELECT person FROM idx)")
    return "idx_cell"


def named_stays(table: str) -> str:
    """The rows of a stay table (``stay_cell``, ``stay_grid``: the cell stays on the grid,
    ``stay_venue``) with its person and place numbers named (for tests and reports)."""
    if table == "stay_cell":
        return (
            "SELECT k.s AS person, w.tower_id AS place, t.start_s, t.end_s FROM stay_cell t "
            "JOIN pkey k ON k.pk = t.person LEFT JOIN cell_tower w ON w.tk = t.place"
        )
    if table == "stay_grid":
        return (
            "SELECT k.s AS person, g.place, t.start_s, t.end_s FROM stay_cell t "
            "JOIN pkey k ON k.pk = t.person JOIN (SELECT DISTINCT gk, place FROM tower_grid) g "
            "ON g.gk = t.grid"
        )
    return f"SELECT k.s AS person, t.place, t.start_s, t.end_s FROM {table} t JOIN pkey k ON k.pk = t.person"


def _tower_named(sql: str) -> str:
    """Evidence rows of ``sql`` with ``place`` (a tower number of ``cell_tower``) as the tower id."""
    cols = ", ".join("w.tower_id AS place" if c == "place" else f"q.{c}" for c in EVIDENCE_COLUMNS)
    return f"SELECT {cols} FROM ({sql}) q JOIN cell_tower w ON w.tk = q.place"


def _named(sql: str, columns: list[str], number: str = "") -> str:
    """``sql``'s rows with ``contact`` (a person number) and ``case_key`` (a case number, see
    :func:`register_index`) named again (and the contact's rank, ``pkey.ord``, as column ``number``
    when given)."""
    named = {"contact": "k.s AS contact", "case_key": "c.case_key"}
    cols = ", ".join(named.get(c, f"q.{c}") for c in columns)
    extra = f", k.ord AS {number}" if number else ""
    return (
        f"SELECT {cols}{extra} FROM ({sql}) q JOIN pkey k ON k.pk = q.contact "
        "JOIN idx_case c ON c.ck = q.case_key"
    )


def _overlap_sql(
    stays: str, source: str, distance_sql: str, *, kind: str = "", skip: bool = False,
    per_day: bool = True, own: str = "",
) -> str:
    """Exposures from overlapping stays at the same place (venue, tower).

    Others' stays are first cut to the places the index persons were at and, per place, to the
    span of the index persons' time there (``env``), so the range join sees only candidates; both
    sides are split by day (:func:`by_day`), so it compares stays of the same day only.

    ``distance_sql``: the distance class, a literal or (with ``kind``) an expression of ``kc``:
    ``kind`` is an expression of the stays' ``kind`` (``s.kind``), which is the place's (a venue's
    kind), giving a small number ``kc``; it is evaluated on the index persons' stays, and the rows
    are grouped by it (a number, not the kind's name), so the class is evaluated per evidence row,
    not per pair of stays. ``skip``: the pairs of ``idx_skip`` are left out (:func:`detect`).
    Without ``per_day``, one row per case, contact and place (all days), its minutes the whole
    period's. ``own``: the index persons' rows of ``stays``, where the caller has them (a CTE it
    reads twice)."""
    kind_x, kind_col, kind_key = (f", {kind} AS kc", ", x.kc", ", kc") if kind else ("", "", "")
    day = f", {day_no('s0')}" if per_day else ""
    same_case, cs = (" AND o.cs = x.cs", case_of("i.case_key")) if skip else ("", "")
    return f"""
        WITH x AS (
          SELECT i.case_key, i.hop, i.person, s.place,
                 GREATEST(s.start_s, i.start_s) AS a, LEAST(s.end_s, i.end_s) AS b{cs}{kind_x}
          FROM {own or stays} s JOIN idx i ON s.person = i.person
          WHERE s.end_s > i.start_s AND s.start_s < i.end_s),
        {others_sql(stays, skip=skip)},
        xd AS ({by_day("x", "a", "b")}),
        od AS ({by_day("oc", "start_s", "end_s")}),
        e AS (
          SELECT x.case_key, x.hop, o.person AS contact, x.place,
                 GREATEST(x.a, o.start_s) AS s0, LEAST(x.b, o.end_s) AS s1{kind_col}
          FROM xd x JOIN od o ON o.place = x.place AND o.dd = x.dd{same_case}
            AND o.start_s < x.b AND o.end_s > x.a
          WHERE o.person <> x.person AND {first_day("x", "a", "o", "start_s")})
        SELECT case_key, hop, contact, '{source}' AS source, place, MIN(s0) AS start_s, MAX(s1) AS end_s,
               SUM(s1 - s0) / 60.0 AS minutes, {distance_sql} AS distance
        FROM e GROUP BY case_key, hop, contact, place{kind_key}{day}"""


def detect(engine: QueryEngine, policy: Policy, *, skip: bool = False, own_cell: str = "") -> dict[str, str]:
    """SQL of each detector, by source (all reading ``idx`` and the prepared tables).

    ``skip``: the detectors with many rows (:data:`SKIPPED_INSIDE`: venue scans, cell towers, GPS,
    workplaces) leave out the pairs of ``idx_skip`` (:func:`columns.unskipped`: at hop 2, the
    contacts a case's secondary contacts exclude) before they aggregate; others keep them
    (:func:`exposures` leaves them out after). ``own_cell``: a table of the index persons' cell stays
    (:func:`keep_own_cells`), which the cell detector then reads instead of ``stay_cell``."""
    gps_where = f"WHERE {unskipped(case_base('i.case_key'), 'm.contact')}" if skip else ""
    r = policy.rules
    near_kinds = ", ".join(f"'{k}'" for k in r.venue_near_kinds) or "''"
    tol = int(r.camera_tolerance_minutes * 60)
    d = float(r.gps_distance_m)
    bin_s = r.gps_bin_minutes * 60
    rows_case = " ".join(f"WHEN '{m}' THEN {n}" for m, n in r.travel_rows.items())
    out = {
        "venue_scan": _overlap_sql(
            "stay_venue",
            "venue_scan",
            "CASE WHEN kc = 1 THEN 'near' ELSE 'same_place' END",
            kind=f"CASE WHEN s.kind IN ({near_kinds}) THEN 1 ELSE 0 END",
            skip=skip,
        ),
        "cell": _tower_named(_overlap_sql("stay_cell", "cell", "'coarse'", skip=skip, own=own_cell)),
        "camera": f"""
            WITH x AS (
              SELECT i.case_key, i.hop, i.person, c.place, c.t
              FROM t_camera c JOIN idx i ON c.person = i.person
              WHERE c.t >= i.start_s AND c.t < i.end_s),
            e AS (
              SELECT x.case_key, x.hop, o.person AS contact, x.place, LEAST(x.t, o.t) AS s0,
                     GREATEST(x.t, o.t) AS s1
              FROM x JOIN t_camera o ON o.place = x.place AND o.t BETWEEN x.t - {tol} AND x.t + {tol}
              WHERE o.person <> x.person)
            SELECT case_key, hop, contact, 'camera' AS source, place, MIN(s0) AS start_s, MAX(s1) AS end_s,
                   GREATEST({tol / 60.0}, (MAX(s1) - MIN(s0)) / 60.0) AS minutes, 'near' AS distance
            FROM e GROUP BY case_key, hop, contact, place, {day_no("s0")}""",
        "travel": f"""
            WITH x AS (
              SELECT i.case_key, i.hop, i.person, t.t, t.t0, t.mode, t.trip, t.carriage, t.seat_row
              FROM t_travel t
              JOIN idx i ON t.person = i.person WHERE t.t > i.start_s AND t.t0 < i.end_s)
            SELECT x.case_key, x.hop, o.person AS contact, 'travel' AS source,
                   x.trip || ' ' || COALESCE(x.carriage, '') AS place, GREATEST(x.t0, o.t0) AS start_s,
                   LEAST(x.t, o.t) AS end_s, (LEAST(x.t, o.t) - GREATEST(x.t0, o.t0)) / 60.0 AS minutes,
                   'close' AS distance
            FROM x JOIN t_travel o ON o.trip = x.trip AND COALESCE(o.carriage, '') = COALESCE(x.carriage, '')
            WHERE o.person <> x.person
              AND ABS(o.seat_row - x.seat_row) <= CASE x.mode {rows_case} ELSE 3 END""",
        # GPS: points of the index persons (once per person, whatever their cases) meet the others'
        # points of the same time bin within d metres (the same or an adjacent d-metre grid cell:
        # three columns of cells, each a range of three rows, so one build row per column), then
        # per case, contact and bin, and per day (the bins counted without a COUNT(DISTINCT)). The
        # bin and column are matched by the points' key ``k`` alone (``stays.gps_key``: the adjacent
        # columns' keys are k ± 1; equal keys of other bins are too far apart for the distance):
        # one column, so DuckDB drops the others' points whose key no index point has while it
        # reads them, instead of probing the join with each of the 16 M points
        "gps": f"""
            WITH ip AS (SELECT person, MIN(start_s) AS a, MAX(end_s) AS b FROM idx GROUP BY person),
            xp AS (
              SELECT g.person, g.t, CAST(g.x AS DOUBLE) AS x, CAST(g.y AS DOUBLE) AS y, g.b, g.gx, g.gy, g.k
              FROM t_gps g JOIN ip ON g.person = ip.person WHERE g.t >= ip.a AND g.t < ip.b),
            m AS (
              SELECT xp.person, xp.t, o.person AS contact, xp.b, xp.gx, xp.gy
              FROM xp JOIN gps_dx f ON TRUE
              JOIN t_gps o ON o.k = xp.k + f.dx AND o.gy BETWEEN xp.gy - 1 AND xp.gy + 1
              WHERE o.person <> xp.person
                AND (CAST(o.x AS DOUBLE) - xp.x) * (CAST(o.x AS DOUBLE) - xp.x)
                  + (CAST(o.y AS DOUBLE) - xp.y) * (CAST(o.y AS DOUBLE) - xp.y) <= {d * d}),
            e AS (
              SELECT i.case_key, i.hop, m.contact, m.b, MIN(m.gx) AS gx, MIN(m.gy) AS gy
              FROM m JOIN idx i ON i.person = m.person AND m.t >= i.start_s AND m.t < i.end_s
              {gps_where}
              GROUP BY i.case_key, i.hop, m.contact, m.b)
            SELECT case_key, hop, contact, 'gps' AS source,
                   'grid' || CAST(MIN(gx) AS VARCHAR) || '_' || CAST(MIN(gy) AS VARCHAR) AS place,
                   MIN(b) * {bin_s} AS start_s, (MAX(b) + 1) * {bin_s} AS end_s,
                   COUNT(*) * {r.gps_bin_minutes}.0 AS minutes, 'near' AS distance
            FROM e GROUP BY case_key, hop, contact, {day_no(f"b * {bin_s}")}""",
        "proximity": f"""
            WITH both_ways AS (
              SELECT person, other, t, dur_s, rssi FROM t_prox
              UNION ALL SELECT other AS person, person AS other, t, dur_s, rssi FROM t_prox),
            e AS (
              SELECT i.case_key, i.hop, p.other AS contact, p.t, MAX(p.dur_s) AS dur_s, MAX(p.rssi) AS rssi
              FROM both_ways p JOIN idx i ON p.person = i.person
              WHERE p.t >= i.start_s AND p.t < i.end_s AND p.other <> p.person
              GROUP BY i.case_key, i.hop, p.other, p.t)
            SELECT case_key, hop, contact, 'proximity' AS source, 'ble' AS place, MIN(t) AS start_s,
                   MAX(t + dur_s) AS end_s, SUM(dur_s) / 60.0 AS minutes,
                   CASE WHEN rssi >= {r.proximity_rssi.close} THEN 'close'
                        WHEN rssi >= {r.proximity_rssi.near} THEN 'near' ELSE 'same_place' END AS distance
            FROM e GROUP BY case_key, hop, contact,
                   CASE WHEN rssi >= {r.proximity_rssi.close} THEN 'close'
                        WHEN rssi >= {r.proximity_rssi.near} THEN 'near' ELSE 'same_place' END,
                   {day_no("t")}""",
        "ledger": f"""
            WITH h AS (
              SELECT DISTINCT COALESCE(pid_id, pid_phone) AS person, household FROM ledger
              WHERE household IS NOT NULL AND household <> '')
            SELECT i.case_key, i.hop, o.person AS contact, 'ledger' AS source,
                   'household:' || h.household AS place,
                   i.start_s, i.end_s, {policy.weights.household_minutes} AS minutes, 'household' AS distance
            FROM idx i JOIN h ON h.person = i.person JOIN h o ON o.household = h.household
            WHERE o.person <> i.person""",
    }
    out.update(structure.detectors(policy, skip=skip))
    return out


def companion_sql(
    policy: Policy, *, named: bool = True, hours: bool = True, secs: str = GRID_SECS, own_cell: str = ""
) -> str:
    """Pairs in the same grid cell for more than ``min_minutes`` where either side spent more than
    ``resident_hours`` in the cell over ``lookback_days`` (the 时空伴随 rule); on case and person
    numbers unless ``named``.

    Without ``hours`` (on numbers only), the same pairs without their ``resident_hours``, the place
    a grid cell number: a contact's hours in a cell are then summed only for the pairs the index
    person's own hours there do not already qualify (their home cell, mostly). Their minutes are
    summed over the whole period at once (in seconds, then divided), not per day and then added:
    the same pairs, as the rounded sums are the same (a sum of whole seconds / 60 lies at least
    1/6 of a millionth from a rounding boundary of the 6th decimal, further than the few units in
    the last place that the order of adding makes).

    ``secs``: the grid stays' seconds the contacts' hours are summed from, ``(person, place,
    secs)`` rows: one per stay (:data:`GRID_SECS`), or ``grid_secs`` where :func:`prepare` made it
    (from the lake's derived grid days: fewer rows, the same sums). ``own_cell``: a table of the
    index persons' cell stays (:func:`keep_own_cells`), read instead of ``stay_cell`` for theirs."""
    c = policy.companion
    # the index persons' grid stays, read once for their time with others and their own hours
    own = (
        f"own AS (SELECT person, grid AS place, start_s, end_s FROM {own_cell} WHERE grid IS NOT NULL),"
        if own_cell
        else f"own AS (SELECT s.* FROM {GRID_STAYS} s WHERE s.person IN (SELECT person FROM idx)),"
    )
    if hours:
        pairs = f"""{own}
        ge AS ({_overlap_sql(GRID_STAYS, "grid", "'coarse'", own="own")}),
        pair AS (SELECT case_key, hop, contact, place, SUM(minutes) AS minutes, MIN(start_s) AS start_s,
                        MAX(end_s) AS end_s FROM ge GROUP BY case_key, hop, contact, place
                 HAVING ROUND(SUM(minutes), 6) > {c.min_minutes}),"""
    else:  # the minutes of a pair summed in whole seconds, not per day: the same pairs (see above)
        pairs = f"""{own}
        ge AS ({_overlap_sql(GRID_STAYS, "grid", "'coarse'", per_day=False, own="own")}),
        pair AS (SELECT case_key, hop, contact, place, minutes, start_s, end_s FROM ge
                 WHERE ROUND(minutes, 6) > {c.min_minutes}),"""
    head = f"""
        WITH {pairs}
        res AS (SELECT s.person, s.place, SUM(s.end_s - s.start_s) / 3600.0 AS hours
                FROM own s JOIN idx i ON TRUE
                WHERE s.start_s >= i.end_s - {c.lookback_days * 86400} AND s.start_s < i.end_s
                  AND s.person = i.person GROUP BY s.person, s.place),"""

    def res_all(pairs: str) -> str:
        return f"""
        res_all AS (SELECT s.person, s.place, SUM(s.secs) / 3600.0 AS hours FROM {secs} s
                    JOIN (SELECT DISTINCT contact, place FROM {pairs}) q
                      ON q.contact = s.person AND q.place = s.place
                    GROUP BY s.person, s.place)"""

    if not hours:
        if named:
            raise InvalidInput("companion pairs without their hours are on numbers only", field="hours")
        return f"""{head}
        pi AS (
          SELECT p.case_key, p.hop, p.contact, p.place, p.minutes, p.start_s, p.end_s,
                 COALESCE(ri.hours, 0) AS own_hours
          FROM pair p JOIN idx i ON i.case_key = p.case_key AND i.hop = p.hop
          LEFT JOIN res ri ON ri.person = i.person AND ri.place = p.place),
        {res_all(f"pi WHERE own_hours <= {c.resident_hours}")}
        SELECT p.case_key, p.hop, p.contact, p.place, p.minutes, p.start_s, p.end_s
        FROM pi p LEFT JOIN res_all ro ON ro.person = p.contact AND ro.place = p.place
        WHERE p.own_hours > {c.resident_hours} OR COALESCE(ro.hours, 0) > {c.resident_hours}"""
    sql = f"""{head}
        {res_all("pair")}
        SELECT p.case_key, p.hop, p.contact, g.place, p.minutes, p.start_s, p.end_s,
               GREATEST(COALESCE(ri.hours, 0), COALESCE(ro.hours, 0)) AS resident_hours
        FROM pair p JOIN idx i ON i.case_key = p.case_key AND i.hop = p.hop
        JOIN (SELECT DISTINCT gk, place FROM tower_grid) g ON g.gk = p.place
        LEFT JOIN res ri ON ri.person = i.person AND ri.place = p.place
        LEFT JOIN res_all ro ON ro.person = p.contact AND ro.place = p.place
        WHERE GREATEST(COALESCE(ri.hours, 0), COALESCE(ro.hours, 0)) > {c.resident_hours}"""
    cols = ["case_key", "hop", "contact", "place", "minutes", "start_s", "end_s", "resident_hours"]
    return _named(sql, cols) if named else sql


def baseline_sql(kind: str, policy: Policy) -> str:
    """Pairs by a rule used in practice: ``grid`` (same cell > ``companion.min_minutes``) or
    ``tower`` (same tower at the same time)."""
    table, floor = {"grid": (GRID_STAYS, policy.companion.min_minutes), "tower": ("stay_cell", 0.0)}[kind]
    sql = f"""
        WITH be AS ({_overlap_sql(table, kind, "'coarse'")})
        SELECT case_key, hop, contact, SUM(minutes) AS minutes, MIN(start_s) AS start_s FROM be
        GROUP BY case_key, hop, contact HAVING ROUND(SUM(minutes), 6) > {floor}"""
    return _named(sql, ["case_key", "hop", "contact", "minutes", "start_s"])


def exposures(
    engine: QueryEngine, policy: Policy, sources: Collection[str] | None = None, *, skip: bool = False,
    own_cell: str = "",
) -> str:
    """Evidence of the detectors in ``sources`` (all by default) for the index persons in ``idx``
    (:func:`register_index`), on person and case numbers: each detector's rows are kept as table
    ``ev_<detector>`` (one statement each: Spark cannot have two CTEs of one name in a statement);
    returns the query of their union (``EVIDENCE_COLUMNS``). :func:`drop_exposures` drops them.
    ``skip``: the pairs of ``idx_skip`` are left out of every detector's rows: those of
    :data:`SKIPPED_INSIDE` before they aggregate (:func:`detect`), the others' rows (a few) after.
    ``own_cell``: the index persons' cell stays, as :func:`detect`."""
    engine.register_arrow("gps_dx", GPS_DX)
    _prepare_visits(engine, policy, sources)
    # typed as on DuckDB (Spark's divisions give decimals, and a union would widen them all)
    cols = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in zip(EVIDENCE_COLUMNS, _SQL_TYPES, strict=True))
    parts = []
    for src, sql in detect(engine, policy, skip=skip, own_cell=own_cell).items():
        if sources is None or src in sources:
            # kept as a DuckDB table (no copy out to Arrow and back), as Arrow on Spark (a cached
            # Spark table would carry the detector's whole plan along)
            if skip and src not in SKIPPED_INSIDE:  # as an anti-join on one number (``_secondary``)
                sql = f"""
                    SELECT q.* FROM ({sql}) q
                    LEFT JOIN idx_skip x ON x.k = {case_base("q.case_key")} + q.contact WHERE x.k IS NULL"""
            engine.keep_rows(f"ev_{src}", f"SELECT {cols} FROM ({sql}) q")
            parts.append(f"SELECT * FROM ev_{src}")
    if not parts:  # no detector: no rows, with the columns
        types = zip(EVIDENCE_COLUMNS, _SQL_TYPES, strict=True)
        none = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in types)
        return f"SELECT {none} WHERE 1 = 0"
    return "\nUNION ALL\n".join(parts)


def drop_exposures(engine: QueryEngine) -> None:
    engine.drop(*(f"ev_{d}" for d in DETECTORS), "visit_sc", "visit_ext")


def _prepare_visits(engine: QueryEngine, policy: Policy, sources: Collection[str] | None) -> None:
    """The visit detector's stays for the index persons of ``idx``, when it runs."""
    if policy.rules.visit_kinds and (sources is None or "venue_visit" in sources):
        structure.prepare_visits(engine, policy)


#: the detectors that leave out the pairs of ``idx_skip`` themselves, before they aggregate (``skip``)
SKIPPED_INSIDE = frozenset({"venue_scan", "cell", "gps", "venue_cell"})

#: the GPS detector's columns of grid cells: the same and both adjacent ones
GPS_DX = pa.table({"dx": [-1, 0, 1]})

#: SQL types of ``EVIDENCE_COLUMNS`` on numbers (case and contact numbered)
_SQL_TYPES = ["BIGINT", "INT", "BIGINT", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "DOUBLE", "VARCHAR"]


def run_exposures(
    engine: QueryEngine, policy: Policy, idx: pa.Table, sources: list[str] | None = None
) -> pa.Table:
    """Evidence rows for the index persons in ``idx`` (call :func:`prepare` first), named, in
    evidence order (each detector's rows fetched, then sorted here: the compared query of
    ``benchmarks/bench_tracing.py``; a trace keeps them on the engine, see :func:`exposures`)."""
    register_index(engine, idx)
    engine.register_arrow("gps_dx", GPS_DX)
    _prepare_visits(engine, policy, sources)
    tables = []
    for src, sql in detect(engine, policy).items():
        if sources is not None and src not in sources:
            continue
        t = engine.sql(_named(sql, EVIDENCE_COLUMNS, "contact_pk"))
        tables.append(t.cast(EVIDENCE_SCHEMA.append(pa.field("contact_pk", pa.int64()))))
    if not tables:
        return EVIDENCE_SCHEMA.empty_table()
    return _sorted(pa.concat_tables(tables)).drop_columns(["contact_pk"])


def _rank(col: pa.ChunkedArray) -> pa.Array:
    """Each value's position among the column's sorted distinct values (null stays null): sorting on
    it is sorting on the values, without comparing long strings row by row."""
    u = pc.unique(col)
    return pc.index_in(col, value_set=u.take(pc.sort_indices(u)))


def _sorted(ev: pa.Table) -> pa.Table:
    """Evidence in (case_key, hop, contact, source, start_s, place) order. The contact is sorted by
    its rank in pseudonym order (``pkey.ord``); strings by their ranks."""
    keys = pa.table(
        {
            "c": _rank(ev.column("case_key")),
            "h": ev.column("hop"),
            "k": ev.column("contact_pk"),
            "s": _rank(ev.column("source")),
            "t": ev.column("start_s"),
            "p": _rank(ev.column("place")),
        }
    )
    return ev.take(pc.sort_indices(keys, [(c, "ascending") for c in "chkstp"]))


def with_trajectory(engine: QueryEngine, own_cell: str = "stay_cell") -> set[str]:
    """The index persons (``idx``) seen in any source (``own_cell``: their cell stays, or all)."""
    t = engine.sql(f"""
        WITH p AS (SELECT DISTINCT person FROM idx),
        seen AS (
          SELECT person FROM {own_cell} UNION ALL SELECT person FROM stay_venue
          UNION ALL SELECT person FROM t_camera UNION ALL SELECT person FROM t_gps
          UNION ALL SELECT person FROM t_travel UNION ALL SELECT person FROM t_prox
          UNION ALL SELECT other AS person FROM t_prox)
        SELECT DISTINCT k.s AS person FROM p JOIN seen s ON s.person = p.person
        JOIN pkey k ON k.pk = p.person""")
    return {str(v) for v in t.column(0).to_pylist()}

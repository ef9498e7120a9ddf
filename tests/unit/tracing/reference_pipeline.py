"""Reference: the straightforward stays-and-exposures SQL (the pipeline as it was before the speed work,
with the detectors added since), kept so tests can prove the optimised pipeline gives identical answers.

Keep detector changes in step with ``zhikong.tracing.pipeline``; the stay computations stay as here.

Inputs registered on the engine: the lake views (``tracing.lake``), ``ledger`` (pid_id, pid_phone,
household: keyed hashes from the operational ledger) and ``idx`` (the index persons to trace).

People: a row's ``person`` is the ID-number pseudonym when the ledger links the pid to one, else the
pid itself, so a phone seen in the cell feed and an ID number scanned at a venue are one person.

Stay rules (documented in ``docs/tracing.md``):

* **cell** — pings sorted by time; a ping at tower B between two pings at A that are at most
  ``ping_pong_minutes`` apart is a ping-pong and counts as A; consecutive pings at one tower form a
  stay unless the silence between them exceeds ``cell_gap_minutes``; a stay runs from its first ping
  until the person's next ping elsewhere, but at most ``cell_gap_minutes`` after its last ping.
* **venue_scan** — a scan starts a stay lasting the venue kind's typical dwell, cut short by the
  person's next scan.
* **camera / gps / proximity / travel** — used as points or encounters (see the detectors).

Every detector returns evidence rows ``(case_key, hop, contact, source, place, start_s, end_s,
minutes, distance)`` aggregated per case, contact, source, place, distance class and local day.
"""

from __future__ import annotations

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.tracing import structure

# the contract (schemas, detector names) and the small SQL helpers are the pipeline's own; only the
# stay and exposure computations below are the reference
from zhikong.tracing.columns import epoch_sql as _epoch
from zhikong.tracing.intervals import day_no as _day
from zhikong.tracing.intervals import register_days
from zhikong.tracing.pipeline import (
    DETECTORS,
    EVIDENCE_COLUMNS,
    EVIDENCE_SCHEMA,
    IDX_SCHEMA,
    LOCAL_OFFSET_S,
)
from zhikong.tracing.policy import Policy
from zhikong.tracing.prepare import _ts

__all__ = ["DETECTORS", "EVIDENCE_COLUMNS", "EVIDENCE_SCHEMA", "IDX_SCHEMA", "LOCAL_OFFSET_S",
           "_epoch", "_ts"]


def register_index(engine: QueryEngine, idx: pa.Table) -> None:
    engine.register_arrow("idx", idx.cast(IDX_SCHEMA))


def named_stays(table: str) -> str:
    return f"SELECT person, place, start_s, end_s FROM {table}"


def prepare(engine: QueryEngine, policy: Policy, lo_s: int, hi_s: int, *, derived: object = None) -> None:
    """Person-mapped, time-bounded copies of the sources and the stays derived from them (always from
    the pings: the lake's derived stays, ``derived``, are ignored)."""
    r = policy.rules
    lo, hi = _ts(lo_s), _ts(hi_s)
    register_days(engine, lo_s, hi_s)  # the shared structure detectors split their range joins by day
    engine.create_table(
        "pmap",
        """
        SELECT pid_id AS pid, pid_id AS person FROM ledger WHERE pid_id IS NOT NULL
        UNION ALL
        SELECT pid_phone AS pid, MIN(COALESCE(pid_id, pid_phone)) AS person FROM ledger
        WHERE pid_phone IS NOT NULL GROUP BY pid_phone""",
    )

    def mapped(source: str, cols: str, pid: str = "pid") -> str:
        return (
            f"SELECT COALESCE(m.person, s.{pid}) AS person, {cols} FROM src_{source} s "
            f"LEFT JOIN pmap m ON m.pid = s.{pid} WHERE s.ts >= {lo} AND s.ts < {hi}"
        )

    # cell stays come from each person's whole stream of pings; the period selects the stays
    engine.create_table(
        "t_cell",
        f"SELECT COALESCE(m.person, s.pid) AS person, {_epoch('s.ts')} AS t, s.tower_id AS place "
        "FROM src_cell s LEFT JOIN pmap m ON m.pid = s.pid",
    )
    pp_s, gap_s = int(r.ping_pong_minutes * 60), int(r.cell_gap_minutes * 60)
    engine.create_table(
        "stay_cell",
        f"""
        WITH o AS (
          SELECT person, t, place,
            LAG(place, 2) OVER w AS prev2_place, LAG(t, 2) OVER w AS prev2_t,
            LAG(place) OVER w AS prev_place, LAG(t) OVER w AS prev_t,
            LEAD(place) OVER w AS next_place, LEAD(t) OVER w AS next_t,
            ROW_NUMBER() OVER w AS rn
          FROM t_cell WINDOW w AS (PARTITION BY person ORDER BY t, place)),
        pp AS (
          SELECT person, t, next_t, rn,
            CASE WHEN prev_place IS NOT NULL AND prev_place = next_place AND place <> prev_place
                      AND next_t - prev_t <= {pp_s} THEN prev_place ELSE place END AS place,
            CASE WHEN prev2_place IS NOT NULL AND prev2_place = place AND prev_place <> prev2_place
                      AND t - prev2_t <= {pp_s} THEN prev2_place ELSE prev_place END AS prev_place,
            prev_t
          FROM o),
        s AS (
          SELECT person, t, next_t, place,
            SUM(CASE WHEN prev_place = place AND t - prev_t <= {gap_s} THEN 0 ELSE 1 END)
              OVER (PARTITION BY person ORDER BY rn ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS sid
          FROM pp)
        SELECT * FROM (
          SELECT person, place, MIN(t) AS start_s,
                 MAX(t + LEAST(COALESCE(next_t - t, {gap_s}), {gap_s})) AS end_s
          FROM s GROUP BY person, place, sid) q
        WHERE start_s < {hi_s} AND end_s > {lo_s}""",
    )

    dwell = pa.table(
        {
            "kind": list(r.venue_dwell_minutes),
            "dwell_s": [int(v * 60) for v in r.venue_dwell_minutes.values()],
        }
    )
    engine.register_arrow("venue_dwell", dwell)
    default_dwell = int(r.dwell(None) * 60)
    engine.create_table(
        "stay_venue",
        f"""
        WITH v AS ({mapped("venue_scan", f"{_epoch('s.ts')} AS t, s.venue_id AS place")}),
        o AS (SELECT person, t, place,
                LEAD(t) OVER (PARTITION BY person ORDER BY t, place) AS next_t FROM v)
        SELECT o.person, o.place, o.t AS start_s,
               LEAST(o.t + COALESCE(d.dwell_s, {default_dwell}), COALESCE(o.next_t, o.t + 86400)) AS end_s,
               COALESCE(rv.kind, 'default') AS kind
        FROM o LEFT JOIN ref_venue rv ON rv.venue_id = o.place
        LEFT JOIN venue_dwell d ON d.kind = rv.kind""",
    )

    engine.create_table("t_camera", mapped("camera", f"{_epoch('s.ts')} AS t, s.camera_id AS place"))
    engine.create_table(
        "t_gps", mapped("gps", f"{_epoch('s.ts')} AS t, CAST(s.x AS DOUBLE) AS x, CAST(s.y AS DOUBLE) AS y")
    )
    engine.create_table(
        "t_travel",
        mapped(
            "travel",
            f"{_epoch('s.ts')} AS t, {_epoch('s.depart_ts')} AS t0, s.mode, "
            "s.vehicle || '@' || CAST(CAST(s.depart_ts AS DATE) AS VARCHAR) AS trip, s.carriage, "
            "CAST(REGEXP_EXTRACT(s.seat, '^[0-9]+', 0) AS INT) AS seat_row",
        ),
    )
    engine.create_table(
        "t_prox",
        f"""
        SELECT COALESCE(m1.person, s.pid) AS person, COALESCE(m2.person, s.other_pid) AS other,
               {_epoch("s.ts")} AS t, CAST(s.duration_s AS BIGINT) AS dur_s, CAST(s.rssi AS INT) AS rssi
        FROM src_proximity s LEFT JOIN pmap m1 ON m1.pid = s.pid LEFT JOIN pmap m2 ON m2.pid = s.other_pid
        WHERE s.ts >= {lo} AND s.ts < {hi}""",
    )
    cell_m = float(policy.companion.cell_m)
    engine.create_table(
        "stay_grid",
        f"""
        SELECT s.person, CAST(CAST(FLOOR(t.x / {cell_m}) AS BIGINT) AS VARCHAR) || '_' ||
               CAST(CAST(FLOOR(t.y / {cell_m}) AS BIGINT) AS VARCHAR) AS place, s.start_s, s.end_s
        FROM stay_cell s JOIN ref_tower t ON t.tower_id = s.place""",
    )
    structure.prepare(engine, policy)


def _overlap_sql(stays: str, source: str, distance_sql: str) -> str:
    """Exposures from overlapping stays at the same place (venue, tower)."""
    return f"""
        WITH x AS (
          SELECT i.case_key, i.hop, i.person, s.place,
                 GREATEST(s.start_s, i.start_s) AS a, LEAST(s.end_s, i.end_s) AS b
          FROM {stays} s JOIN idx i ON s.person = i.person
          WHERE s.end_s > i.start_s AND s.start_s < i.end_s),
        e AS (
          SELECT x.case_key, x.hop, o.person AS contact, x.place,
                 GREATEST(x.a, o.start_s) AS s0, LEAST(x.b, o.end_s) AS s1, {distance_sql} AS distance
          FROM x JOIN {stays} o ON o.place = x.place AND o.start_s < x.b AND o.end_s > x.a
          WHERE o.person <> x.person)
        SELECT case_key, hop, contact, '{source}' AS source, place, MIN(s0) AS start_s, MAX(s1) AS end_s,
               SUM(s1 - s0) / 60.0 AS minutes, distance
        FROM e GROUP BY case_key, hop, contact, place, distance, {_day("s0")}"""


def detect(engine: QueryEngine, policy: Policy) -> dict[str, str]:
    """SQL of each detector, by source (all reading ``idx`` and the prepared tables)."""
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
            f"CASE WHEN o.kind IN ({near_kinds}) THEN 'near' ELSE 'same_place' END",
        ),
        "cell": _overlap_sql("stay_cell", "cell", "'coarse'"),
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
            FROM e GROUP BY case_key, hop, contact, place, {_day("s0")}""",
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
        "gps": f"""
            WITH x AS (
              SELECT i.case_key, i.hop, i.person, g.t, g.x, g.y, g.t // {bin_s} AS b,
                     CAST(FLOOR(g.x / {d}) AS BIGINT) AS gx, CAST(FLOOR(g.y / {d}) AS BIGINT) AS gy
              FROM t_gps g JOIN idx i ON g.person = i.person WHERE g.t >= i.start_s AND g.t < i.end_s),
            o AS (
              SELECT person, t, x, y, t // {bin_s} AS b, CAST(FLOOR(x / {d}) AS BIGINT) AS gx,
                     CAST(FLOOR(y / {d}) AS BIGINT) AS gy FROM t_gps),
            e AS (
              SELECT x.case_key, x.hop, o.person AS contact, x.b, x.gx, x.gy
              FROM x JOIN gps_offsets f ON TRUE
              JOIN o ON o.b = x.b AND o.gx = x.gx + f.dx AND o.gy = x.gy + f.dy
              WHERE o.person <> x.person AND (o.x - x.x) * (o.x - x.x) + (o.y - x.y) * (o.y - x.y) <= {d * d})
            SELECT case_key, hop, contact, 'gps' AS source,
                   'grid' || CAST(MIN(gx) AS VARCHAR) || '_' || CAST(MIN(gy) AS VARCHAR) AS place,
                   MIN(b) * {bin_s} AS start_s, (MAX(b) + 1) * {bin_s} AS end_s,
                   COUNT(DISTINCT b) * {r.gps_bin_minutes}.0 AS minutes, 'near' AS distance
            FROM e GROUP BY case_key, hop, contact, {_day(f"b * {bin_s}")}""",
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
                   {_day("t")}""",
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
    out.update(structure.detectors(policy))
    return out


def companion_sql(policy: Policy) -> str:
    """Pairs in the same grid cell for more than ``min_minutes`` where either side spent more than
    ``resident_hours`` in the cell over ``lookback_days`` (the 时空伴随 rule)."""
    c = policy.companion
    return f"""
        WITH ge AS ({_overlap_sql("stay_grid", "grid", "'coarse'")}),
        pair AS (SELECT case_key, hop, contact, place, SUM(minutes) AS minutes, MIN(start_s) AS start_s,
                        MAX(end_s) AS end_s FROM ge GROUP BY case_key, hop, contact, place
                 HAVING ROUND(SUM(minutes), 6) > {c.min_minutes}),
        res AS (SELECT s.person, s.place, SUM(s.end_s - s.start_s) / 3600.0 AS hours
                FROM stay_grid s JOIN idx i ON TRUE
                WHERE s.start_s >= i.end_s - {c.lookback_days * 86400} AND s.start_s < i.end_s
                  AND s.person = i.person GROUP BY s.person, s.place),
        res_all AS (SELECT person, place, SUM(end_s - start_s) / 3600.0 AS hours FROM stay_grid
                    GROUP BY person, place)
        SELECT p.case_key, p.hop, p.contact, p.place, p.minutes, p.start_s, p.end_s,
               GREATEST(COALESCE(ri.hours, 0), COALESCE(ro.hours, 0)) AS resident_hours
        FROM pair p JOIN idx i ON i.case_key = p.case_key AND i.hop = p.hop
        LEFT JOIN res ri ON ri.person = i.person AND ri.place = p.place
        LEFT JOIN res_all ro ON ro.person = p.contact AND ro.place = p.place
        WHERE GREATEST(COALESCE(ri.hours, 0), COALESCE(ro.hours, 0)) > {c.resident_hours}"""


def baseline_sql(kind: str, policy: Policy) -> str:
    """Pairs by a rule used in practice: ``grid`` (same cell > ``companion.min_minutes``) or
    ``tower`` (same tower at the same time)."""
    stays, floor = {"grid": ("stay_grid", policy.companion.min_minutes), "tower": ("stay_cell", 0.0)}[kind]
    return f"""
        WITH be AS ({_overlap_sql(stays, kind, "'coarse'")})
        SELECT case_key, hop, contact, SUM(minutes) AS minutes, MIN(start_s) AS start_s FROM be
        GROUP BY case_key, hop, contact HAVING ROUND(SUM(minutes), 6) > {floor}"""


def run_exposures(
    engine: QueryEngine, policy: Policy, idx: pa.Table, sources: list[str] | None = None
) -> pa.Table:
    """Evidence rows for the index persons in ``idx`` (call :func:`prepare` first)."""
    engine.register_arrow("idx", idx.cast(IDX_SCHEMA))
    engine.register_arrow(
        "gps_offsets", pa.table({"dx": [dx for dx in (-1, 0, 1) for _ in range(3)], "dy": [-1, 0, 1] * 3})
    )
    if policy.rules.visit_kinds and (sources is None or "venue_visit" in sources):
        structure.prepare_visits(engine, policy)
    tables = []
    for src, sql in detect(engine, policy).items():
        if sources is not None and src not in sources:
            continue
        t = engine.sql(f"SELECT {', '.join(EVIDENCE_COLUMNS)} FROM ({sql}) q")
        tables.append(t.cast(EVIDENCE_SCHEMA))
    out = pa.concat_tables(tables) if tables else EVIDENCE_SCHEMA.empty_table()
    return out.sort_by(
        [(c, "ascending") for c in ("case_key", "hop", "contact", "source", "start_s", "place")]
    )


def with_trajectory(engine: QueryEngine) -> set[str]:
    """The index persons (``idx``) seen in any source."""
    t = engine.sql("""
        WITH p AS (SELECT DISTINCT person FROM idx),
        seen AS (
          SELECT person FROM stay_cell UNION ALL SELECT person FROM stay_venue
          UNION ALL SELECT person FROM t_camera UNION ALL SELECT person FROM t_gps
          UNION ALL SELECT person FROM t_travel UNION ALL SELECT person FROM t_prox
          UNION ALL SELECT other AS person FROM t_prox)
        SELECT DISTINCT p.person FROM p JOIN seen s ON s.person = p.person""")
    return {str(v) for v in t.column(0).to_pylist()}

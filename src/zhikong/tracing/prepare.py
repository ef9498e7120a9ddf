"""Preparing a trace: person-mapped, time-bounded copies of the sources and the stays derived from
them, read from the lake's derived parts (``zhikong.tracing.stays``) where they are fresh.

The stay rules are described in ``zhikong.tracing.pipeline`` and ``docs/tracing.md``; the detectors
(``pipeline.detect``, ``structure.detectors``) read the tables made here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.tracing import stays, structure
from zhikong.tracing.columns import DETECTORS, LOCAL_OFFSET_S, STRUCTURAL, epoch_sql
from zhikong.tracing.intervals import register_days
from zhikong.tracing.policy import Policy


def _ts(epoch_s: int) -> str:
    iso = datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")
    return f"CAST('{iso}' AS TIMESTAMPTZ)"


def prepare(
    engine: QueryEngine,
    policy: Policy,
    lo_s: int,
    hi_s: int,
    sources: Collection[str] | None = None,
    *,
    derived: bool = False,
    parts: Collection[str] = (),
) -> frozenset[str]:
    """Person-mapped, time-bounded copies of the sources and the stays derived from them.

    ``sources`` limits the work to what those detectors need (``"companion"`` stands for the grid
    stays of the companion rule and the grid baseline); all by default. ``derived``: the lake's
    derived cell stays are registered (``dv_*``, by ``lake.register_lake``) and up to date
    (``stays.fresh``); else the stays come from the pings. ``parts``: the optional derived parts
    that are up to date too (``stays.fresh_parts``: the other sources' pseudonyms, the GPS bins and
    cells, the short stays), read instead of computed.

    Returns the names of the optional tables made, which a detector reads instead of its own
    fallback: ``grid_secs`` (:func:`_grid_secs`) when the grid stays' seconds come from the derived
    grid days.
    """
    want = set(DETECTORS) | {"companion"} if sources is None else set(sources)
    r = policy.rules
    lo, hi = _ts(lo_s), _ts(hi_s)
    register_days(engine, lo_s, hi_s)
    engine.create_table(
        "pmap",
        """
        SELECT pid_id AS pid, pid_id AS person FROM ledger WHERE pid_id IS NOT NULL
        UNION ALL
        SELECT pid_phone AS pid, MIN(COALESCE(pid_id, pid_phone)) AS person FROM ledger
        WHERE pid_phone IS NOT NULL GROUP BY pid_phone""",
    )
    # Person keys: every pseudonym (the ledger's, and those in the sources) gets a number (``pkey``:
    # in pseudonym order, or with the derived stays the persons' cell phones' numbers first) and its
    # rank in pseudonym order (``ord``); each source pid maps to the number of its person (``pidk``).
    # All tables and detectors below work on these numbers, which join, sort and group several
    # times faster than 64-character pseudonyms; outputs are named again (``_named``).
    window = f"ts >= {lo} AND ts < {hi}"
    pids = ["SELECT pid_id AS s FROM ledger", "SELECT pid_phone AS s FROM ledger"]
    # the other sources' pseudonyms: listed in the derived tables (all of the lake's: a number more
    # or less changes no answer, the numbers follow the pseudonyms' order either way), or read
    listed = derived and "pids" in parts
    if listed and want & ({"venue_scan", "camera", "travel", "proximity"} | STRUCTURAL):
        pids.append("SELECT pid AS s FROM dv_src_pids")
    if want & ({"venue_scan"} | STRUCTURAL) and not listed:
        pids.append(f"SELECT DISTINCT pid AS s FROM src_venue_scan WHERE {window}")
    for det, src in (("camera", "camera"), ("gps", "gps"), ("travel", "travel"), ("proximity", "proximity")):
        if det in want:
            if src == "gps" and derived:  # the lake's GPS points on numbers (``stays``)
                pids.append("SELECT pid AS s FROM dv_gps_pids")
            elif not listed:
                pids.append(f"SELECT DISTINCT pid AS s FROM src_{src} WHERE {window}")
    if "proximity" in want and not listed:
        pids.append(f"SELECT DISTINCT other_pid AS s FROM src_proximity WHERE {window}")
    cell = bool(want & ({"cell", "companion"} | STRUCTURAL))
    if cell:  # cell stays come from the whole stream of pings (see ``_cell_stays``)
        pids.append("SELECT pid AS s FROM dv_pids" if derived else "SELECT DISTINCT pid AS s FROM src_cell")
    universe = f"SELECT DISTINCT s FROM ({' UNION ALL '.join(pids)}) u WHERE s IS NOT NULL"
    # ``ord``: the pseudonym's rank, what outputs are ordered by (ties of scores, hop-2 paths)
    aligned = derived and cell and _aligned(engine)
    if aligned:
        # a person with a cell phone gets the phone's number in the derived stays (``dv_pids.pn``),
        # so the stays (and the GPS points, numbered alike) are read on person numbers as stored,
        # without a join; the other pseudonyms come after every derived number, in pseudonym order
        pkey = f"""
            WITH u AS (SELECT s, ROW_NUMBER() OVER (ORDER BY s) AS ord FROM ({universe}) d),
            n AS (SELECT GREATEST((SELECT COALESCE(MAX(pn), 0) FROM dv_pids),
                                  (SELECT COALESCE(MAX(gn), 0) FROM dv_gps_pids)) AS n)
            SELECT u.s, COALESCE(CAST(c.pn AS BIGINT),
                                 n.n + ROW_NUMBER() OVER (PARTITION BY c.pn IS NULL ORDER BY u.ord)) AS pk,
                   u.ord
            FROM u CROSS JOIN n LEFT JOIN cell_person c ON c.person = u.s"""
    else:
        pkey = (
            "SELECT s, pk, pk AS ord FROM ("
            f"SELECT s, ROW_NUMBER() OVER (ORDER BY s) AS pk FROM ({universe}) d) q"
        )
    engine.create_table("pkey", pkey)
    engine.create_table(
        "pidk",
        """SELECT k.s AS pid, COALESCE(kp.pk, k.pk) AS pk FROM pkey k
           LEFT JOIN pmap m ON m.pid = k.s LEFT JOIN pkey kp ON kp.s = m.person""",
    )
    # the ledger as the detectors read it, on person numbers (``ledger`` is replaced)
    engine.create_table("ledger_s", "SELECT pid_id, pid_phone, household, born_s, village FROM ledger")
    engine.create_table(
        "ledger",
        """SELECT a.pk AS pid_id, b.pk AS pid_phone, l.household, l.born_s, l.village FROM ledger_s l
           LEFT JOIN pkey a ON a.s = l.pid_id LEFT JOIN pkey b ON b.s = l.pid_phone""",
    )
    engine.drop("ledger_s")

    def mapped(source: str, cols: str, pid: str = "pid") -> str:
        return (
            f"SELECT k.pk AS person, {cols} FROM src_{source} s "
            f"LEFT JOIN pidk k ON k.pid = s.{pid} WHERE s.ts >= {lo} AND s.ts < {hi}"
        )

    # the structure detectors (``structure``) read cell and venue stays
    structural = bool(want & STRUCTURAL)
    from_derived = cell and _cell_stays(
        engine, policy, lo_s, hi_s, aligned, grid="companion" in want, parts=parts
    )
    made: set[str] = set()
    if from_derived and "companion" in want and {"grid", "grid_days"} <= set(parts):
        _grid_secs(engine, lo_s, hi_s)
        made.add("grid_secs")
    if listed:  # the other sources' pseudonym numbers → person numbers
        engine.create_table(
            "dv_sk", "SELECT p.sn, p.venue, k.pk FROM dv_src_pids p JOIN pidk k ON k.pid = p.pid"
        )

    def numbered(source: str, cols: str, join: str = "") -> str:  # like ``mapped``, on the derived rows
        return (
            f"SELECT m.pk AS person, {cols} FROM dv_{source} s LEFT JOIN dv_sk m ON m.sn = s.sn "
            f"{join} WHERE s.t >= {lo_s} AND s.t < {hi_s}"
        )

    if "venue_scan" in want or structural:
        dwell = pa.table(
            {
                "kind": list(r.venue_dwell_minutes),
                "dwell_s": [int(v * 60) for v in r.venue_dwell_minutes.values()],
            }
        )
        engine.register_arrow("venue_dwell", dwell)
        default_dwell = int(r.dwell(None) * 60)
        # each scan with the person's next scan in the period (by time, then venue): from the derived
        # scans, whose next scan is the pseudonym's, when nobody scanned under two pseudonyms
        shared = "SELECT COUNT(*) FROM (SELECT pk FROM dv_sk WHERE venue GROUP BY pk HAVING COUNT(*) > 1) q"
        if listed and engine.scalar(shared) == 0:
            nxt = f"CASE WHEN s.next_t < {hi_s} THEN s.next_t END AS next_t"
            o = numbered("venue_scan", f"s.t, s.venue_id AS place, {nxt}")
        else:
            v = mapped("venue_scan", f"{epoch_sql('s.ts')} AS t, s.venue_id AS place")
            o = f"""
                WITH v AS ({v})
                SELECT person, t, place,
                       LEAD(t) OVER (PARTITION BY person ORDER BY t, place) AS next_t FROM v"""
        # (the venues joined with their kind's dwell first: one join of the scans, not two)
        engine.create_table(
            "stay_venue",
            f"""
            SELECT o.person, o.place, o.t AS start_s,
                   LEAST(o.t + COALESCE(rv.dwell_s, {default_dwell}),
                         COALESCE(o.next_t, o.t + 86400)) AS end_s,
                   COALESCE(rv.kind, 'default') AS kind
            FROM ({o}) o LEFT JOIN (
              SELECT v.venue_id, v.kind, d.dwell_s FROM ref_venue v LEFT JOIN venue_dwell d ON d.kind = v.kind
            ) rv ON rv.venue_id = o.place""",
        )

    if "camera" in want:
        engine.create_table(
            "t_camera",
            numbered("camera", "s.t, s.camera_id AS place") if listed
            else mapped("camera", f"{epoch_sql('s.ts')} AS t, s.camera_id AS place"),
        )
    if "gps" in want:
        # each point with its time bin and distance grid cell, computed once for every detector run;
        # 16 M rows at 100k: the coordinates keep the lake's type (4-byte floats), the cells are INT
        # (derived: the same points on numbers, floor(ts) in [lo, hi) ⇔ ts in [lo, hi), with their bins
        # and cells when derived by the same rules), and their key (``stays.gps_key``, which the GPS
        # detector joins on): the derived database file's column when it has one, else computed
        make, keyed = engine.create_table, False
        if derived:
            cells = "s.b, s.gx, s.gy" if "gps_grid" in parts else stays.gps_cells("s.t", "s.x", "s.y", r)
            if "gps_grid" in parts and "k" in engine.sql("SELECT * FROM dv_gps LIMIT 0").column_names:
                cells, keyed = f"{cells}, s.k", True
            engine.create_table(
                "gps_pk", "SELECT p.gn, k.pk FROM dv_gps_pids p JOIN pidk k ON k.pid = p.pid"
            )
            same = aligned and engine.scalar(  # the points' numbers are their persons' (``pkey``)
                "SELECT COUNT(*) FROM dv_gps_pids p LEFT JOIN gps_pk m ON m.gn = p.gn "
                "WHERE m.pk IS NULL OR m.pk <> p.gn"
            ) == 0
            person, join = ("CAST(s.gn AS BIGINT)", "") if same else ("m.pk", "JOIN gps_pk m ON m.gn = s.gn")
            points = (
                f"SELECT {person} AS person, s.t, s.x, s.y, {cells} FROM dv_gps s {join} "
                f"WHERE s.t >= {lo_s} AND s.t < {hi_s}"
            )
            if engine.native("dv_gps"):  # a view, as ``stay_cell`` (``_cell_stays``)
                make = engine.create_view
        else:
            raw = mapped("gps", f"{epoch_sql('s.ts')} AS t, s.x, s.y")
            points = f"SELECT person, t, x, y, {stays.gps_cells('t', 'x', 'y', r)} FROM ({raw}) g"
        if not keyed:
            points = f"SELECT g.*, {stays.gps_key('g.b', 'g.gx')} AS k FROM ({points}) g"
        make("t_gps", points)
    if "travel" in want:
        engine.create_table(
            "t_travel",
            mapped(
                "travel",
                f"{epoch_sql('s.ts')} AS t, {epoch_sql('s.depart_ts')} AS t0, s.mode, "
                "s.vehicle || '@' || CAST(CAST(s.depart_ts AS DATE) AS VARCHAR) AS trip, s.carriage, "
                "CAST(REGEXP_EXTRACT(s.seat, '^[0-9]+', 0) AS INT) AS seat_row",
            ),
        )
    if "proximity" in want:
        engine.create_table(
            "t_prox",
            numbered(
                "proximity", "m2.pk AS other, s.t, s.dur_s, s.rssi",
                "LEFT JOIN dv_sk m2 ON m2.sn = s.other_sn",
            )
            if listed
            else f"""
            SELECT m1.pk AS person, m2.pk AS other,
                   {epoch_sql("s.ts")} AS t, CAST(s.duration_s AS BIGINT) AS dur_s,
                   CAST(s.rssi AS INT) AS rssi
            FROM src_proximity s LEFT JOIN pidk m1 ON m1.pid = s.pid LEFT JOIN pidk m2 ON m2.pid = s.other_pid
            WHERE s.ts >= {lo} AND s.ts < {hi}""",
        )
    if structural:
        structure.prepare(
            engine, policy, numbered=True, period=(lo_s, hi_s) if from_derived else None, parts=parts,
        )
    # (``dv_pk`` and ``gps_pk`` stay: ``stay_cell`` and ``t_gps`` may be views reading them)
    engine.drop("dv_sk")
    return frozenset(made)


#: the seconds of every grid stay of ``stay_cell`` (``person, place, secs``: ``place`` the grid cell)
GRID_SECS = "(SELECT person, grid AS place, end_s - start_s AS secs FROM stay_cell WHERE grid IS NOT NULL)"


def _grid_secs(engine: QueryEngine, lo_s: int, hi_s: int) -> None:
    """``grid_secs(person, place, secs)``: the grid stays of ``stay_cell`` (read from the lake's
    derived stays, with their grid cells) as rows whose seconds sum, per person and cell, to those
    of :data:`GRID_SECS`: the lake's derived grid days (``dv_grid_days``: seconds per pseudonym,
    cell and local start day, the same numbers) for the days strictly between the period's first
    and last, whose stays all overlap the period, and the stays starting on or before its first day
    or on or after its last, one row each. A view: a few rows per person and day instead of every
    stay (at 100,000 people, 3.2 M rows instead of 23.4 M). The stays are sorted by day where they
    are stored, so the edge days' are read by their start alone."""
    d0, d1 = (lo_s + LOCAL_OFFSET_S) // 86400, (hi_s + LOCAL_OFFSET_S) // 86400
    # the stays starting on or before the first day, and the others on or after the last (a period
    # within one day: all of them before its end, and none after)
    first_end = (d0 + 1) * 86400 - LOCAL_OFFSET_S
    last_start = max(d1 * 86400 - LOCAL_OFFSET_S, first_end)
    engine.create_view(
        "grid_secs",
        f"""
        SELECT CAST(pn AS BIGINT) AS person, CAST(gk AS BIGINT) AS place, secs FROM dv_grid_days
        WHERE dn > {d0} AND dn < {d1}
        UNION ALL
        SELECT person, grid AS place, end_s - start_s AS secs FROM stay_cell
        WHERE grid IS NOT NULL AND start_s < {first_end}
        UNION ALL
        SELECT person, grid AS place, end_s - start_s AS secs FROM stay_cell
        WHERE grid IS NOT NULL AND start_s >= {last_start}""",
    )


def _tower_grid(engine: QueryEngine, policy: Policy) -> None:
    """``tower_grid``: each numbered tower's cell of the companion rule's grid (``companion.cell_m``,
    local metres of ``ref_tower``) as a number ``gk``, in the order of the cell's name ``place``
    (``gx_gy``), which :func:`companion_sql` and :func:`named_stays` give back."""
    engine.create_table(
        "tower_grid", stays.tower_grid_sql("cell_tower", "ref_tower", policy.companion.cell_m)
    )



def _aligned(engine: QueryEngine) -> bool:
    """``cell_person(pn, person)``: the person (pseudonym) of each derived cell pseudonym number;
    whether it is one to one (no person has two cell phones), so persons can be numbered by their
    phones' numbers (``prepare``'s ``pkey``) and the derived stays read as they are."""
    engine.create_table(
        "cell_person",
        "SELECT DISTINCT p.pn, COALESCE(m.person, p.pid) AS person FROM dv_pids p "
        "LEFT JOIN pmap m ON m.pid = p.pid",
    )
    return bool(engine.scalar(
        "SELECT COUNT(*) = COUNT(DISTINCT pn) AND COUNT(DISTINCT pn) = COUNT(DISTINCT person) "
        "FROM cell_person"
    ))


def _cell_stays(
    engine: QueryEngine,
    policy: Policy,
    lo_s: int,
    hi_s: int,
    derived: bool,
    *,
    grid: bool = True,
    parts: Collection[str] = (),
) -> bool:
    """``stay_cell``: every person's cell stays overlapping ``[lo_s, hi_s)``, as ``(person, place,
    start_s, end_s, grid)`` on numbers: ``place`` is a tower number of ``cell_tower(tk, tower_id)``
    (tower-id order) and ``grid`` the number of the tower's grid cell (``tower_grid``; null without a
    position, or unless ``grid``), so no stay table of tens of millions of rows carries strings;
    outputs are named again (:func:`named_stays`, ``_tower_named``, :func:`companion_sql`).

    Stays are derived from each person's whole stream of pings (``stays.stays_sql``) and then
    selected by the period, so a stay is the same whatever the period of the trace. They are read
    from the lake's derived stays (``dv_*``, see ``zhikong.tracing.stays``) when ``derived``: they are
    registered and persons are numbered by their cell pseudonyms' numbers (``_aligned``: the ledger
    gives no person two cell pseudonyms; derived stays are per pseudonym); otherwise computed here
    from the pings, with the same SQL. Returns whether they were read from the derived stays (then
    ``dv_pk(pn, pk)`` maps their pseudonym numbers to person numbers, one to one: ``pk = pn``).
    """
    def select(stays: str, person: str, derived_grid: bool = False) -> str:
        grid_join = "LEFT JOIN tower_grid g ON g.tk = s.place" if grid and not derived_grid else ""
        gk = "CAST(s.gk AS BIGINT)" if derived_grid else "g.gk" if grid else "CAST(NULL AS BIGINT)"
        return f"""
            SELECT {person} AS person, s.place, s.start_s, s.end_s, {gk} AS grid
            FROM {stays} {grid_join}
            WHERE s.start_s < {hi_s} AND s.end_s > {lo_s}"""

    if derived:
        engine.create_table("dv_pk", "SELECT p.pn, k.pk FROM dv_pids p JOIN pidk k ON k.pid = p.pid")
        shared = engine.scalar(
            "SELECT COUNT(*) FROM (SELECT pk FROM dv_pk GROUP BY pk HAVING COUNT(*) > 1) q"
        )
        if shared == 0:
            engine.create_table("cell_tower", "SELECT tk, tower_id FROM dv_towers")
            if grid:
                _tower_grid(engine, policy)
            # on person numbers as stored (``pk = pn``), with the grid cells derived with the stays
            # when by the same cell size. From the lake's DuckDB file (``engine.native``), a view:
            # reading the stays where needed costs less than copying tens of millions of rows once
            make = engine.create_view if engine.native("dv_stays") else engine.create_table
            make(
                "stay_cell",
                select(
                    "(SELECT d.pn, d.tk AS place, d.start_s, d.end_s, d.gk FROM dv_stays d) s",
                    "CAST(s.pn AS BIGINT)",
                    grid and "grid" in parts,
                ),
            )
            return True
        engine.drop("dv_pk")
    # From the pings, on person numbers and a tower number that sorts like the tower id.
    engine.create_table(
        "cell_tower",
        "SELECT tower_id, ROW_NUMBER() OVER (ORDER BY tower_id) AS tk "
        "FROM (SELECT DISTINCT tower_id FROM src_cell WHERE tower_id IS NOT NULL) d",
    )
    if grid:
        _tower_grid(engine, policy)
    engine.create_table(
        "t_cell1",
        f"""
        SELECT k.pk AS person, {epoch_sql("s.ts")} AS t, d.tk AS place
        FROM src_cell s LEFT JOIN pidk k ON k.pid = s.pid
        LEFT JOIN cell_tower d ON d.tower_id = s.tower_id""",
    )
    pp_s, gap_s = stays.rule_seconds(policy.rules)
    engine.create_table(
        "stay_cell", select(f"({stays.stays_sql('t_cell1', pp_s, gap_s)}) s", "s.person")
    )
    engine.drop("t_cell1")
    return False

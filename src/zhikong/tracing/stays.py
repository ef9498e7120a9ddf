"""Cell stays derived once per lake, so a trace reads compact stays instead of every ping.

Turning cell pings into stays (``pipeline``'s rules: ping-pong, gaps) is the heaviest step of a
trace: every ping of the period, with its 64-character pseudonym, read and sorted. The stays are a
property of the data and of two stay rules, not of the trace, so they are derived once, when the
lake changes (``zhikong lake build-stays``, run by ingest), and kept under
``<lake>/_derived/cell_stays/``:

* ``pids.parquet`` — ``(pn, pid)``: a number for every cell pseudonym, in pseudonym order;
* ``towers.parquet`` — ``(tk, tower_id)``: a number for every tower, in tower-id order;
* ``stays/day=YYYY-MM-DD/part.parquet`` — ``(pn, tk, start_s, end_s, gk)`` for the stays starting on
  that local day, sorted by tower and start, so a reader can skip row groups by tower or time; ``gk``
  is the tower's cell of the companion rule's grid (:func:`tower_grid_sql`, part ``grid``);
* ``gps_pids.parquet`` — ``(gn, pid)``: a number for every GPS pseudonym: its cell number ``pn``
  when it is a cell pseudonym too, else a number after all of those, in pseudonym order (so a trace
  that numbers persons by their phones' ``pn`` reads the points as they are);
* ``gps/day=YYYY-MM-DD/part.parquet`` — ``(gn, t, x, y, b, gx, gy)``: every GPS point (epoch seconds,
  local metres as in the lake) with its time bin ``b`` (``t // (gps_bin_minutes × 60)``) and distance
  cell ``(gx, gy)`` (``floor(x / gps_distance_m)``…), by local day, sorted by time: a trace reads
  numbers instead of pseudonyms (the database file's table ``gps`` has the key ``k`` of :func:`gps_key`
  too; a file without it is read with the key computed);
* ``days.parquet`` — ``(d0)``: the local midnights of the days some stay starts on;
* ``src_pids.parquet`` — ``(sn, pid, venue)``: every pseudonym of the other traced sources (venue
  scans, cameras, tickets, proximity, both sides) numbered in pseudonym order, so a trace numbers
  people without reading those sources; and ``venue_scan.parquet``, ``camera.parquet``,
  ``proximity.parquet``: those sources' rows on these numbers (see :func:`_src_pids`);
* ``short/day=YYYY-MM-DD/part.parquet`` — ``(pn, tk, start_s, end_s, run_s, run_e)``: the visit
  rule's short stays (``structure.short_sql``: stays on a visit venue's nearest tower, of (phone,
  tower, local day) groups of at most ``visit_max_minutes``), whole days, each with the start and end
  of its *run*, the phone's short stays there that day with no stay on another tower between them
  (``structure.short_runs_sql``), the same for any period containing its day;
* ``anchor/day=YYYY-MM-DD/part.parquet`` — ``(pn, tk, start_s, end_s, a0, a1)``: the stays a
  workplace can be inferred from (``structure``'s ``stay_work``): on the nearest tower of a venue of
  an ``anchor_hours`` kind, overlapping the earliest to the latest of those hours of their start day,
  ``[a0, a1)`` being the stay cut to those hours (what a trace reads when every kind has the same
  hours, as the built-in policies' one kind);
* ``grid_days/day=YYYY-MM-DD/part.parquet`` — ``(pn, gk, dn, secs)``: the seconds of the stays
  starting on local day ``dn`` (the partition's) in grid cell ``gk`` (``end_s - start_s`` summed;
  part ``grid_days``), so a trace sums a person's hours in a cell over the whole days of its period
  from a few rows per day instead of every stay (the companion rule's residents, see
  ``prepare``'s ``grid_secs``);
* ``tables.duckdb`` — the stays, the GPS points, the anchor stays, the grid days and the short
  stays again (tables ``stays``, ``gps``, ``anchor``, ``grid_days``, ``short``, the same columns,
  without the day; a file of an older generation may lack ``short``, read from Parquet then), as
  native tables of a DuckDB database file: a trace on the DuckDB backend attaches it read-only and
  reads them several times faster than the Parquet files (Spark, and a DuckDB that cannot open the
  file, read the Parquet files, the portable format; see :data:`DB_FILE`);
* ``_state.json`` — the stay rules used and a fingerprint of the cell and GPS partitions and the
  tower table they were derived from, and per optional *part* what it was derived from: the GPS
  time bins and distance cells (``gps_grid``: ``gps_bin_minutes``, ``gps_distance_m``), the short
  stays (``short``: ``visit_kinds``, ``visit_max_minutes``, the venue and tower tables), the grid
  days (``grid_days``: ``companion.cell_m``) and the other
  sources' pseudonyms and rows on numbers (``pids``: their partitions). A trace uses a part only
  when it matches the lake and its policy (:func:`fresh_parts`), else computes that part itself.

Stays are per pseudonym (one phone). A trace maps them to people with the ledger; when the ledger
gives one person several cell pseudonyms, the trace computes that person's stays from the pings
instead (``pipeline``). A trace uses the derived stays only when ``_state.json`` matches the lake and
the policy's stay rules (:func:`fresh`); otherwise it derives them from the pings itself, with the
same SQL (:func:`stays_sql`), so the answers are the same either way.

The directory is replaced whole (written beside it, then renamed), so a reader sees the old stays,
the new ones, or none (and falls back to the pings), never a mix; the previous generation stays on
disk until the next build, for traces that were reading it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.lake.schemas import SOURCES
from zhikong.tracing import structure
from zhikong.tracing.columns import epoch_sql
from zhikong.tracing.intervals import day_no
from zhikong.tracing.policy import StayRules, load_policy

DERIVED = "_derived"
STAYS = "cell_stays"
#: bump when the derived layout or the stay SQL changes: older derived stays are then ignored
VERSION = 3
#: the traced sources (besides cell and GPS) whose pseudonyms ``src_pids.parquet`` lists, by column
PID_SOURCES = {
    "venue_scan": ("pid",), "camera": ("pid",), "travel": ("pid",), "proximity": ("pid", "other_pid"),
}
#: the optional parts of the derived tables, each used only when it matches (:func:`fresh_parts`)
PARTS = ("grid", "grid_days", "gps_grid", "short", "anchor", "pids")
#: the columns of the short stays' files (part ``short``): a lake derived without the runs has it stale
SHORT_COLUMNS = "pn,tk,start_s,end_s,run_s,run_e"
#: the columns of the anchor stays' files (part ``anchor``): a lake derived without the cut stays has it stale
ANCHOR_COLUMNS = "pn,tk,start_s,end_s,a0,a1"
#: the DuckDB database file of a generation, with :data:`DB_TABLES` (each also in Parquet)
DB_FILE = "tables.duckdb"
#: the tables of :data:`DB_FILE`: the largest a trace reads whole
DB_TABLES = ("stays", "gps", "anchor", "grid_days", "short")
#: rows per Parquet row group of a day's stays (min/max of tower and start per group)
ROW_GROUP = 65_536


def stays_sql(pings: str, pp_s: int, gap_s: int) -> str:
    """Stays ``(person, place, start_s, end_s)`` from ``pings(person, t, place)``.

    The rules (``docs/tracing.md``): pings sorted by time (then place); a ping at B between two
    pings at A at most ``pp_s`` apart is a ping-pong and counts as A; consecutive pings at one place
    form a stay unless the silence between them exceeds ``gap_s``; a stay runs from its first ping
    until the person's next ping elsewhere, but at most ``gap_s`` after its last ping.

    A stay starts at a break row (``brk``) and ends where its last row reaches: the ``prev_end`` of
    the next break row, or the person's last row + gap. So after one sort of all pings only break
    rows and last rows go on (a LEAD over them), with no second sort of every ping and no grouping.
    Keys are best integers (they sort and group several times faster than long pseudonyms).
    """
    return f"""
        WITH o AS (
          SELECT person, t, place,
            LAG(place, 2) OVER w AS prev2_place, LAG(t, 2) OVER w AS prev2_t,
            LAG(place) OVER w AS prev_place, LAG(t) OVER w AS prev_t,
            LEAD(place) OVER w AS next_place, LEAD(t) OVER w AS next_t,
            ROW_NUMBER() OVER w AS rn
          FROM {pings} WINDOW w AS (PARTITION BY person ORDER BY t, place)),
        pp AS (
          SELECT person, t, next_t, rn,
            CASE WHEN prev_place IS NOT NULL AND prev_place = next_place AND place <> prev_place
                      AND next_t - prev_t <= {pp_s} THEN prev_place ELSE place END AS place,
            CASE WHEN prev2_place IS NOT NULL AND prev2_place = place AND prev_place <> prev2_place
                      AND t - prev2_t <= {pp_s} THEN prev2_place ELSE prev_place END AS prev_place,
            prev_t
          FROM o),
        b AS (
          SELECT person, t, place, rn, next_t IS NULL AS is_last,
            CASE WHEN prev_place = place AND t - prev_t <= {gap_s} THEN 0 ELSE 1 END AS brk,
            prev_t + LEAST(t - prev_t, {gap_s}) AS prev_end
          FROM pp),
        f AS (
          SELECT person, t, place, brk,
            LEAD(CASE WHEN brk = 1 THEN prev_end ELSE t + {gap_s} END)
              OVER (PARTITION BY person ORDER BY rn) AS next_end
          FROM b WHERE brk = 1 OR is_last)
        SELECT person, place, t AS start_s, COALESCE(next_end, t + {gap_s}) AS end_s
        FROM f WHERE brk = 1"""


def rule_seconds(rules: StayRules) -> tuple[int, int]:
    """(ping-pong, gap) of the stay rules, in whole seconds."""
    return int(rules.ping_pong_minutes * 60), int(rules.cell_gap_minutes * 60)


def stays_dir(lake_dir: Path) -> Path:
    return lake_dir / DERIVED / STAYS


def fingerprint(
    lake_dir: Path, sources: tuple[str, ...] = ("cell", "gps"), refs: tuple[str, ...] = ("tower",)
) -> str:
    """A hash of what is derived from: every file (path, size, modification time) of ``sources``
    (by default cell and GPS) and of the reference tables ``refs`` (by default the towers)."""
    h = hashlib.sha256()
    files = [f for src in sources if (lake_dir / src).is_dir()
             for f in sorted((lake_dir / src).rglob("*.parquet"))]
    files += [f for f in (lake_dir / "ref" / f"{r}.parquet" for r in refs) if f.is_file()]
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(lake_dir)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _state(rules: StayRules, lake_dir: Path) -> dict[str, object]:
    pp_s, gap_s = rule_seconds(rules)
    return {"version": VERSION, "ping_pong_s": pp_s, "gap_s": gap_s, "source": fingerprint(lake_dir)}


def _parts(rules: StayRules, lake_dir: Path, grid_m: float | None) -> dict[str, object]:
    """What each optional part (:data:`PARTS`) is derived from, besides the cell and GPS data."""
    return {
        "grid": {"cell_m": None if grid_m is None else float(grid_m)},
        "grid_days": {"cell_m": None if grid_m is None else float(grid_m)},
        "gps_grid": {"bin_s": rules.gps_bin_minutes * 60, "distance_m": float(rules.gps_distance_m)},
        "short": {"kinds": sorted(rules.visit_kinds), "max_s": int(rules.visit_max_minutes * 60),
                  "ref": fingerprint(lake_dir, (), ("tower", "venue")), "columns": SHORT_COLUMNS},
        "anchor": {"hours": {k: [int(h[0] * 3600), int(h[1] * 3600)]
                             for k, h in sorted(rules.anchor_hours.items())},
                   "ref": fingerprint(lake_dir, (), ("tower", "venue")), "columns": ANCHOR_COLUMNS},
        "pids": {"source": fingerprint(lake_dir, tuple(PID_SOURCES), ())},
    }


def fresh_parts(
    d: Path | None, lake_dir: Path, rules: StayRules, grid_m: float | None = None
) -> frozenset[str]:
    """The optional parts of the derived tables at ``d`` (:func:`fresh`) that match the lake and
    these rules (and ``grid_m``, the companion rule's cell size, for the stays' grid cells): a trace
    reads those, and computes the others itself."""
    if d is None:
        return frozenset()
    try:
        got = json.loads((d / "_state.json").read_text()).get("parts", {})
    except (OSError, ValueError):
        return frozenset()
    want = _parts(rules, lake_dir, grid_m)
    return frozenset(
        k for k, v in want.items() if got.get(k) == v and not (k.startswith("grid") and grid_m is None)
    )


def fresh(lake_dir: Path, rules: StayRules) -> Path | None:
    """The derived stays directory when it matches the lake's cell data and these stay rules."""
    d = stays_dir(lake_dir)
    state = d / "_state.json"
    if not state.is_file():
        return None
    try:
        got = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    want = _state(rules, lake_dir)
    return d if all(got.get(k) == v for k, v in want.items()) else None


@dataclass
class StaysBuild:
    """What :func:`build_stays` did."""

    path: Path
    built: bool  # False: the derived stays were already up to date
    pings: int = 0
    stays: int = 0
    people: int = 0
    seconds: float = 0.0

    @property
    def pings_per_s(self) -> float:
        return self.pings / self.seconds if self.seconds > 0 else 0.0


def build_stays(
    lake_dir: Path,
    rules: StayRules | None = None,
    *,
    force: bool = False,
    engine: QueryEngine | None = None,
    memory_limit: str = "",
    grid_m: float | None = None,
) -> StaysBuild:
    """Derive the cell stays of the whole lake (nothing to do when they are up to date). When only
    the other sources changed (the ``pids`` part), only that part is derived again. ``rules`` and
    ``grid_m`` (the companion rule's cell size, for the stays' grid cells): the built-in policy's by
    default.

    The caller holds the lake's write lock when the lake may be written meanwhile (ingest does).
    """
    if rules is None or grid_m is None:
        policy = load_policy()
        rules, grid_m = rules or policy.rules, grid_m or policy.companion.cell_m
    out = stays_dir(lake_dir)
    d = fresh(lake_dir, rules)
    if not force and d is not None:
        stale = set(PARTS) - fresh_parts(d, lake_dir, rules, grid_m)
        if not stale:
            return StaysBuild(out, built=False)
        if stale == {"pids"}:
            return _rebuild_pids(d, lake_dir, rules, engine, memory_limit)
    t0 = time.perf_counter()
    state = {**_state(rules, lake_dir), "parts": _parts(rules, lake_dir, grid_m)}
    cell = lake_dir / "cell"
    files = sorted(cell.rglob("*.parquet")) if cell.is_dir() else []
    own = engine is None
    eng = engine or duckdb_engine(memory_limit=memory_limit)
    tmp = out.parent / f".{STAYS}.tmp-{uuid.uuid4().hex[:8]}"
    db: _TableFile | None = None
    try:
        tmp.mkdir(parents=True)
        db = _TableFile(tmp / DB_FILE, memory_limit)
        pp_s, gap_s = rule_seconds(rules)
        if files:
            eng.register_parquet("bs_cell", cell, hive=True)
        else:
            empty = {"pid": pa.string(), "ts": pa.timestamp("us", "UTC"), "tower_id": pa.string()}
            eng.register_arrow("bs_cell", pa.table({k: pa.array([], v) for k, v in empty.items()}))
        tower = lake_dir / "ref" / "tower.parquet"
        towers_from = "SELECT DISTINCT tower_id FROM bs_cell"
        if tower.is_file():
            eng.register_parquet("bs_tower", tower, hive=False)
            towers_from += " UNION SELECT tower_id FROM bs_tower"
        pid_values = eng.sql("SELECT DISTINCT pid FROM bs_cell WHERE pid IS NOT NULL").column(0)
        pid_tbl = _numbered(pid_values, "pn", "pid")
        tower_tbl = _numbered(eng.sql(f"SELECT tower_id FROM ({towers_from}) q WHERE tower_id IS NOT NULL")
                              .column(0), "tk", "tower_id")
        eng.register_arrow("bs_pids", pid_tbl)
        eng.register_arrow("bs_towers", tower_tbl)
        eng.create_table(
            "bs_pings",
            f"""
            SELECT p.pn AS person, {epoch_sql('c.ts')} AS t, w.tk AS place
            FROM bs_cell c JOIN bs_pids p ON p.pid = c.pid JOIN bs_towers w ON w.tower_id = c.tower_id""",
        )
        pings = eng.sql("SELECT COUNT(*) AS n FROM bs_pings").column(0)[0].as_py() or 0
        eng.create_table("bs_stays", stays_sql("bs_pings", pp_s, gap_s))
        eng.drop("bs_pings")
        n_short = _short(eng, lake_dir, rules, tmp, db)
        _anchor(eng, lake_dir, rules, tmp, db)
        days = eng.sql(f"SELECT DISTINCT {structure._midnight('start_s')} AS d0 FROM bs_stays ORDER BY d0")
        pq.write_table(days.cast(pa.schema([("d0", pa.int64())])), tmp / "days.parquet")
        # each tower's cell of the companion rule's grid (null without a position)
        if tower.is_file():
            eng.create_table("bs_grid", tower_grid_sql("bs_towers", "bs_tower", grid_m))
        else:
            eng.create_table("bs_grid", "SELECT tk, CAST(NULL AS BIGINT) AS gk FROM bs_towers")
        n_grid_days = _grid_days(eng, tmp, db)
        # one sort: by local start day, then tower and start (what readers skip row groups by)
        t = eng.sql(
            f"SELECT CAST({day_no('s.start_s')} AS INT) AS d, CAST(s.person AS INT) AS pn, "
            "CAST(s.place AS INT) AS tk, s.start_s, s.end_s, CAST(g.gk AS INT) AS gk FROM bs_stays s "
            "LEFT JOIN bs_grid g ON g.tk = s.place ORDER BY d, tk, s.start_s, pn"
        )
        eng.drop("bs_stays")
        n_stays = _write_days(t, tmp / "stays", db, "stays")
        n_gps = _gps(eng, lake_dir, tmp, rules, pid_tbl, db)
        _src_pids(eng, lake_dir, tmp)
        pq.write_table(pid_tbl, tmp / "pids.parquet")
        pq.write_table(tower_tbl, tmp / "towers.parquet")
        (tmp / "_state.json").write_text(json.dumps(
            {**state, "pings": pings, "stays": n_stays,
             "people": pid_tbl.num_rows, "gps_points": n_gps, "short_stays": n_short,
             "grid_days": n_grid_days},
            indent=1))
        db.close()
        _swap(tmp, out)
        return StaysBuild(out, True, pings, n_stays, pid_tbl.num_rows, time.perf_counter() - t0)
    finally:
        if db is not None:
            db.close()
        if tmp.exists():
            shutil.rmtree(tmp)
        for name in ("bs_cell", "bs_tower", "bs_pids", "bs_towers", "bs_pings", "bs_stays", "bs_gps",
                     "bs_gpids", "bs_ref_tower", "bs_ref_venue", "bs_vt", "bs_grid"):
            eng.drop(name)
        if own:
            eng.close()


def _grid_days(eng: QueryEngine, out: Path, db: _TableFile | None = None) -> int:
    """Write the seconds per (pseudonym, grid cell, local start day) of ``bs_stays`` on the cells of
    ``bs_grid`` (``grid_days/day=…``, part ``grid_days``); their count. Exact sums of whole seconds,
    so any sum of them is the sum of the stays' seconds."""
    t = eng.sql(
        f"SELECT d, pn, gk, d AS dn, secs FROM ("
        f"SELECT CAST({day_no('s.start_s')} AS INT) AS d, CAST(s.person AS INT) AS pn, "
        "CAST(g.gk AS INT) AS gk, CAST(SUM(s.end_s - s.start_s) AS BIGINT) AS secs "
        "FROM bs_stays s JOIN bs_grid g ON g.tk = s.place WHERE g.gk IS NOT NULL GROUP BY 1, 2, 3) q "
        "ORDER BY d, gk, pn"
    )
    return _write_days(t, out / "grid_days", db, "grid_days")


#: the files of the ``pids`` part (:func:`_src_pids`)
PID_FILES = ("src_pids.parquet", "venue_scan.parquet", "camera.parquet", "proximity.parquet")


def _rebuild_pids(
    d: Path, lake_dir: Path, rules: StayRules, engine: QueryEngine | None, memory_limit: str
) -> StaysBuild:
    """A new generation of the derived tables at ``d`` with the ``pids`` part derived again (the other
    files linked, not copied), swapped in like a full build."""
    t0 = time.perf_counter()
    part = _parts(rules, lake_dir, None)["pids"]  # before reading the sources
    out = stays_dir(lake_dir)
    tmp = out.parent / f".{STAYS}.tmp-{uuid.uuid4().hex[:8]}"
    own = engine is None
    eng = engine or duckdb_engine(memory_limit=memory_limit)
    try:
        shutil.copytree(d, tmp, copy_function=os.link)
        for name in (*PID_FILES, "_state.json"):  # linked: replaced, never written through
            (tmp / name).unlink(missing_ok=True)
        _src_pids(eng, lake_dir, tmp)
        state = json.loads((d / "_state.json").read_text())
        state["parts"]["pids"] = part
        (tmp / "_state.json").write_text(json.dumps(state, indent=1))
        _swap(tmp, out)
        return StaysBuild(out, True, int(state.get("pings", 0)), int(state.get("stays", 0)),
                          int(state.get("people", 0)), time.perf_counter() - t0)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if own:
            eng.close()


def _venue_towers(eng: QueryEngine, lake_dir: Path, kinds: Collection[str]) -> bool:
    """``bs_vt``: the nearest tower of each venue of ``kinds`` (``structure.venue_tower_sql``, towers
    numbered as ``bs_towers``); False (and no table) without kinds, towers or venues."""
    if not kinds:
        return False
    for name in ("tower", "venue"):
        if not eng.register_parquet(f"bs_ref_{name}", lake_dir / "ref" / f"{name}.parquet", hive=False):
            return False
    eng.create_table("bs_vt", structure.venue_tower_sql(
        sorted(kinds), "bs_towers", venues="bs_ref_venue", towers_ref="bs_ref_tower"))
    return True


def _short(
    eng: QueryEngine, lake_dir: Path, rules: StayRules, out: Path, db: _TableFile | None = None
) -> int:
    """Write the visit rule's short stays of ``bs_stays`` (whole days, ``short/day=…``, and table
    ``short`` of ``db``); their count."""
    if not _venue_towers(eng, lake_dir, rules.visit_kinds):
        return 0
    short = structure.short_sql("bs_stays", "bs_vt", int(rules.visit_max_minutes * 60))
    t = eng.sql(
        f"SELECT CAST({day_no('start_s')} AS INT) AS d, CAST(person AS INT) AS pn, "
        f"CAST(tower AS INT) AS tk, start_s, end_s, run_s, run_e FROM ("
        f"{structure.short_runs_sql(short, 'bs_stays')}) q "
        "ORDER BY d, tk, start_s, pn"
    )
    eng.drop("bs_vt")
    return _write_days(t, out / "short", db, "short")


def _anchor(
    eng: QueryEngine, lake_dir: Path, rules: StayRules, out: Path, db: _TableFile | None = None
) -> int:
    """Write the stays of ``bs_stays`` a workplace can be inferred from (``anchor/day=…``), each also
    cut to the earliest to the latest of the anchor hours of its start day (``a0``, ``a1``); their
    count."""
    if not _venue_towers(eng, lake_dir, rules.anchor_hours):
        return 0
    h0 = int(min(h[0] for h in rules.anchor_hours.values()) * 3600)
    h1 = int(max(h[1] for h in rules.anchor_hours.values()) * 3600)
    d0 = structure._midnight("start_s")
    t = eng.sql(
        f"SELECT CAST({day_no('start_s')} AS INT) AS d, CAST(person AS INT) AS pn, "
        f"CAST(place AS INT) AS tk, start_s, end_s, GREATEST(start_s, {d0} + {h0}) AS a0, "
        f"LEAST(end_s, {d0} + {h1}) AS a1 FROM bs_stays "
        f"WHERE place IN (SELECT tk FROM bs_vt) AND end_s > {d0} + {h0} AND start_s < {d0} + {h1} "
        "ORDER BY d, tk, start_s, pn"
    )
    eng.drop("bs_vt")
    return _write_days(t, out / "anchor", db, "anchor")


def _src_pids(eng: QueryEngine, lake_dir: Path, out: Path) -> None:
    """Write the pseudonyms of the other traced sources (:data:`PID_SOURCES`) as numbers ``sn`` in
    pseudonym order (``src_pids.parquet``: ``sn, pid, venue``, ``venue`` true for those that scanned
    a venue), and their venue scans, camera sightings and proximity records on these numbers
    (``venue_scan.parquet``: ``sn, t, venue_id, next_t``, ``next_t`` being the time of the same
    pseudonym's next scan (by time, then venue); ``camera.parquet``: ``sn, t, camera_id``;
    ``proximity.parquet``: ``sn, other_sn, t, duration_s, rssi``), ``t`` epoch seconds."""
    parts = []
    for src, cols in PID_SOURCES.items():
        if eng.register_parquet(f"bs_{src}", lake_dir / src, hive=True):
            parts += [f"SELECT {c} AS pid, {src == 'venue_scan'} AS venue FROM bs_{src}" for c in cols]
        else:
            eng.register_arrow(f"bs_{src}", SOURCES[src].empty_table())
    sql = (f"SELECT pid, BOOL_OR(venue) AS venue FROM ({' UNION ALL '.join(parts)}) u WHERE pid IS NOT NULL "
           "GROUP BY pid" if parts else "SELECT CAST(NULL AS VARCHAR) AS pid, FALSE AS venue WHERE 1 = 0")
    t = eng.sql(sql)
    t = t.take(pc.sort_indices(t, [("pid", "ascending")]))
    sk = pa.table({"sn": pa.array(range(1, t.num_rows + 1), pa.int32()),
                   "pid": t.column("pid").cast(pa.string()), "venue": t.column("venue").cast(pa.bool_())})
    pq.write_table(sk, out / "src_pids.parquet")
    eng.register_arrow("bs_sk", sk)
    epoch = epoch_sql("s.ts")
    scans = {
        "venue_scan": f"""
            SELECT sn, t, venue_id, LEAD(t) OVER (PARTITION BY sn ORDER BY t, venue_id) AS next_t FROM (
              SELECT k.sn, {epoch} AS t, s.venue_id FROM bs_venue_scan s
              LEFT JOIN bs_sk k ON k.pid = s.pid WHERE s.ts IS NOT NULL) q""",
        "camera": f"""
            SELECT k.sn, {epoch} AS t, s.camera_id FROM bs_camera s LEFT JOIN bs_sk k ON k.pid = s.pid
            WHERE s.ts IS NOT NULL""",
        "proximity": f"""
            SELECT k.sn, o.sn AS other_sn, {epoch} AS t, CAST(s.duration_s AS BIGINT) AS dur_s,
                   CAST(s.rssi AS INT) AS rssi
            FROM bs_proximity s LEFT JOIN bs_sk k ON k.pid = s.pid LEFT JOIN bs_sk o ON o.pid = s.other_pid
            WHERE s.ts IS NOT NULL""",
    }
    for src, q in scans.items():
        pq.write_table(eng.sql(f"SELECT * FROM ({q}) q ORDER BY t"), out / f"{src}.parquet",
                       compression="none", row_group_size=ROW_GROUP)
    for src in (*PID_SOURCES, "sk"):
        eng.drop(f"bs_{src}")


def _gps(
    eng: QueryEngine,
    lake_dir: Path,
    out: Path,
    rules: StayRules,
    cell_pids: pa.Table,
    db: _TableFile | None = None,
) -> int:
    """Write the GPS points on pseudonym numbers with their time bin and distance cell
    (``gps_pids.parquet``, ``gps/day=…``); their count. (At 100,000 people the points'
    64-character pseudonyms cost a trace more than the points.) A pseudonym of ``cell_pids(pn,
    pid)`` keeps its number there (:func:`_numbered_after`)."""
    gps = lake_dir / "gps"
    if not (gps.is_dir() and any(gps.rglob("*.parquet"))):
        pq.write_table(_numbered(pa.array([], pa.string()), "gn", "pid"), out / "gps_pids.parquet")
        return 0
    eng.register_parquet("bs_gps", gps, hive=True)
    gpids = _numbered_after(
        eng.sql("SELECT DISTINCT pid FROM bs_gps WHERE pid IS NOT NULL").column(0), cell_pids
    )
    eng.register_arrow("bs_gpids", gpids)
    t = eng.sql(
        f"SELECT CAST({day_no('t')} AS INT) AS d, gn, t, x, y, "
        f"{gps_cells('t', 'x', 'y', rules)} FROM ("
        f"SELECT p.gn, {epoch_sql('g.ts')} AS t, g.x, g.y FROM bs_gps g "
        "JOIN bs_gpids p ON p.pid = g.pid WHERE g.ts IS NOT NULL) q ORDER BY d, t, gn"
    )
    n = _write_days(t, out / "gps", db, "gps", db_extra={"k": gps_key("b", "gx")})
    pq.write_table(gpids, out / "gps_pids.parquet")
    return n


def tower_grid_sql(towers: str, ref: str, cell_m: float) -> str:
    """``(tk, gk, place)``: each tower of ``towers(tk, tower_id)`` with the cell of the companion
    rule's grid (``cell_m`` metres, positions from ``ref(tower_id, x, y)``) it is in, as a number
    ``gk`` in the order of the cell's name ``place`` (``gx_gy``)."""
    grid_of = (
        f"CAST(CAST(FLOOR(x / {float(cell_m)}) AS BIGINT) AS VARCHAR) || '_' || "
        f"CAST(CAST(FLOOR(y / {float(cell_m)}) AS BIGINT) AS VARCHAR)"
    )
    return f"""
        SELECT w.tk, DENSE_RANK() OVER (ORDER BY g.place) AS gk, g.place FROM {towers} w
        JOIN (SELECT tower_id, {grid_of} AS place FROM {ref}) g ON g.tower_id = w.tower_id"""


def gps_cells(t: str, x: str, y: str, rules: StayRules) -> str:
    """SQL of a GPS point's time bin ``b`` and distance cell ``gx, gy`` (the GPS detector's grid)."""
    d, bin_s = float(rules.gps_distance_m), rules.gps_bin_minutes * 60
    return (f"{t} // {bin_s} AS b, CAST(FLOOR(CAST({x} AS DOUBLE) / {d}) AS INT) AS gx, "
            f"CAST(FLOOR(CAST({y} AS DOUBLE) / {d}) AS INT) AS gy")


#: the GPS key's factor of the time bin and offset of the distance cell's column (:func:`gps_key`)
GPS_KEY_BIN, GPS_KEY_OFFSET = 1 << 20, 1 << 19


def gps_key(b: str, gx: str) -> str:
    """SQL of a GPS point's key ``k``: its time bin ``b`` and its distance cell's column ``gx`` in one
    number, ``b × 2^20 + gx + 2^19``, so the adjacent column's key is ``k ± 1``. The GPS detector
    joins on it alone, an equality on one column of the points, which DuckDB filters the points
    by while it reads them (a hash filter of the keys wanted: ``pipeline``). Two points with equal
    keys (up to ±1) are in the same bin, or their columns are more than 2^20 - 2 cells apart,
    further than the detector's distance, whatever their coordinates."""
    return f"(CAST({b} AS BIGINT) * {GPS_KEY_BIN} + {gx} + {GPS_KEY_OFFSET})"


def _write_days(
    t: pa.Table, root: Path, db: _TableFile | None = None, table: str = "",
    db_extra: dict[str, str] | None = None,
) -> int:
    """Write ``t`` (sorted by its local day number ``d``) as ``root/day=…/part.parquet``, one file
    per day without the ``d`` column; the number of rows. Uncompressed: every trace reads them
    whole, and decompressing (zstd) took as long as the rest of the read (on disk ~2× the size).
    With ``db``, also as its table ``table`` (without ``d``; with the BIGINT columns ``db_extra``,
    SQL of the others, by name)."""
    d = t.column("d").to_numpy()
    t = t.drop_columns(["d"])
    if db is not None and t.num_rows:
        db.write(table, t, db_extra)
    cuts = [0, *(np.flatnonzero(d[1:] != d[:-1]) + 1).tolist(), len(d)]
    for a, b in itertools.pairwise(cuts):
        if b > a:
            part = root / f"day={_iso(int(d[a]))}"
            part.mkdir(parents=True)
            pq.write_table(t.slice(a, b - a), part / "part.parquet", row_group_size=ROW_GROUP,
                           compression="none")
    return t.num_rows


#: DuckDB column types of the derived tables' Arrow types
_SQL_TYPES = {pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE"}


class _TableFile:
    """The DuckDB database file :data:`DB_FILE` of a generation being written (see the module
    docstring): tables written from Arrow, in no particular row order (written in parallel)."""

    def __init__(self, path: Path, memory_limit: str = "") -> None:
        self.con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(path))
        self.con.execute("SET preserve_insertion_order = false")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")

    def write(self, name: str, t: pa.Table, extra: dict[str, str] | None = None) -> None:
        """Table ``name`` of the rows of ``t``, and the BIGINT columns ``extra`` (SQL of ``t``'s
        columns, by name) computed as they are written."""
        assert self.con is not None and name in DB_TABLES
        # coordinates stored plain: they barely compress (~same size) and read faster so
        cols = ", ".join(
            f"{f.name} {_SQL_TYPES[f.type]}"
            + (" USING COMPRESSION uncompressed" if pa.types.is_floating(f.type) else "")
            for f in t.schema
        )
        extra = extra or {}
        cols += "".join(f", {k} BIGINT" for k in extra)
        values = "".join(f", {v}" for v in extra.values())
        self.con.register("zk_rows", t)
        try:
            self.con.execute(f"CREATE TABLE {name} ({cols})")
            self.con.execute(f"INSERT INTO {name} SELECT *{values} FROM zk_rows")
        finally:
            self.con.unregister("zk_rows")

    def close(self) -> None:
        """Write the file out (a checkpoint, no write-ahead log left) and close it."""
        if self.con is not None:
            self.con.close()
            self.con = None


def _numbered(values: pa.Array | pa.ChunkedArray, num: str, name: str) -> pa.Table:
    values = pc.unique(values)
    values = values.take(pc.sort_indices(values))
    return pa.table({num: pa.array(range(1, len(values) + 1), pa.int32()), name: values.cast(pa.string())})


def _numbered_after(values: pa.Array | pa.ChunkedArray, known: pa.Table) -> pa.Table:
    """``(gn, pid)``: the distinct ``values`` in order, each with its number ``pn`` in ``known(pn,
    pid)``, or when not there a number after all of ``known``'s, in order."""
    t = _numbered(values, "gn", "pid")
    pids = t.column("pid")
    idx = pc.index_in(pids, value_set=known.column("pid").combine_chunks())
    found = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    pn = known.column("pn").to_numpy()
    gn = np.empty(len(pids), dtype=np.int64)
    gn[found] = pn[idx.drop_null().to_numpy()]
    top = int(pn.max()) if len(pn) else 0
    gn[~found] = np.arange(top + 1, top + 1 + int((~found).sum()))
    return pa.table({"gn": pa.array(gn, pa.int32()), "pid": pids})


def _iso(dayno: int) -> str:
    from datetime import date, timedelta

    return (date(1970, 1, 1) + timedelta(days=dayno)).isoformat()


def _swap(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp``: readers see the old or the new directory (or, for an instant,
    none, and derive the stays from the pings). The previous generation is kept until the next
    build, so a trace that started reading it meanwhile can finish."""
    for old in out.parent.glob(f".{STAYS}.old-*"):
        shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, out.parent / f".{STAYS}.old-{uuid.uuid4().hex[:8]}")
    os.replace(tmp, out)

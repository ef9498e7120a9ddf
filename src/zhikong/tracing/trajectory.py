"""One person's trajectory from the lake, for the person page's map (allowed roles only).

The lake is read through the engine boundary (``zhikong.engine``) with the person's keyed hashes
(``Person.id_number_hash`` / ``phone_hash`` are the lake's ``pid``). Records become time-ordered
points with a position from the reference tables:

* ``cell``: consecutive records at the same tower, at most ``GAP_S`` apart, are one stay;
* ``venue_scan`` and ``camera``: consecutive scans/sightings at the same venue/camera likewise;
* ``gps``: points averaged per ``GPS_BUCKET_S`` so a 14-day track stays a few thousand points.

Records whose place has no position (missing reference row) are left out and counted. The SQL is
written once in DuckDB's dialect with ``zk_`` functions, so it runs on either engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from zhikong.core.errors import InvalidInput
from zhikong.core.time import CHINA_TZ
from zhikong.engine import QueryEngine
from zhikong.tracing.columns import epoch_sql

#: the sources drawn on the map, in legend order
SOURCES = ("cell", "venue_scan", "camera", "gps")
#: records at one place further apart than this start a new stay (seconds)
GAP_S = 30 * 60
#: GPS points are averaged over buckets of this length (seconds)
GPS_BUCKET_S = 10 * 60
#: the default window: this many days ending with the last day of data available
DEFAULT_DAYS = 14
#: the longest window one request may ask for
MAX_DAYS = 62

_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
_PID = re.compile(r"^[0-9A-Za-z_\-+/=]{1,128}$")


@dataclass
class TrajectoryPoint:
    source: str
    place: str
    lat: float
    lon: float
    start_at: datetime
    end_at: datetime
    records: int

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "place": self.place, "lat": self.lat, "lon": self.lon,
                "start": self.start_at.astimezone(CHINA_TZ).isoformat(timespec="minutes"),
                "end": self.end_at.astimezone(CHINA_TZ).isoformat(timespec="minutes"),
                "records": self.records}


@dataclass
class Trajectory:
    first_day: date | None
    last_day: date | None
    points: list[TrajectoryPoint] = field(default_factory=list)
    #: records found without a position (their place is missing from the reference table)
    unplaced: int = 0

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(SOURCES, 0)
        for p in self.points:
            out[p.source] += 1
        return out


def last_data_day(lake_dir: Path) -> date | None:
    """The latest ``day=`` partition of any mapped source (from the directory names only)."""
    days: list[date] = []
    for source in SOURCES:
        d = lake_dir / source
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = _DAY.match(p.name)
            if m and p.is_dir():
                days.append(date.fromisoformat(m.group(1)))
    return max(days) if days else None


def resolve_window(lake_dir: Path, first: date | None, last: date | None) -> tuple[date, date] | None:
    """The inclusive local-day window to show (``None`` when the lake has no data and none was given)."""
    if last is None:
        last = last_data_day(lake_dir) if first is None else first + timedelta(days=DEFAULT_DAYS - 1)
        if last is None:
            return None
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(f"the window starts ({first}) after it ends ({last})", field="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"the window may span at most {MAX_DAYS} days", field="to")
    return first, last


def _ts(at: datetime) -> str:
    return f"CAST('{at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S+00:00')}' AS TIMESTAMPTZ)"


def _in(pids: list[str]) -> str:
    for p in pids:
        if not _PID.match(p):
            raise InvalidInput("not a valid pseudonym", field="pid")
    return ", ".join(f"'{p}'" for p in pids)


def _runs_sql(table: str, key: str, pids: str, lo: str, hi: str) -> str:
    """Consecutive records at one place (``key``), at most ``GAP_S`` apart, as one run."""
    return f"""
        WITH r AS (
            SELECT {key} AS place_id, ts,
                   LAG({key}) OVER (ORDER BY ts, {key}) AS prev_place,
                   LAG(ts) OVER (ORDER BY ts, {key}) AS prev_ts
            FROM {table}
            WHERE pid IN ({pids}) AND ts >= {lo} AND ts < {hi}
        ), g AS (
            SELECT place_id, ts,
                   SUM(CASE WHEN prev_place IS NULL OR prev_place <> place_id
                             OR {epoch_sql('ts')} - {epoch_sql('prev_ts')} > {GAP_S} THEN 1 ELSE 0 END)
                       OVER (ORDER BY ts, place_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
            FROM r
        )
        SELECT run, MIN(place_id) AS place_id, MIN(ts) AS start_ts, MAX(ts) AS end_ts, COUNT(*) AS n
        FROM g GROUP BY run
    """


def query_trajectory(
    engine: QueryEngine, lake_dir: Path, pids: list[str], first: date, last: date
) -> Trajectory:
    """The points of the people with these pseudonyms from local day ``first`` to ``last`` (inclusive)."""
    traj = Trajectory(first, last)
    pids = [p for p in dict.fromkeys(pids) if p]
    if not pids:
        return traj
    plist = _in(pids)
    lo = _ts(datetime(first.year, first.month, first.day, tzinfo=CHINA_TZ))
    end = last + timedelta(days=1)
    hi = _ts(datetime(end.year, end.month, end.day, tzinfo=CHINA_TZ))
    ref = lake_dir / "ref"
    places = {
        "cell": ("tower_id", "tower", "CAST(p.tower_id AS VARCHAR)"),
        "venue_scan": ("venue_id", "venue", "CAST(p.name AS VARCHAR)"),
        "camera": ("camera_id", "camera", "CAST(p.camera_id AS VARCHAR)"),
    }
    used: list[str] = []
    try:
        for source, (key, ref_name, label) in places.items():
            table = f"tj_{source}"
            if not engine.register_parquet(table, lake_dir / source):
                continue
            used.append(table)
            runs = _runs_sql(table, key, plist, lo, hi)
            ref_table = f"tj_ref_{ref_name}"
            if engine.register_parquet(ref_table, ref / f"{ref_name}.parquet"):
                used.append(ref_table)
                sql = f"""
                    WITH runs AS ({runs})
                    SELECT runs.place_id AS place_id, {label} AS place, p.lat AS lat, p.lon AS lon,
                           runs.start_ts AS start_ts, runs.end_ts AS end_ts, runs.n AS n
                    FROM runs LEFT JOIN {ref_table} p ON p.{key} = runs.place_id
                    ORDER BY start_ts
                """
            else:
                sql = f"""
                    WITH runs AS ({runs})
                    SELECT place_id, place_id AS place,
                           CAST(NULL AS DOUBLE) AS lat, CAST(NULL AS DOUBLE) AS lon,
                           start_ts, end_ts, n
                    FROM runs ORDER BY start_ts
                """
            _collect(traj, source, engine.sql(sql).to_pylist())
        if engine.register_parquet("tj_gps", lake_dir / "gps"):
            used.append("tj_gps")
            bucket = f"CAST(FLOOR({epoch_sql('ts')} / {GPS_BUCKET_S}) AS BIGINT)"
            sql = f"""
                SELECT {bucket} AS b, AVG(lat) AS lat, AVG(lon) AS lon, MIN(ts) AS start_ts,
                       MAX(ts) AS end_ts, COUNT(*) AS n
                FROM tj_gps
                WHERE pid IN ({plist}) AND ts >= {lo} AND ts < {hi}
                GROUP BY {bucket}
                ORDER BY start_ts
            """
            _collect(traj, "gps", engine.sql(sql).to_pylist())
    finally:
        engine.drop(*used)
    traj.points.sort(key=lambda p: (p.start_at, p.end_at, SOURCES.index(p.source)))
    return traj


def _collect(traj: Trajectory, source: str, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r["lat"] is None or r["lon"] is None:
            traj.unplaced += int(r["n"])
            continue
        place = r.get("place") or r.get("place_id") or ""
        traj.points.append(TrajectoryPoint(source, str(place), float(r["lat"]), float(r["lon"]),
                                           _aware(r["start_ts"]), _aware(r["end_ts"]), int(r["n"])))


def _aware(v: datetime) -> datetime:
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)

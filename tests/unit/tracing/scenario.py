"""Hand-made lake fixtures: write rows of each source in the lake layout, and a small scenario."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from zhikong.core.time import CHINA_TZ
from zhikong.lake.schemas import REFERENCE, SOURCES, TIME_COLUMN
from zhikong.tracing.lake import LEDGER_SCHEMA


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) time in March 2022."""
    return datetime(2022, 3, day, hour, minute, tzinfo=CHINA_TZ)


def write_source(lake: Path, source: str, rows: list[dict[str, Any]]) -> None:
    schema = SOURCES[source]
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_day[r[TIME_COLUMN[source]].astimezone(CHINA_TZ).date().isoformat()].append(r)
    for day, part in by_day.items():
        d = lake / source / f"day={day}"
        d.mkdir(parents=True, exist_ok=True)
        full = [{f.name: r.get(f.name) for f in schema} for r in part]
        pq.write_table(pa.Table.from_pylist(full, schema=schema), d / "part-0.parquet")


def write_ref(lake: Path, name: str, rows: list[dict[str, Any]]) -> None:
    schema = REFERENCE[name]
    (lake / "ref").mkdir(parents=True, exist_ok=True)
    full = [{f.name: r.get(f.name) for f in schema} for r in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), lake / "ref" / f"{name}.parquet")


def ledger(rows: list[tuple[str | None, str | None, str | None]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"pid_id": a, "pid_phone": b, "household": c} for a, b, c in rows], schema=LEDGER_SCHEMA
    )


def pings(pid: str, tower: str, start: datetime, minutes: int, every: int = 10) -> list[dict[str, Any]]:
    return [
        {"pid": pid, "ts": start + timedelta(minutes=m), "tower_id": tower, "event": "periodic"}
        for m in range(0, minutes + 1, every)
    ]


def gps_track(
    pid: str, start: datetime, minutes: int, x: float, y: float, every: int = 5
) -> list[dict[str, Any]]:
    return [
        {
            "pid": pid,
            "ts": start + timedelta(minutes=m),
            "lat": 29.4,
            "lon": 106.5,
            "x": x,
            "y": y,
            "accuracy_m": 5.0,
        }
        for m in range(0, minutes, every)
    ]


def build_scenario(lake: Path, pid: Callable[[str], str] = str) -> pa.Table:
    """Case A (onset 12 Mar) and people around it; returns the ledger table.

    B same household · C restaurant 60 min · D market (same place only) · E proximity close 20 min ·
    F GPS within 5 m for 20 min · G train 2 rows away · H train 7 rows away · I camera co-sighting ·
    J same tower only · K restaurant with C the next day (secondary) · Z before the window.
    """
    write_ref(
        lake,
        "venue",
        [
            {"venue_id": "V-REST", "name": "小面馆", "kind": "restaurant", "x": 100.0, "y": 100.0},
            {"venue_id": "V-MKT", "name": "农贸市场", "kind": "market", "x": 5000.0, "y": 5000.0},
        ],
    )
    write_ref(
        lake,
        "tower",
        [
            {"tower_id": "T1", "x": 100.0, "y": 100.0, "radius_m": 500.0},
            {"tower_id": "T2", "x": 3000.0, "y": 3000.0, "radius_m": 500.0},
            {"tower_id": "T3", "x": 350.0, "y": 300.0, "radius_m": 500.0},
        ],
    )
    write_ref(lake, "camera", [{"camera_id": "CAM1", "place_code": "", "x": 10.0, "y": 10.0}])
    write_source(
        lake,
        "venue_scan",
        [
            {"venue_id": "V-REST", "ts": at(11, 12, 0), "pid": pid("idA")},
            {"venue_id": "V-REST", "ts": at(11, 12, 5), "pid": pid("idC")},
            {"venue_id": "V-MKT", "ts": at(11, 9, 0), "pid": pid("idA")},
            {"venue_id": "V-MKT", "ts": at(11, 9, 10), "pid": pid("idD")},
            {"venue_id": "V-REST", "ts": at(12, 19, 0), "pid": pid("idC")},
            {"venue_id": "V-REST", "ts": at(12, 19, 0), "pid": pid("idK")},
            {"venue_id": "V-REST", "ts": at(1, 19, 0), "pid": pid("idA")},
            {"venue_id": "V-REST", "ts": at(1, 19, 0), "pid": pid("idZ")},
        ],
    )
    write_source(
        lake,
        "proximity",
        [
            {"pid": pid("phA"), "other_pid": pid("phE"), "ts": at(11, 15), "duration_s": 1200, "rssi": -60},
            {"pid": pid("phE"), "other_pid": pid("phA"), "ts": at(11, 15), "duration_s": 1200, "rssi": -62},
        ],
    )
    write_source(
        lake,
        "gps",
        gps_track(pid("phA"), at(11, 17), 20, 1000.0, 1000.0)
        + gps_track(pid("phF"), at(11, 17), 20, 1003.0, 1004.0),
    )
    write_source(
        lake,
        "travel",
        [
            {
                "pid": who,
                "mode": "train",
                "vehicle": "G1234",
                "carriage": "05",
                "seat": seat,
                "origin_city": "武汉市",
                "origin_code": "420100",
                "depart_ts": at(10, 8),
                "ts": at(10, 12),
            }
            for who, seat in ((pid("idA"), "07A"), (pid("idG"), "05C"), (pid("idH"), "14F"))
        ],
    )
    write_source(
        lake,
        "camera",
        [
            {"camera_id": "CAM1", "ts": at(11, 20, 0), "pid": pid("idA"), "score": 0.9},
            {"camera_id": "CAM1", "ts": at(11, 20, 1), "pid": pid("idI"), "score": 0.9},
        ],
    )
    write_source(
        lake, "cell", pings(pid("phA"), "T1", at(11, 22), 120) + pings(pid("phJ"), "T1", at(11, 22), 60)
    )
    return ledger(
        [
            (pid("idA"), pid("phA"), "H1"),
            (pid("idB"), pid("phB"), "H1"),
            (pid("idC"), pid("phC"), "H2"),
            (pid("idD"), None, "H3"),
            (pid("idE"), pid("phE"), "H4"),
            (pid("idF"), pid("phF"), "H5"),
            (pid("idG"), None, None),
            (pid("idH"), None, None),
            (pid("idI"), None, None),
            (pid("idJ"), pid("phJ"), None),
            (pid("idK"), None, "H6"),
            (pid("idZ"), None, None),
        ]
    )

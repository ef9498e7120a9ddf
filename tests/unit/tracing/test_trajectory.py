"""The trajectory query on a small hand-made lake (DuckDB through the engine boundary)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.unit.tracing.scenario import at, gps_track, pings, write_ref, write_source
from zhikong.core.errors import InvalidInput
from zhikong.engine import duckdb_engine
from zhikong.tracing.trajectory import last_data_day, query_trajectory, resolve_window


def make_lake(lake: Path) -> None:
    write_ref(lake, "tower", [{"tower_id": "T1", "lat": 29.40, "lon": 106.50},
                              {"tower_id": "T2", "lat": 29.45, "lon": 106.55}])
    write_ref(lake, "venue", [{"venue_id": "V1", "name": "菜市场", "kind": "market",
                               "lat": 29.41, "lon": 106.51}])
    write_ref(lake, "camera", [{"camera_id": "CAM1", "place_code": "", "lat": 29.42, "lon": 106.52}])
    write_source(lake, "cell",
                 pings("PH", "T1", at(10, 8), 60)          # one stay 08:00-09:00
                 + pings("PH", "T2", at(10, 9, 30), 20)    # then T2
                 + pings("PH", "T1", at(10, 12), 10)       # back at T1: a new stay
                 + pings("OTHER", "T2", at(10, 8), 60)     # somebody else
                 + pings("PH", "T9", at(11, 8), 10))       # a tower missing from ref
    write_source(lake, "venue_scan", [{"venue_id": "V1", "ts": at(10, 10), "pid": "ID"},
                                      {"venue_id": "V1", "ts": at(10, 10, 5), "pid": "ID"},
                                      {"venue_id": "V1", "ts": at(2, 10), "pid": "ID"}])  # outside window
    write_source(lake, "camera", [{"camera_id": "CAM1", "ts": at(10, 11), "pid": "ID", "score": 0.9}])
    write_source(lake, "gps", gps_track("PH", at(10, 14), 30, 0.0, 0.0))


def test_trajectory_points_in_time_order(tmp_path: Path) -> None:
    make_lake(tmp_path)
    assert last_data_day(tmp_path) == date(2022, 3, 11)
    first, last = resolve_window(tmp_path, None, None) or (None, None)
    assert (first, last) == (date(2022, 2, 26), date(2022, 3, 11))
    with duckdb_engine() as eng:
        traj = query_trajectory(eng, tmp_path, ["ID", "PH"], date(2022, 3, 5), date(2022, 3, 11))
    got = [(p.source, p.place, p.start_at, p.end_at, p.records) for p in traj.points]
    assert got[:5] == [
        ("cell", "T1", at(10, 8), at(10, 9), 7),
        ("cell", "T2", at(10, 9, 30), at(10, 9, 50), 3),
        ("venue_scan", "菜市场", at(10, 10), at(10, 10, 5), 2),
        ("camera", "CAM1", at(10, 11), at(10, 11), 1),
        ("cell", "T1", at(10, 12), at(10, 12, 10), 2),
    ]
    gps = [p for p in traj.points if p.source == "gps"]
    assert len(gps) == 3 and sum(p.records for p in gps) == 6  # 10-minute buckets of 5-minute points
    assert traj.unplaced == 2  # T9 has no position
    assert traj.counts() == {"cell": 3, "venue_scan": 1, "camera": 1, "gps": 3}
    assert traj.points[0].as_json()["start"] == "2022-03-10T08:00+08:00"


def test_other_people_and_days_are_not_shown(tmp_path: Path) -> None:
    make_lake(tmp_path)
    with duckdb_engine() as eng:
        assert query_trajectory(eng, tmp_path, ["NOBODY"], date(2022, 3, 1), date(2022, 3, 14)).points == []
        assert query_trajectory(eng, tmp_path, [], date(2022, 3, 1), date(2022, 3, 14)).points == []
        early = query_trajectory(eng, tmp_path, ["ID"], date(2022, 3, 2), date(2022, 3, 2))
    assert [(p.source, p.start_at) for p in early.points] == [("venue_scan", at(2, 10))]


def test_empty_lake_and_bad_windows(tmp_path: Path) -> None:
    assert resolve_window(tmp_path, None, None) is None
    with duckdb_engine() as eng:
        assert query_trajectory(eng, tmp_path, ["PH"], date(2022, 3, 1), date(2022, 3, 2)).points == []
    d = date(2022, 3, 10)
    assert resolve_window(tmp_path, d, None) == (d, d + timedelta(days=13))
    with pytest.raises(InvalidInput):
        resolve_window(tmp_path, d, d - timedelta(days=1))
    with pytest.raises(InvalidInput):
        resolve_window(tmp_path, d, d + timedelta(days=100))
    with duckdb_engine() as eng, pytest.raises(InvalidInput):
        query_trajectory(eng, tmp_path, ["x' OR 1=1 --"], d, d)

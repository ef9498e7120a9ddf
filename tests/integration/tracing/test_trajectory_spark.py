"""The person trajectory query gives the same points on Spark as on DuckDB (engine-agnostic SQL)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.integration.tracing.test_backends import spark, spark_engine  # noqa: F401 - fixtures
from tests.unit.tracing.test_trajectory import make_lake
from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.tracing.trajectory import query_trajectory

pytestmark = pytest.mark.spark


def test_trajectory_is_identical_on_duckdb_and_spark(spark_engine: QueryEngine, tmp_path: Path) -> None:  # noqa: F811
    make_lake(tmp_path)
    window = (date(2022, 3, 1), date(2022, 3, 11))
    with duckdb_engine() as eng:
        expected = query_trajectory(eng, tmp_path, ["ID", "PH"], *window)
    got = query_trajectory(spark_engine, tmp_path, ["ID", "PH"], *window)
    assert len(expected.points) == 9  # make_lake: 3 stays, 2 scan runs, 1 sighting, 3 GPS buckets
    assert [p.as_json() for p in got.points] == [p.as_json() for p in expected.points]
    assert got.unplaced == expected.unplaced == 2

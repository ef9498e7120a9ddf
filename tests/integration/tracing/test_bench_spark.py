"""The tracing benchmark's compared query on Spark, at 1,000 people × 14 days: same answer as DuckDB.

This is ``benchmarks/bench_tracing.py --peers duckdb,spark --full none`` on a generated
1,000-person world, run in CI (the issue's scale check): the same index cases, the same lake with
its derived cell stays, the same SQL on both engines, and the evidence tables must be equal. It
times nothing (timings are the benchmark's job); it proves that the Spark backend runs the
benchmark and agrees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.bench_tracing import normalise, pick_cases, run_sql, work_lake

from tests.integration.tracing.test_backends import spark, spark_engine  # noqa: F401 - fixtures
from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.evaluation.world import World, world_lake
from zhikong.sim.params import SimParams
from zhikong.sim.service import generate_world
from zhikong.tracing import stays

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def bench_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    out = tmp_path_factory.mktemp("world1k")
    generate_world(out, SimParams(seed=5, people=1000, days=14))
    world = World(out)
    lake = work_lake(world_lake(world), tmp_path_factory.mktemp("bench") / "lake")
    assert stays.build_stays(lake, force=True).built
    return world, lake


def test_spark_runs_the_tracing_benchmark_at_1000_people(
    spark_engine: QueryEngine,  # noqa: F811
    bench_lake: tuple[World, Path],
) -> None:
    world, lake = bench_lake
    assert world.params["people"] == 1000 and world.params["days"] == 14
    cases = pick_cases(world, 100)
    assert len(cases) == 100
    with duckdb_engine() as eng:
        expected: Any = normalise(run_sql(eng, lake, world, cases)[0])
    got = normalise(run_sql(spark_engine, lake, world, cases)[0])
    # a 1,000-person world gives thousands of evidence rows from every compared source
    assert len(expected) > 1000
    sources = set(expected["source"])
    assert {"cell", "venue_scan", "ledger"} <= sources <= {"cell", "venue_scan", "ledger", "proximity"}
    assert got.equals(expected)

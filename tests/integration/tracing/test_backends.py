"""The same engine checks and the same trace on DuckDB and Spark: identical results.

Spark runs behind the ``spark`` marker with one session for the module (a session start costs
~15 s); CI runs it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.engine.test_engine import check_engine_contract
from tests.unit.tracing.scenario import at, build_scenario
from tests.unit.tracing.test_roster import roster_lake
from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.tracing import stays
from zhikong.tracing.policy import load_policy
from zhikong.tracing.trace import IndexCase, sort_evidence, trace

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark")
    from zhikong.engine.backends.spark import spark_session

    # no broadcast joins: the test data is tiny, and the visit detector's dozens of concurrent
    # broadcasts ran the 1 GiB local driver out of memory on a loaded machine (results are the same)
    conf = {
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.autoBroadcastJoinThreshold": "-1",
    }
    session = spark_session("local[2]", "zhikong-tests", conf)
    session.sparkContext.setLogLevel("ERROR")
    yield session


@pytest.fixture
def spark_engine(spark: Any) -> Iterator[QueryEngine]:
    from zhikong.engine.backends.spark import SparkEngine

    eng = SparkEngine(spark)
    yield eng
    eng.close()


def test_spark_engine_contract(spark_engine: QueryEngine, tmp_path: Path) -> None:
    check_engine_contract(spark_engine, tmp_path)


def _run(
    eng: QueryEngine, lake: Path, derive: bool = False
) -> tuple[list[tuple[str, str, int, float]], pd.DataFrame]:
    led = build_scenario(lake)
    # A is a pupil on a class roster: the class detector runs on both engines
    roster_lake(lake, [("SCH", "1班", "idA"), ("SCH", "1班", "idZ"), ("SCH", "2班", "idH")])
    if derive:  # the lake's cell stays derived once (DuckDB, as ingest does), read by the engine
        assert stays.build_stays(lake).built
    cases = [IndexCase("A", "idA", at(12, 0), at(13, 0)), IndexCase("C", "idC", at(12, 12), at(13, 0))]
    r = trace(eng, lake, led, cases, load_policy())
    contacts = sorted((c.case_key, c.contact, c.hop, round(c.score, 6)) for c in r.contacts)
    return contacts, sort_evidence(r.evidence).drop(columns=["via"])


def test_trace_is_identical_on_duckdb_and_spark(spark_engine: QueryEngine, tmp_path: Path) -> None:
    with duckdb_engine() as duck:
        d_contacts, d_ev = _run(duck, tmp_path / "d")
    s_contacts, s_ev = _run(spark_engine, tmp_path / "s")
    assert d_contacts and d_contacts == s_contacts
    assert ("A", "idZ") in {(k, c) for k, c, _, _ in d_contacts}
    pd.testing.assert_frame_equal(d_ev, s_ev, check_dtype=False)


def test_spark_reads_the_derived_stays_with_identical_results(
    spark_engine: QueryEngine, tmp_path: Path
) -> None:
    with duckdb_engine() as duck:
        d_contacts, d_ev = _run(duck, tmp_path / "d")
    s_contacts, s_ev = _run(spark_engine, tmp_path / "s", derive=True)
    assert stays.fresh(tmp_path / "s", load_policy().rules) is not None
    assert d_contacts and d_contacts == s_contacts
    pd.testing.assert_frame_equal(d_ev, s_ev, check_dtype=False)

"""The engine boundary on DuckDB (the Spark run of the same checks is in tests/integration/tracing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zhikong.core.config import Settings
from zhikong.core.errors import ConfigError, EngineError, InvalidInput, MissingExtra
from zhikong.engine import DUCKDB, SPARK, Dialect, QueryEngine, duckdb_engine, open_engine


def check_engine_contract(eng: QueryEngine, tmp_path: Path) -> None:
    """Shared checks, run on every backend."""
    assert eng.sql("SELECT 1 + 1 AS two").to_pylist() == [{"two": 2}]
    eng.register_arrow("people", pa.table({"pid": ["a", "b", "c"], "n": [1, 2, 3]}))
    for day, rows in (("2022-03-01", [("a", 10)]), ("2022-03-02", [("b", 20), ("c", 30)])):
        d = tmp_path / "ds" / f"day={day}"
        d.mkdir(parents=True)
        pq.write_table(
            pa.table({"pid": [r[0] for r in rows], "v": [r[1] for r in rows]}), d / "part-0.parquet"
        )
    assert eng.register_parquet("ds", tmp_path / "ds")
    assert not eng.register_parquet("nothing", tmp_path / "missing")
    got = eng.sql(
        "SELECT p.pid, p.n, d.v, CAST(d.day AS VARCHAR) AS day FROM people p JOIN ds d ON d.pid = p.pid "
        "ORDER BY p.pid"
    ).to_pylist()
    assert got == [
        {"pid": "a", "n": 1, "v": 10, "day": "2022-03-01"},
        {"pid": "b", "n": 2, "v": 20, "day": "2022-03-02"},
        {"pid": "c", "n": 3, "v": 30, "day": "2022-03-02"},
    ]
    eng.create_table("big", "SELECT pid, v * 2 AS w FROM ds WHERE v > 10")
    assert eng.sql("SELECT SUM(w) AS s FROM big").to_pylist() == [{"s": 100}]
    eng.create_table("big", "SELECT pid FROM ds")  # replaced, not an error
    assert eng.scalar("SELECT COUNT(*) FROM big") == 3
    ts = eng.scalar("SELECT CAST(zk_epoch_s(CAST('2020-01-01 00:00:00+00:00' AS TIMESTAMPTZ)) AS BIGINT)")
    assert ts == 1577836800
    with pytest.raises(EngineError, match=eng.dialect.name):
        eng.sql("SELECT no_such_column FROM people")
    with pytest.raises(InvalidInput):
        eng.create_table("bad name; drop", "SELECT 1")
    eng.register_arrow(
        "nobody", pa.schema([("pid", pa.string()), ("ts", pa.timestamp("us", tz="UTC"))]).empty_table()
    )
    assert eng.scalar("SELECT COUNT(*) FROM nobody") == 0
    eng.drop("big")
    with pytest.raises(EngineError):
        eng.sql("SELECT * FROM big")


def test_duckdb_engine_contract(tmp_path: Path) -> None:
    with duckdb_engine(threads=1, memory_limit="512MB") as eng:
        check_engine_contract(eng, tmp_path)


def test_dialect_table_names_backend_and_feature() -> None:
    assert "unix_timestamp(ts)" in SPARK.render("SELECT zk_epoch_s(ts) FROM t")
    assert "epoch(ts)" in DUCKDB.render("SELECT zk_epoch_s(ts) FROM t")
    lame = Dialect("lame", "spark")
    with pytest.raises(EngineError, match="lame backend does not support epoch_s"):
        lame.render("SELECT zk_epoch_s(ts) FROM t")
    with pytest.raises(EngineError, match="spark backend does not support transactions"):
        SPARK.require("transactions")
    with pytest.raises(EngineError, match="unknown engine feature"):
        DUCKDB.render("SELECT zk_teleport(x) FROM t")


def test_open_engine_rejects_unknown_backend(settings: object) -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        open_engine(backend="oracle")


def test_missing_pyspark_gives_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    from zhikong.engine.backends.spark import SparkEngine

    with pytest.raises(MissingExtra, match=r"zhikong\[spark\]"):
        SparkEngine()


def test_tracing_imports_without_pyspark_loaded() -> None:
    code = (
        "import sys; import zhikong.tracing.trace, zhikong.tracing.service, zhikong.engine, "
        "zhikong.evaluation.tracing; assert 'pyspark' not in sys.modules, 'pyspark loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_open_engine_spills_under_the_data_dir(settings: Settings) -> None:
    eng = open_engine(settings, "duckdb")
    try:
        where = eng.scalar("SELECT current_setting('temp_directory')")
    finally:
        eng.close()
    assert where == str(settings.data_dir / "tmp" / "duckdb")


@pytest.mark.parametrize(
    ("method", "what"),
    [("create_table", "create table"), ("create_view", "create view"), ("keep_rows", "keep rows as")],
)
def test_a_failing_statement_names_what_it_was_making(method: str, what: str) -> None:
    with duckdb_engine() as eng:
        eng.create_table("kept", "SELECT 1 AS a")
        with pytest.raises(EngineError, match=f"duckdb: cannot {what} broken: .*no_such_table"):
            getattr(eng, method)("broken", "SELECT * FROM no_such_table")
        # the failure left the other tables alone
        assert eng.sql("SELECT a FROM kept").to_pylist() == [{"a": 1}]

"""The Spark backend: PySpark, loaded lazily (``pip install 'zhikong[spark]'``).

The master comes from ``Settings.spark_master`` (``local[2]`` by default; a cluster's
``spark://host:7077`` or ``yarn`` in production). The session runs in UTC so timestamps mean the
same as on DuckDB, and Arrow transfer is on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from zhikong.core.errors import MissingExtra
from zhikong.engine.base import QueryEngine
from zhikong.engine.dialects import SPARK

if TYPE_CHECKING:
    import pyarrow as pa


def _common_root(paths: list[str]) -> str:
    root = os.path.commonpath(paths)
    # the dataset root is the directory above the first ``key=value`` partition directory
    parts = root.split(os.sep)
    for i, part in enumerate(parts):
        if "=" in part:
            return os.sep.join(parts[:i]) or os.sep
    return root if os.path.isdir(root) else os.path.dirname(root)


def spark_session(
    master: str = "local[2]", app_name: str = "zhikong", conf: dict[str, str] | None = None
) -> Any:
    """A (shared) SparkSession; raises ``MissingExtra`` when PySpark is not installed."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise MissingExtra("pyspark", "spark") from e
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    for k, v in (conf or {}).items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


class SparkEngine(QueryEngine):
    dialect = SPARK

    def __init__(self, session: Any | None = None, *, master: str = "local[2]") -> None:
        self.spark = session if session is not None else spark_session(master)
        self._cached: dict[str, Any] = {}

    def _execute(self, sql: str) -> pa.Table:
        df = self.spark.sql(sql)
        return df.toArrow()

    def _register_parquet(self, name: str, paths: list[str], hive: bool) -> None:
        reader = self.spark.read
        if hive:
            reader = reader.option("basePath", _common_root(paths))
        reader.parquet(*paths).createOrReplaceTempView(name)

    def _register_arrow(self, name: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            from pyspark.sql.pandas.types import from_arrow_schema

            df = self.spark.createDataFrame([], schema=from_arrow_schema(table.schema))
        else:
            df = self.spark.createDataFrame(table)
        df.createOrReplaceTempView(name)

    def _materialise(self, name: str, sql: str) -> None:
        # computed once with its lineage cut: a table built on cached tables otherwise carries all
        # their plans along, and a trace stacks a dozen (the driver ran out of memory)
        df = self.spark.sql(sql).localCheckpoint(eager=True)
        self._cached[name] = df
        df.createOrReplaceTempView(name)

    def _drop(self, name: str) -> None:
        df = self._cached.pop(name, None)
        if df is not None:
            df.unpersist()
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        for df in self._cached.values():
            df.unpersist()
        self._cached.clear()

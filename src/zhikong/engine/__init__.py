"""The lake query engine boundary (DuckDB by default, Spark for a city).

Public API: :class:`QueryEngine` and :func:`open_engine` / :func:`duckdb_engine`. Spark is imported
only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zhikong.engine.base import QueryEngine
from zhikong.engine.dialects import DUCKDB, FUNCTIONS, SPARK, Dialect

if TYPE_CHECKING:
    from zhikong.core.config import Settings

__all__ = ["DUCKDB", "FUNCTIONS", "SPARK", "Dialect", "QueryEngine", "duckdb_engine", "open_engine"]


def duckdb_engine(*, memory_limit: str = "", threads: int = 0, temp_dir: str = "") -> QueryEngine:
    from zhikong.engine.backends.duckdb import DuckDBEngine

    return DuckDBEngine(memory_limit=memory_limit, threads=threads, temp_dir=temp_dir)


def open_engine(settings: Settings | None = None, backend: str | None = None) -> QueryEngine:
    """The engine named by ``backend`` or ``settings.engine`` (``duckdb`` or ``spark``)."""
    from zhikong.core.config import get_settings
    from zhikong.core.errors import ConfigError

    s = settings or get_settings()
    name = backend or s.engine
    if name == "duckdb":
        return duckdb_engine(memory_limit=s.duckdb_memory_limit, threads=s.duckdb_threads,
                             temp_dir=str(s.data_dir / "tmp" / "duckdb"))
    if name == "spark":
        from zhikong.engine.backends.spark import SparkEngine

        return SparkEngine(master=s.spark_master)
    raise ConfigError(f"unknown engine {name!r}: use duckdb or spark", field="engine")

"""The engine boundary: one base class with shared, final methods and small per-backend hooks.

Backend-agnostic code (``zhikong.tracing``, ``zhikong.screening``) writes SQL once, in DuckDB's
dialect, and calls :meth:`QueryEngine.sql`; the engine transpiles it (see ``dialects``) and runs it.
A backend implements only the hooks: open a connection, register Parquet or Arrow data as a table,
execute one statement and return Arrow, drop a table.

Examples
--------
>>> from zhikong.engine import duckdb_engine
>>> eng = duckdb_engine()
>>> eng.sql("select 1 + 1 as two").to_pylist()
[{'two': 2}]
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, final

from zhikong.core.errors import EngineError, InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from zhikong.engine.dialects import Dialect

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"not a valid table name: {name!r}", field="table")
    return name


class QueryEngine(ABC):
    """A lake query engine (DuckDB in-process, or Spark)."""

    dialect: Dialect

    # ---- hooks ------------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str) -> pa.Table:
        """Run one statement already in this backend's dialect; return its rows (empty for DDL)."""

    @abstractmethod
    def _register_parquet(self, name: str, paths: list[str], hive: bool) -> None:
        """Make Parquet files readable as view ``name`` (hive partition columns included)."""

    @abstractmethod
    def _register_arrow(self, name: str, table: pa.Table) -> None:
        """Make an in-memory Arrow table readable as ``name``."""

    @abstractmethod
    def _materialise(self, name: str, sql: str) -> None:
        """Compute ``sql`` (this backend's dialect) once and keep it as table ``name``."""

    @abstractmethod
    def _drop(self, name: str) -> None:
        """Forget table or view ``name`` if it exists."""

    def _create_view(self, name: str, sql: str) -> None:
        """Keep ``sql`` (this backend's dialect) as view ``name``; by default computed once instead."""
        self._materialise(name, sql)

    def _keep_rows(self, name: str, sql: str) -> None:
        """Keep the rows of ``sql`` (this backend's dialect) as ``name``; by default fetched as Arrow
        and registered, so the table carries no plan along (a cached Spark table would)."""
        self._register_arrow(name, self._execute(sql))

    def native(self, name: str) -> bool:
        """Whether ``name`` was registered from a DuckDB database file (:meth:`register_duckdb`)."""
        return False

    def _register_duckdb(self, name: str, path: str, table: str) -> bool:
        """Make table ``table`` of the DuckDB database file ``path`` readable as view ``name``
        (read-only); False when this backend cannot read DuckDB files (the default)."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the backend's resources."""

    # ---- shared, final API ------------------------------------------------------------------
    @final
    def render(self, sql: str) -> str:
        """``sql`` (DuckDB dialect) in this backend's dialect."""
        return self.dialect.render(sql)

    @final
    def sql(self, sql: str) -> pa.Table:
        """Run one DuckDB-dialect query on this backend and return an Arrow table."""
        rendered = self.render(sql)
        try:
            return self._execute(rendered)
        except EngineError:
            raise
        except Exception as e:  # driver errors are wrapped, with the backend named
            raise EngineError(f"{self.dialect.name} query failed: {_first_line(e)}") from e

    @final
    def create_table(self, name: str, sql: str) -> None:
        """Compute ``sql`` once and keep the result as temporary table ``name`` (replaced if any)."""
        self._replace(name, sql, self._materialise, "create table")

    @final
    def create_view(self, name: str, sql: str) -> None:
        """Keep ``sql`` as view ``name`` (replaced if any), computed wherever it is read, where the
        backend has views over its own tables (DuckDB); else the same as :meth:`create_table`. For a
        query cheaper to repeat than to copy: a filter and a small join of a native table."""
        self._replace(name, sql, self._create_view, "create view")

    @final
    def keep_rows(self, name: str, sql: str) -> None:
        """Compute ``sql`` once and keep its rows as ``name`` (replaced if any) for the statements
        that follow: a temporary table where the backend's own tables are cheapest to read again
        (DuckDB: no copy out to Arrow and back in), else fetched Arrow registered as ``name``."""
        self._replace(name, sql, self._keep_rows, "keep rows as")

    def _replace(self, name: str, sql: str, make: Callable[[str, str], None], what: str) -> None:
        """Drop ``name`` if any, then ``make(name, rendered sql)``; driver errors are wrapped, naming
        ``what`` was being done (e.g. "create table")."""
        _check_name(name)
        rendered = self.render(sql)
        try:
            self._drop(name)
            make(name, rendered)
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"{self.dialect.name}: cannot {what} {name}: {_first_line(e)}") from e

    @final
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Make ``table`` queryable as ``name``."""
        _check_name(name)
        try:
            self._drop(name)
            self._register_arrow(name, table)
        except Exception as e:
            raise EngineError(f"{self.dialect.name}: cannot register {name}: {_first_line(e)}") from e

    @final
    def register_parquet(self, name: str, path: Path | str, *, hive: bool = True) -> bool:
        """Register a Parquet dataset (a file, or a directory of ``day=…`` partitions) as ``name``.

        Returns ``False`` (and registers nothing) when the dataset has no files, so callers can
        report an empty source instead of failing inside the engine.
        """
        _check_name(name)
        p = Path(path)
        if p.is_file():
            files = [str(p)]
            hive = False
        else:
            files = sorted(str(f) for f in p.rglob("*.parquet")) if p.is_dir() else []
        if not files:
            return False
        try:
            self._drop(name)
            self._register_parquet(name, files, hive)
        except Exception as e:
            raise EngineError(f"{self.dialect.name}: cannot read Parquet {p}: {_first_line(e)}") from e
        return True

    @final
    def register_duckdb(self, name: str, path: Path | str, table: str) -> bool:
        """Register table ``table`` of a DuckDB database file as ``name``, read-only, when the backend
        reads such files (DuckDB does; Spark does not) and the file opens; else ``False`` (and
        nothing registered), so the caller reads the same data elsewhere (e.g. from Parquet)."""
        _check_name(name)
        _check_name(table)
        p = Path(path)
        if not p.is_file():
            return False
        self._drop(name)
        return self._register_duckdb(name, str(p), table)

    @final
    def drop(self, *names: str) -> None:
        for n in names:
            self._drop(_check_name(n))

    @final
    def scalar(self, sql: str) -> object:
        """The single value of a one-row, one-column query."""
        t = self.sql(sql)
        if t.num_rows == 0:
            return None
        return t.column(0)[0].as_py()

    def __enter__(self) -> QueryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__

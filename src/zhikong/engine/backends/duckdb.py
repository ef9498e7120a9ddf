"""The DuckDB backend: in-process, the default."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import duckdb

from zhikong.engine.base import QueryEngine
from zhikong.engine.dialects import DUCKDB

if TYPE_CHECKING:
    import pyarrow as pa


def _quote_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


class DuckDBEngine(QueryEngine):
    dialect = DUCKDB

    def __init__(self, *, memory_limit: str = "", threads: int = 0, temp_dir: str = "") -> None:
        self.con = duckdb.connect(":memory:")
        if temp_dir:  # where DuckDB spills what does not fit the memory limit (default: ./.tmp)
            self.con.execute("SET temp_directory = '" + temp_dir.replace("'", "''") + "'")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._arrow: dict[str, pa.Table] = {}
        #: what this engine created under each name (``TABLE`` or ``VIEW``): dropping needs no catalog query
        self._kinds: dict[str, str] = {}
        #: the DuckDB database files attached (read-only), by path, inode and modification time:
        #: their catalog names
        self._attached: dict[tuple[str, int, int], str] = {}
        self._serial = 0
        #: the views over tables of those files
        self._native: set[str] = set()

    def _execute(self, sql: str) -> pa.Table:
        rel = self.con.sql(sql)
        if rel is None:
            import pyarrow as pa

            return pa.table({})
        return rel.to_arrow_table()

    def _register_parquet(self, name: str, paths: list[str], hive: bool) -> None:
        self.con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_quote_list(paths)}, "
            f"hive_partitioning = {str(hive).lower()}, union_by_name = true)"
        )
        self._kinds[name] = "VIEW"

    def _register_arrow(self, name: str, table: pa.Table) -> None:
        self._arrow[name] = table
        self.con.register(name, table)

    def _materialise(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        self._kinds[name] = "TABLE"

    def _keep_rows(self, name: str, sql: str) -> None:
        self._materialise(name, sql)

    def _register_duckdb(self, name: str, path: str, table: str) -> bool:
        # a file replaced since it was attached (a new generation under the same name) is attached
        # again; views of the old one read the old file until they are registered again
        try:
            st = os.stat(path)
        except OSError:  # gone meanwhile (a generation swapped out)
            return False
        key = (path, st.st_ino, st.st_mtime_ns)
        db = self._attached.get(key)
        try:
            if db is None:
                self._serial += 1
                db = f"zk_db{self._serial}"
                quoted = "'" + path.replace("'", "''") + "'"
                self.con.execute(f"ATTACH {quoted} AS {db} (READ_ONLY)")
                self._attached[key] = db
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {db}.{table}")
        except duckdb.Error:  # not a database this DuckDB reads, or no such table
            return False
        self._kinds[name] = "VIEW"
        self._native.add(name)
        return True

    def native(self, name: str) -> bool:
        return name in self._native

    def _create_view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP VIEW {name} AS {sql}")
        self._kinds[name] = "VIEW"

    def _drop(self, name: str) -> None:
        if name in self._arrow:
            self.con.unregister(name)
            del self._arrow[name]
        self._native.discard(name)
        kind = self._kinds.pop(name, None)
        if kind is not None:
            self.con.execute(f"DROP {kind} IF EXISTS {name}")

    def close(self) -> None:
        self.con.close()

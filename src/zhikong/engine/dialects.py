"""Engine differences as data.

Queries are written once in DuckDB's dialect and transpiled with sqlglot. Where the two engines
disagree on a function that sqlglot cannot bridge, the query uses a call ``zk_NAME(…)``
that each dialect fills from :data:`FUNCTIONS`; a dialect that lacks a feature maps it to ``None``
and asking for it raises an :class:`~zhikong.core.errors.EngineError` naming backend and feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot

from zhikong.core.errors import EngineError

#: feature → function name per dialect (``None``: not available on that engine)
FUNCTIONS: dict[str, dict[str, str | None]] = {
    # whole seconds since the Unix epoch of a timestamp
    "epoch_s": {"duckdb": "epoch", "spark": "unix_timestamp"},
    # timestamp (UTC) from whole seconds since the epoch
    "from_epoch_s": {"duckdb": "to_timestamp", "spark": "timestamp_seconds"},
    # approximate distinct count (used by reports)
    "approx_distinct": {"duckdb": "approx_count_distinct", "spark": "approx_count_distinct"},
    # median (exact on DuckDB, percentile on Spark)
    "median": {"duckdb": "median", "spark": "median"},
}

_PLACEHOLDER = re.compile(r"\bzk_([a-z_]+)\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class Dialect:
    """What the shared SQL needs to know about one engine."""

    name: str
    sqlglot_name: str
    #: features this dialect cannot do at all (beyond the function table)
    missing: frozenset[str] = field(default_factory=frozenset)

    def function(self, feature: str) -> str:
        names = FUNCTIONS.get(feature)
        if names is None:
            raise EngineError(f"unknown engine feature {feature!r}")
        name = names.get(self.name)
        if name is None:
            raise EngineError(f"the {self.name} backend does not support {feature}")
        return name

    def require(self, feature: str) -> None:
        if feature in self.missing:
            raise EngineError(f"the {self.name} backend does not support {feature}")

    def render(self, sql: str) -> str:
        """Transpile DuckDB-dialect ``sql`` to this dialect and fill the ``zk_<feature>(…)`` calls."""
        if self.sqlglot_name != "duckdb":
            try:
                sql = ";\n".join(sqlglot.transpile(sql, read="duckdb", write=self.sqlglot_name))
            except sqlglot.errors.SqlglotError as e:
                raise EngineError(f"cannot translate a query for the {self.name} backend: {e}") from e
        return _PLACEHOLDER.sub(lambda m: self.function(m.group(1).lower()) + "(", sql)


DUCKDB = Dialect("duckdb", "duckdb")
SPARK = Dialect("spark", "spark", missing=frozenset({"transactions"}))

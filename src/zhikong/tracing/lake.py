"""Reading the lake into an engine: one view per source and reference table.

Layout (``zhikong.lake.schemas``): ``<lake_dir>/<source>/day=YYYY-MM-DD/*.parquet`` (hive
partitions by local day) and ``<lake_dir>/ref/<name>.parquet``. Views are named ``src_<source>``
and ``ref_<name>`` (plus ``ref_school_roster``, the imported class rosters: ``tracing.roster``); a
source with no files is reported as missing instead of failing the query.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.lake.schemas import REFERENCE, SOURCES
from zhikong.tracing.roster import register_roster
from zhikong.tracing.stays import DB_FILE, DB_TABLES

TRACED_SOURCES = ("cell", "venue_scan", "camera", "travel", "gps", "proximity")


def register_lake(
    engine: QueryEngine, lake_dir: Path, stays: Path | None = None, only: Collection[str] | None = None
) -> dict[str, bool]:
    """Register every source and reference table found under ``lake_dir``.

    A missing source becomes an empty view with the contract's schema, so queries stay valid;
    the returned mapping says which sources had data. ``stays``: the lake's derived cell stays
    (``zhikong.tracing.stays.fresh``), registered as ``dv_pids``, ``dv_towers`` and ``dv_stays``, and
    its GPS points as ``dv_gps_pids`` and ``dv_gps``, the days with stays as ``dv_days``, the short
    and anchor stays as ``dv_short`` and ``dv_anchor``, the seconds per person, grid cell and day as
    ``dv_grid_days``, the other sources' pseudonyms as ``dv_src_pids`` and their rows on numbers as
    ``dv_venue_scan``, ``dv_camera`` and ``dv_proximity`` (a trace reads each only when it is fresh:
    ``stays.fresh_parts``). The stays, GPS points, anchor stays and grid days are read from the
    generation's DuckDB file (``stays.DB_FILE``) where the engine reads one (``engine.native`` then
    says so), else from their Parquet files.
    ``only``: register just these sources (the others are empty), e.g. for a peer that loads data.
    """
    if stays is not None:
        engine.register_parquet("dv_pids", stays / "pids.parquet", hive=False)
        engine.register_parquet("dv_towers", stays / "towers.parquet", hive=False)
        # the largest from the generation's DuckDB file where the backend reads it (the same rows)
        native = {t for t in DB_TABLES if engine.register_duckdb(f"dv_{t}", stays / DB_FILE, t)}
        if "stays" not in native and not engine.register_parquet("dv_stays", stays / "stays", hive=False):
            engine.register_arrow(
                "dv_stays",
                pa.table({"pn": pa.array([], pa.int32()), "tk": pa.array([], pa.int32()),
                          "start_s": pa.array([], pa.int64()), "end_s": pa.array([], pa.int64()),
                          "gk": pa.array([], pa.int32())}),
            )
        engine.register_parquet("dv_gps_pids", stays / "gps_pids.parquet", hive=False)
        if "gps" not in native and not engine.register_parquet("dv_gps", stays / "gps", hive=False):
            engine.register_arrow(
                "dv_gps",
                pa.table({"gn": pa.array([], pa.int32()), "t": pa.array([], pa.int64()),
                          "x": pa.array([], pa.float32()), "y": pa.array([], pa.float32()),
                          "b": pa.array([], pa.int64()), "gx": pa.array([], pa.int32()),
                          "gy": pa.array([], pa.int32())}),
            )
        engine.register_parquet("dv_days", stays / "days.parquet", hive=False)
        for name in ("src_pids", "venue_scan", "camera", "proximity"):
            engine.register_parquet(f"dv_{name}", stays / f"{name}.parquet", hive=False)
        for name in ("short", "anchor", "grid_days"):
            if name in native:
                continue
            if not engine.register_parquet(f"dv_{name}", stays / name, hive=False):
                cols = {"pn": pa.array([], pa.int32()), "tk": pa.array([], pa.int32()),
                        "start_s": pa.array([], pa.int64()), "end_s": pa.array([], pa.int64())}
                if name == "short":  # the runs (``stays.SHORT_COLUMNS``)
                    cols["run_s"], cols["run_e"] = pa.array([], pa.int64()), pa.array([], pa.int64())
                elif name == "anchor":  # the stays cut to the anchor hours (``stays.ANCHOR_COLUMNS``)
                    cols["a0"], cols["a1"] = pa.array([], pa.int64()), pa.array([], pa.int64())
                else:  # grid days
                    cols = {"pn": pa.array([], pa.int32()), "gk": pa.array([], pa.int32()),
                            "dn": pa.array([], pa.int32()), "secs": pa.array([], pa.int64())}
                engine.register_arrow(f"dv_{name}", pa.table(cols))
    present: dict[str, bool] = {}
    for source in TRACED_SOURCES:
        found = (only is None or source in only) and engine.register_parquet(
            f"src_{source}", lake_dir / source, hive=True
        )
        if not found:
            engine.register_arrow(f"src_{source}", SOURCES[source].empty_table())
        present[source] = found
    for name, schema in REFERENCE.items():
        path = lake_dir / "ref" / f"{name}.parquet"
        if not engine.register_parquet(f"ref_{name}", path, hive=False):
            engine.register_arrow(f"ref_{name}", schema.empty_table())
    register_roster(engine, lake_dir)
    return present


#: the ledger as tracing sees it: keyed hashes, the household code, the birth date (epoch seconds
#: of local midnight, for the school-age rule) and the residence village code (GB/T 2260, 12 digits)
LEDGER_SCHEMA = pa.schema(
    [
        ("pid_id", pa.string()),
        ("pid_phone", pa.string()),
        ("household", pa.string()),
        ("born_s", pa.int64()),
        ("village", pa.string()),
    ]
)


def ledger_frame(ledger: pa.Table) -> pa.Table:
    """``ledger`` with the columns of :data:`LEDGER_SCHEMA` (missing optional ones are null)."""
    cols = {}
    for f in LEDGER_SCHEMA:
        if f.name in ledger.column_names:
            cols[f.name] = ledger.column(f.name).cast(f.type)
        else:
            cols[f.name] = pa.nulls(ledger.num_rows, f.type)
    return pa.table(cols, schema=LEDGER_SCHEMA)

"""Lake ingest throughput on the cell-signalling feed of a simulated world, from CSV and Parquet.

Usage::

    PYTHONPATH=src python benchmarks/bench_lake_ingest.py [--world DIR] [--people N] [--days D]

The world's daily cell CSVs are joined into one batch file (and a Parquet copy with zoned
timestamps, as a feed would deliver it); each is ingested into a fresh lake (validation, keyed-hash
pseudonyms, partitioned atomic write). The peer is plain pandas read + Parquet write of the same
file with no validation and no pseudonyms, measured in the same run; the ratio is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    os.environ["ZHIKONG_DATA_DIR"] = str(tmp / "var")
    os.environ.setdefault("ZHIKONG_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    from zhikong.lake.service import ingest_file, ingest_ref
    from zhikong.lake.store import Lake

    world = args.world
    if world is None:
        from zhikong.sim.params import SimParams
        from zhikong.sim.service import generate_world

        world = tmp / "world"
        t = time.perf_counter()
        generate_world(world, SimParams(people=args.people, days=args.days))
        print(f"world {args.people:,} people × {args.days} days generated in {time.perf_counter() - t:.1f} s")
    text = dict.fromkeys(["phone", "ts", "tower_id", "event"], pa.string())
    tables = [pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(column_types=text))
              for f in sorted((world / "feeds" / "cell").glob("*.csv"))]
    raw = pa.concat_tables(tables)
    csv_file = tmp / "cell.csv"
    pacsv.write_csv(raw, csv_file, pacsv.WriteOptions(quoting_style="needed"))
    parsed = pc.strptime(raw["ts"], format="%Y-%m-%dT%H:%M:%S%z", unit="us")
    zoned = raw.set_column(1, "ts", pc.cast(parsed, pa.timestamp("us", tz="+08:00")))
    pq_file = tmp / "cell.parquet"
    pq.write_table(zoned, pq_file)
    n = raw.num_rows
    print(f"cell feed: {n:,} rows, CSV {csv_file.stat().st_size / 1e6:.0f} MB, "
          f"Parquet {pq_file.stat().st_size / 1e6:.0f} MB")

    results: dict[str, float] = {}
    for kind, f in [("parquet", pq_file), ("csv", csv_file)]:
        lake = Lake(tmp / f"lake-{kind}")
        ingest_ref(world / "ref", lake)
        t = time.perf_counter()
        res = ingest_file(f, "cell", lake)
        dt = time.perf_counter() - t
        results[kind] = n / dt
        print(f"zhikong ingest {kind:<7}: {dt:6.2f} s  {n / dt:>12,.0f} rows/s  "
              f"({res.accepted:,} landed, {res.rejected:,} rejected)")
        t = time.perf_counter()
        df = pd.read_parquet(f) if kind == "parquet" else pd.read_csv(f, dtype=str)
        df.to_parquet(tmp / f"peer-{kind}.parquet")
        pdt = time.perf_counter() - t
        print(f"pandas read+write {kind:<4}: {pdt:6.2f} s  {n / pdt:>12,.0f} rows/s  "
              f"(zhikong/pandas ratio {pdt / dt:.2f}×)")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()

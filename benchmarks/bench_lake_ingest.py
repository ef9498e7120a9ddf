"""Lake ingest throughput on the cell-signalling feed of a simulated world, from Parquet and CSV.

Usage::

    PYTHONPATH=src python benchmarks/bench_lake_ingest.py --world /work/worlds/w100k [--max-files N]
    PYTHONPATH=src python benchmarks/bench_lake_ingest.py --people 20000 --days 3   # generates one

The world writes one CSV per day (``feeds/cell/<day>.csv``, plaintext ``phone``); each daily file
is one batch, as an operator delivers it. For the Parquet figure every daily CSV is first converted
to Parquet the way an operator would deliver it (plaintext ``phone`` text, ``ts`` as a zoned
timestamp), outside the timing. Each format is then ingested into its own fresh lake with
``ingest_files`` (what ``zhikong lake ingest DIR`` and ``ingest-world`` run: validation of every
field, reference check of the towers, keyed-hash pseudonyms, duplicate detection, each daily batch
landing atomically; one batch at a time and two at once, ``--workers``); rows/s = all rows / the wall time of
that call. Then every file is ingested again, which must add 0 rows.

The landing is timed with ``build_derived=False``. What ``zhikong lake ingest`` adds by default after
a run that landed cell rows, the rebuild of the derived cell stays a trace reads
(``lake.service.derive``), is timed apart once (Parquet lake, first ``--workers`` value), and the
rate of landing + derive is printed beside it.

The peer, measured in the same run on the same files: a bare copy with pyarrow (read the file,
write it as zstd Parquet: no validation, no pseudonyms, no atomic commit): the floor of the work.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

GOALS = {"parquet": 2_000_000, "csv": 500_000}     # rows/s, issue 3
TEXT = dict.fromkeys(["phone", "ts", "tower_id", "event"], pa.string())


def to_parquet(csv_file: Path, out: Path) -> None:
    raw = pacsv.read_csv(csv_file, convert_options=pacsv.ConvertOptions(column_types=TEXT))
    parsed = pc.strptime(raw["ts"], format="%Y-%m-%dT%H:%M:%S%z", unit="us")
    pq.write_table(raw.set_column(1, "ts", pc.cast(parsed, pa.timestamp("us", tz="+08:00"))), out)


def bare_copy(f: Path, out: Path) -> int:
    if f.suffix == ".parquet":
        t = pq.read_table(f)
    else:
        t = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(column_types=TEXT))
    pq.write_table(t, out, compression="zstd", compression_level=1)
    return t.num_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--max-files", type=int, default=0, help="Use only the first N daily files.")
    ap.add_argument("--workers", type=lambda t: [int(x) for x in t.split(",")], default=[1, 2],
                    help="Batches converted at once by ingest_files; each value measured (default 1,2).")
    ap.add_argument("--tmp", type=Path, help="Scratch directory (default: a new one under $TMPDIR).")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-lake-", dir=args.tmp))
    os.environ["ZHIKONG_DATA_DIR"] = str(tmp / "var")
    os.environ.setdefault("ZHIKONG_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    from zhikong.lake import validate
    from zhikong.lake.service import derive, ingest_files, ingest_ref
    from zhikong.lake.store import Lake

    try:
        world = args.world
        if world is None:
            from zhikong.sim.params import SimParams
            from zhikong.sim.service import generate_world

            world = tmp / "world"
            t = time.perf_counter()
            generate_world(world, SimParams(people=args.people, days=args.days))
            print(f"world {args.people:,} people × {args.days} days generated in "
                  f"{time.perf_counter() - t:.1f} s")
        csvs = sorted((world / "feeds" / "cell").glob("*.csv"))[:args.max_files or None]
        (tmp / "pq").mkdir()
        t = time.perf_counter()
        pqs = []
        for f in csvs:
            pqs.append(tmp / "pq" / f"{f.stem}.parquet")
            to_parquet(f, pqs[-1])
        n = sum(pq.read_metadata(f).num_rows for f in pqs)
        print(f"world {world}: cell feed {len(csvs)} daily files, {n:,} rows; CSV "
              f"{sum(f.stat().st_size for f in csvs) / 1e6:,.0f} MB, Parquet "
              f"{sum(f.stat().st_size for f in pqs) / 1e6:,.0f} MB (converted in "
              f"{time.perf_counter() - t:.0f} s, not timed)")
        print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

        for kind, files in [("parquet", pqs), ("csv", csvs)]:
            walls: dict[int, tuple[float, float]] = {}
            for workers in args.workers:
                lake = Lake(tmp / f"lake-{kind}-{workers}")
                ingest_ref(world / "ref", lake)
                validate._PIDS.clear()              # every measurement starts without cached pids
                t, c = time.perf_counter(), time.process_time()
                results = ingest_files([(f, "cell") for f in files], lake, workers=workers,
                                       build_derived=False)
                wall = time.perf_counter() - t
                cpu = time.process_time() - c
                walls[workers] = (wall, cpu)
                landed = sum(r.accepted for r in results)
                rejected = sum(r.rejected for r in results)
                stored = int(str(lake.stats()["cell"]["rows"]))
                lake_mb = sum(p.stat().st_size for p in lake.root.glob("cell/*/*.parquet")) / 1e6
                goal = GOALS[kind]
                print(f"zhikong ingest {kind:<7} ({workers} batch{'es' if workers > 1 else ''} at once): "
                      f"{wall:7.2f} s wall {cpu:7.2f} s CPU  {n / wall:>11,.0f} rows/s ({n / cpu:,.0f} per "
                      f"CPU-second; goal {goal:,}: {'met' if n / wall >= goal else 'NOT met'} in wall time)  "
                      f"({landed:,} landed, {rejected:,} rejected; lake {lake_mb:,.0f} MB)")
                if kind == "parquet" and workers == args.workers[0]:
                    t, c = time.perf_counter(), time.process_time()
                    with lake.locked():
                        built = derive(lake)
                    dw, dc = time.perf_counter() - t, time.process_time() - c
                    print(f"  derive after the run (the cell stays a trace reads; `zhikong lake ingest` runs "
                          f"it once per run unless --no-derive): {dw:.2f} s wall {dc:.2f} s CPU "
                          f"({getattr(built, 'pings', 0):,} pings → {getattr(built, 'stays', 0):,} stays); "
                          f"land + derive: {n / (wall + dw):,.0f} rows/s")
                t = time.perf_counter()
                again = ingest_files([(f, "cell") for f in files], lake, workers=workers)
                dt = time.perf_counter() - t
                added = int(str(lake.stats()["cell"]["rows"])) - stored
                print(f"  re-ingest of the same {len(files)} files: {dt:.2f} s, "
                      f"{sum(r.skipped for r in again)} skipped, {added} rows added")
                if added or not all(r.skipped for r in again):
                    raise SystemExit("re-ingest added rows")
                shutil.rmtree(lake.root)
            peer = peer_cpu = 0.0
            for f in files:
                t, c = time.perf_counter(), time.process_time()
                bare_copy(f, tmp / "peer.parquet")
                peer += time.perf_counter() - t
                peer_cpu += time.process_time() - c
            ratios = ", ".join(f"{w} at once: {wall / peer:.2f}× its wall time, {cpu / peer_cpu:.2f}× its CPU"
                               for w, (wall, cpu) in walls.items())
            print(f"  peer, bare pyarrow read + Parquet write of the same files: {peer:7.2f} s wall "
                  f"{peer_cpu:7.2f} s CPU  {n / peer:>11,.0f} rows/s  (zhikong {ratios})")
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

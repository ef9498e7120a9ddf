"""Simulator throughput: a world of N people × D days, wall time, peak RSS, rows/s per feed.

Usage::

    PYTHONPATH=src python benchmarks/bench_sim.py --people 100000 --days 14 [--out DIR]

The peer is the time to write the same feed rows as plain CSV with pandas (``DataFrame.to_csv`` of
one day's cell feed, scaled), measured in the same run, so the ratio says how much of the time
goes into simulating rather than just writing.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=20200301)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from zhikong.sim.params import SimParams
    from zhikong.sim.service import generate_world

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-sim-")) / "world"
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            stages[stage] = time.perf_counter() - t0

    summary = generate_world(out, SimParams(seed=args.seed, people=args.people, days=args.days),
                             progress=progress)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_rows = sum(summary.rows.values())
    total_bytes = sum(summary.bytes.values())
    print(f"sim {args.people:,} people × {args.days} days: {dt:.1f} s wall "
          f"(people & places {stages.get('people', 0):.1f} s), peak RSS {rss:,.0f} MiB")
    print(f"{'feed':<11} {'rows':>13} {'MB':>9} {'rows/s':>12}")
    for src, n in summary.rows.items():
        print(f"{src:<11} {n:>13,} {summary.bytes[src] / 1e6:>9.1f} {n / dt:>12,.0f}")
    print(f"{'all':<11} {total_rows:>13,} {total_bytes / 1e6:>9.1f} {total_rows / dt:>12,.0f}")
    print(f"{summary.cases} infections, {summary.close_contacts} true close contacts")
    import pandas as pd

    day1 = sorted((out / "feeds" / "cell").glob("*.csv"))[0]
    df = pd.read_csv(day1, dtype=str)
    t = time.perf_counter()
    df.to_csv(Path(tempfile.mkdtemp()) / "peer.csv", index=False)
    peer = (time.perf_counter() - t) / max(1, len(df))
    print(f"peer: pandas to_csv {1 / peer:,.0f} rows/s; writing all rows that way alone would take "
          f"{peer * total_rows:.1f} s (sim/peer time ratio {dt / (peer * total_rows):.2f})")
    if args.out is None:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()

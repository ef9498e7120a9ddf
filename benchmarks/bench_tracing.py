"""Trace index cases over a world's lake on DuckDB vs PostgreSQL vs pandas (and Spark), same answers.

Usage::

    PYTHONPATH=src:. python benchmarks/bench_tracing.py --world /path/to/world [--cases 100]
        [--peers duckdb,postgres,pandas,spark] [--memory-limit 6GB] [--work DIR]

What is timed, and what each peer gets:

* **derive** (once per lake change, as ingest runs it): the cell stays of the whole lake from every
  ping (``zhikong.tracing.stays``), into a work copy of the lake (the world's files linked, the
  derived stays written beside them). Printed apart, with pings/s.
* **compared query**: hop-1 exposure detection for the index cases over the whole period (same
  tower and same venue overlaps, proximity encounters, households). Every peer starts from the same
  lake *with the derived cell stays*: DuckDB and PostgreSQL run the *same* SQL (PostgreSQL through
  sqlglot, with the feeds it needs and the derived stays loaded into indexed tables; loading is
  timed apart), pandas runs a straightforward implementation of the same rules on the same files.
  The evidence tables must be equal.
* **full trace** on DuckDB: all detectors, companions and secondary contacts, from the lake.

Index cases: the world's reported cases, padded with random residents (onset on day 10) up to
``--cases``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd

from benchmarks._common import tree_cpu
from benchmarks._tracing_peers import PostgresEngine, pandas_exposures
from zhikong.engine import QueryEngine, duckdb_engine
from zhikong.evaluation.tracing import world_cases
from zhikong.evaluation.world import World, world_lake
from zhikong.tracing import pipeline, stays
from zhikong.tracing.lake import register_lake
from zhikong.tracing.policy import load_policy
from zhikong.tracing.trace import IndexCase, index_table, trace

SOURCES = ["cell", "venue_scan", "proximity", "ledger"]
#: the lake sources the compared query reads besides the derived cell stays
LAKE_SOURCES = ["venue_scan", "proximity"]


def pick_cases(world: World, n: int, seed: int = 7) -> list[IndexCase]:
    cases = world_cases(world)[:n]
    start = pd.Timestamp(str(world.params["start_date"]), tz="Asia/Shanghai").to_pydatetime()
    onset = start + timedelta(days=10)
    ledger = world.ledger().column("pid_id").to_pylist()
    rng = random.Random(seed)
    taken = {c.person for c in cases}
    while len(cases) < n:
        p = rng.choice(ledger)
        if p and p not in taken:
            taken.add(p)
            cases.append(IndexCase(p, p, onset, onset + timedelta(days=2)))
    return cases


def run_sql(
    eng: QueryEngine,
    lake: Path,
    world: World,
    cases: list[IndexCase],
    cpu: Callable[[], float] = time.process_time,
) -> tuple[pd.DataFrame, float, float, float]:
    """(evidence, load s, query s, query CPU s) of the compared query; ``cpu``: the CPU clock of
    whatever runs the query (this process by default)."""
    policy = load_policy()
    t0 = time.perf_counter()
    derived = stays.fresh(lake, policy.rules)
    assert derived is not None, "derive the stays first"
    register_lake(eng, lake, stays=derived, only=LAKE_SOURCES)
    eng.register_arrow("ledger", world.ledger())
    t1, c1 = time.perf_counter(), cpu()
    idx = index_table(cases, policy)
    lo = min(idx.column("start_s").to_pylist()) - policy.companion.lookback_days * 86400
    hi = max(idx.column("end_s").to_pylist()) + 3600
    pipeline.prepare(eng, policy, lo, hi, sources=SOURCES, derived=True)
    ev = pipeline.run_exposures(eng, policy, idx, sources=SOURCES).to_pandas()
    t2, c2 = time.perf_counter(), cpu()
    return ev, t1 - t0, t2 - t1, c2 - c1


def normalise(ev: pd.DataFrame) -> pd.DataFrame:
    ev = ev[
        ["case_key", "hop", "contact", "source", "place", "start_s", "end_s", "minutes", "distance"]
    ].copy()
    ev["minutes"] = ev["minutes"].astype(float).round(6)
    for c in ("hop", "start_s", "end_s"):
        ev[c] = ev[c].astype("int64")
    return ev.sort_values(list(ev.columns)).reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path, required=True)
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--peers", default="duckdb,postgres,pandas")
    ap.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 4GB (default: DuckDB's)")
    ap.add_argument(
        "--full",
        choices=("secondary", "hop1", "none"),
        default="secondary",
        help="the full DuckDB trace to time: with secondary contacts (default), hop 1 only, or none",
    )
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    peers = args.peers.split(",")
    world = World(args.world)
    t = time.perf_counter()
    world_dir = world_lake(world)
    print(
        f"world {args.world} · {world.params['people']} people · {world.params['days']} days "
        f"(lake ready in {time.perf_counter() - t:.1f} s)"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-tracing-")) if args.work is None else args.work
    try:
        lake = work_lake(world_dir, work / "lake")
        t, c = time.perf_counter(), time.process_time()
        b = stays.build_stays(lake, force=True, memory_limit=args.memory_limit)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(
            f"derive (once per lake change, run by ingest): {b.pings:,} cell pings of {b.people:,} phones "
            f"→ {b.stays:,} stays in {wall:.2f} s ({b.pings / wall:,.0f} pings/s; process CPU {cpu:.2f} s)",
            flush=True,
        )
        run_peers(args, peers, world, lake)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def work_lake(src: Path, dst: Path) -> Path:
    """A lake at ``dst`` whose sources and reference tables are links to ``src``'s (read-only), so the
    derived stays can be written beside them."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if not p.name.startswith(("_", ".")):
            (dst / p.name).symlink_to(p.resolve(), target_is_directory=p.is_dir())
    return dst


def run_peers(args: argparse.Namespace, peers: list[str], world: World, lake: Path) -> None:
    print(
        "every peer reads the same lake with these derived cell stays: DuckDB from Parquet, PostgreSQL "
        "from indexed tables (loaded before timing), pandas from the same Parquet files",
        flush=True,
    )
    cases = pick_cases(world, args.cases)
    results: dict[str, tuple[pd.DataFrame, float, float, float]] = {}

    with duckdb_engine(memory_limit=args.memory_limit) as eng:
        results["duckdb"] = run_sql(eng, lake, world, cases)
    _, _, query_s, cpu_s = results["duckdb"]
    print(f"duckdb compared query: {query_s:.2f} s (CPU {cpu_s:.2f} s)", flush=True)
    if "postgres" in peers:
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        try:
            pg = PostgresEngine(cluster.create_database("bench"))
            postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])

            def pg_cpu() -> float:  # the server's processes (backends, parallel workers) and ours
                return sum(tree_cpu(postmaster).values()) + time.process_time()

            results["postgres"] = run_sql(pg, lake, world, cases, pg_cpu)
            _, load_s, query_s, cpu_s = results["postgres"]
            print(f"postgres load {load_s:.2f} s, query {query_s:.2f} s (CPU {cpu_s:.2f} s)", flush=True)
            pg.close()
        finally:
            cluster.stop()
    if "pandas" in peers:
        t, c = time.perf_counter(), time.process_time()
        ev = pandas_exposures(lake, world.ledger(), index_table(cases, load_policy()), load_policy())
        results["pandas"] = (ev, 0.0, time.perf_counter() - t, time.process_time() - c)
        print(f"pandas query {results['pandas'][2]:.2f} s (CPU {results['pandas'][3]:.2f} s)", flush=True)
    if "spark" in peers:
        from zhikong.engine.backends.spark import SparkEngine

        t = time.perf_counter()
        sp = SparkEngine(master="local[2]")
        print(f"spark session start {time.perf_counter() - t:.1f} s")
        results["spark"] = run_sql(sp, lake, world, cases)

    # the full trace last: DuckDB keeps memory reserved after a big trace, the peers run first
    if args.full != "none":
        # the ledger's keyed hashes are read before timing: the platform stores them in the
        # operational database (``service.ledger_table``); the world's CSV has to hash them first
        ledger = world.ledger()
        # the PostgreSQL peer's cluster (gigabytes of loaded tables, deleted when it stops) leaves
        # dirty pages the kernel writes back in the background: flushed here, not during the trace
        os.sync()
        with duckdb_engine(memory_limit=args.memory_limit) as eng:
            t, c = time.perf_counter(), time.process_time()
            full = trace(
                eng,
                lake,
                ledger,
                cases,
                load_policy(),
                secondary=args.full == "secondary",
                now=max(k.end_at for k in cases),
            )
            full_s, full_cpu = time.perf_counter() - t, time.process_time() - c
        what = "secondary contacts" if args.full == "secondary" else "hop 1 only, no secondary contacts"
        print(
            f"duckdb full trace of {len(cases)} cases (all detectors, companions, {what}): {full_s:.2f} s "
            f"(target ≤ 5 s; process CPU {full_cpu:.2f} s), {len(full)} classified contacts",
            flush=True,
        )

    base = normalise(results["duckdb"][0])
    print(
        f"\n{'peer':<10}{'load s':>10}{'query s':>10}{'× duckdb':>10}{'CPU s':>10}{'× duckdb':>10}"
        "  same answer"
        f" ({len(base)} evidence rows)"
    )
    d_wall, d_cpu = results["duckdb"][2], results["duckdb"][3]
    for name, (ev, load_s, query_s, cpu_s) in results.items():
        same = normalise(ev).equals(base)
        print(
            f"{name:<10}{load_s:>10.2f}{query_s:>10.2f}{query_s / d_wall:>10.1f}{cpu_s:>10.2f}"
            f"{cpu_s / max(d_cpu, 1e-9):>10.1f}  {'yes' if same else 'NO'}"
        )
        if not same:
            other = normalise(ev)
            merged = base.merge(other, how="outer", indicator=True)
            print(merged["_merge"].value_counts().to_string())


if __name__ == "__main__":
    main()

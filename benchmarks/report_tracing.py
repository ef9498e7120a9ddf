"""Tracing quality report: the evaluation table, the precision–recall curve of the ranking, and how
recall of close contacts falls as each source's observation rate falls.

Usage::

    PYTHONPATH=src:. python benchmarks/report_tracing.py --world DIR            # table + PR curve
    PYTHONPATH=src:. python benchmarks/report_tracing.py --world DIR --thin venue_scan,gps --keep 0.5,0
    PYTHONPATH=src:. python benchmarks/report_tracing.py --rates --people 20000  # regenerate worlds

``--thin`` keeps a share of one source's rows at a time in a copy of the world's lake (cheap; source
``roster`` thins the pupils of the imported class rosters);
``--rates`` generates one world per simulator setting (same seed, one parameter changed at a time;
the world needs enough people to have reported cases, ~10,000+).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from zhikong.engine import duckdb_engine
from zhikong.evaluation.tracing import evaluate_tracing, pr_curve
from zhikong.evaluation.world import World
from zhikong.tracing.policy import load_policy

#: parameter → values, the first being the simulator's default
RATES: dict[str, list[float]] = {
    "venue_scan_compliance": [0.8, 0.5, 0.2],
    "gps_share": [0.3, 0.1, 0.0],
    "proximity_share": [0.2, 0.05, 0.0],
    "camera_detection": [0.6, 0.3, 0.0],
    "cell_miss_rate": [0.05, 0.3, 0.6],
}


def table_and_curve(world: Path, policy: str) -> None:
    with duckdb_engine() as eng:
        ev = evaluate_tracing(World(world), eng, load_policy(policy))
    print(f"{'method':<9}{'class':<11}{'recall':>8}{'precision':>11}{'tp':>6}{'fp':>7}{'fn':>6}")
    for method, per_class in ev.table.items():
        for cls, m in per_class.items():
            print(
                f"{method:<9}{cls:<11}{m['recall']:>8.3f}{m['precision']:>11.4f}{m['tp']:>6}{m['fp']:>7}{m['fn']:>6}"
            )
    print("\nprecision–recall of the ranking (hop-1 pairs by score, top k):")
    print(f"{'k':>7}{'score ≥':>10}{'precision':>11}{'recall':>8}")
    for p in pr_curve(ev):
        print(f"{p['k']:>7}{p['score']:>10.2f}{p['precision']:>11.3f}{p['recall']:>8.3f}")


def rates(people: int, days: int, seed: int, policy: str) -> None:
    from zhikong.sim.params import SimParams
    from zhikong.sim.service import generate_world

    print(f"recall / precision of close contacts, {people} people × {days} days, seed {seed}")
    for name, values in RATES.items():
        for value in values:
            with tempfile.TemporaryDirectory() as tmp, duckdb_engine() as eng:
                generate_world(Path(tmp), SimParams(seed=seed, people=people, days=days, **{name: value}))
                m = evaluate_tracing(World(Path(tmp)), eng, load_policy(policy), methods=("zhikong",)).table
                c = m["zhikong"]["close"]
                print(
                    f"{name:<24}{value:>6}  recall {c['recall']:.3f}  precision {c['precision']:.3f}"
                    f"  (tp {c['tp']}, fn {c['fn']})",
                    flush=True,
                )


def thinned_lake(lake: Path, out: Path, source: str, keep: float) -> Path:
    """A copy of ``lake`` where ``source`` keeps each row with probability ``keep`` (deterministic)."""
    import duckdb

    out.mkdir(parents=True)
    for child in lake.iterdir():
        if child.name not in (source, "ref" if source == "roster" else "") and not child.name.startswith("_"):
            (out / child.name).symlink_to(child)
    if source == "roster":  # the class rosters: a share of the pupils' rows (reference table)
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        (out / "ref").mkdir()
        for child in (lake / "ref").iterdir():
            if child.name != "school_roster.parquet":
                (out / "ref" / child.name).symlink_to(child)
        if keep > 0 and (lake / "ref" / "school_roster.parquet").is_file():
            t = pq.read_table(lake / "ref" / "school_roster.parquet")
            h = [int(p[:8], 16) % 1000 < int(keep * 1000) for p in t.column("pid").to_pylist()]
            pq.write_table(t.filter(pc.cast(h, "bool")), out / "ref" / "school_roster.parquet")
        return out
    if keep > 0:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{lake / source}/*/*.parquet', hive_partitioning = true) "
            f"WHERE hash(pid || CAST(ts AS VARCHAR)) % 1000 < {int(keep * 1000)}) TO '{out / source}' "
            "(FORMAT parquet, PARTITION_BY (day))"
        )
        con.close()
    return out


def thin(world_dir: Path, sources: list[str], keeps: list[float], policy: str) -> None:
    from zhikong.evaluation.tracing import world_roster
    from zhikong.evaluation.world import world_lake

    world = World(world_dir)
    lake = world_lake(world)
    world_roster(world, lake)
    print(f"recall / precision of close contacts on {world_dir} as one source's rows are thinned")
    for source in sources:
        for keep in keeps:
            with tempfile.TemporaryDirectory() as tmp, duckdb_engine() as eng:
                thinned = thinned_lake(lake, Path(tmp) / "lake", source, keep)
                ev = evaluate_tracing(world, eng, load_policy(policy), methods=("zhikong",), lake=thinned)
                c = ev.table["zhikong"]["close"]
                print(
                    f"{source:<11} keep {keep:>4}  recall {c['recall']:.3f}  precision {c['precision']:.3f}"
                    f"  (tp {c['tp']}, fp {c['fp']}, fn {c['fn']})",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=Path)
    ap.add_argument("--rates", action="store_true")
    ap.add_argument("--thin", default="", help="sources to thin on --world, e.g. venue_scan,gps")
    ap.add_argument("--keep", default="0.5,0", help="shares of rows kept when thinning")
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--seed", type=int, default=20200301)
    ap.add_argument("--policy", default="protocol-9", help="policy name or YAML file")
    args = ap.parse_args()
    if args.world and args.thin:
        thin(args.world, args.thin.split(","), [float(k) for k in args.keep.split(",")], args.policy)
    elif args.world:
        table_and_curve(args.world, args.policy)
    if args.rates:
        rates(args.people, args.days, args.seed, args.policy)


if __name__ == "__main__":
    main()

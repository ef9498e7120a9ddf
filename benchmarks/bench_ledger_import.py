"""Ledger import benchmark: generate N persons to CSV, import into SQLite and PostgreSQL.

    PYTHONPATH=src python benchmarks/bench_ledger_import.py --people 1000000

Prints rows/s (wall clock, and per CPU-second spent by the importer's processes, not counting the
PostgreSQL server: on a loaded machine the wall clock says little, the CPU figure says what an idle
one would do), the idempotent re-import rate, peak RSS, and the ratio of each import to a
peer measured in the same run: reading the same CSV with ``csv.reader`` and nothing else.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.pg


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_rss_mib() -> float:
    """Peak RSS of the largest finished child (the importer's worker process)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the importer's worker processes)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def _villages(engine):  # type: ignore[no-untyped-def]
    """A district with 22 towns of 14 villages each (synthetic codes), made with the ORM."""
    from sqlalchemy.orm import Session

    from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
    from zhikong.people.generate import VillageSpec

    specs = []
    with Session(engine) as s:
        d = AdminUnit(code="500113", name="巴南区", level=UnitLevel.DISTRICT, kind=UnitKind.DISTRICT,
                      path="/500113/", lat=29.4, lon=106.5)
        s.add(d)
        s.flush()
        for t in range(1, 23):
            tcode = f"500113{t:03d}"
            town = AdminUnit(code=tcode, name=f"镇{t}", level=UnitLevel.TOWN, kind=UnitKind.TOWN,
                             parent_id=d.id, path=f"/500113/{tcode}/", lat=29.4, lon=106.5)
            s.add(town)
            s.flush()
            for v in range(1, 15):
                vcode = f"{tcode}{v:03d}"
                urban = t <= 8 and v <= 10
                s.add(AdminUnit(code=vcode, name=f"{'社区' if urban else '村'}{v}", urban=urban,
                                level=UnitLevel.VILLAGE, parent_id=town.id,
                                kind=UnitKind.COMMUNITY if urban else UnitKind.VILLAGE,
                                path=f"/500113/{tcode}/{vcode}/", lat=29.4, lon=106.5))
                specs.append(VillageSpec(vcode, f"村{v}", urban, f"镇{t}"))
        s.commit()
    return specs


def _run_import(label: str, url: str, csv_path: Path, read_rate: float, n: int,
                workers: int | None) -> None:
    from zhikong.core.db import make_engine
    from zhikong.core.migrate import upgrade
    from zhikong.people.importer import import_ledger

    engine = make_engine(url)
    upgrade(engine)
    _villages(engine)
    for attempt in ("first import", "re-import"):
        cpu0 = _cpu()
        res = import_ledger(csv_path, engine=engine, chunk_size=5000, workers=workers)
        cpu = _cpu() - cpu0
        assert res.rejected == 0 and res.rows_total == n, res.errors[:3]
        rate = res.rows_total / res.seconds
        print(f"{label:10s} {attempt:12s} {res.rows_total:>9,} rows {res.seconds:7.1f} s wall "
              f"{rate:>9,.0f} rows/s  ({res.rows_total / cpu:>9,.0f} rows per CPU-s, {res.workers} worker)  "
              f"inserted {res.inserted:,} unchanged {res.unchanged:,}  "
              f"ratio to csv.reader {rate / read_rate:.3f}  peak RSS {_rss_mib():.0f} MiB "
              f"(worker {_child_rss_mib():.0f} MiB)  load {os.getloadavg()[0]:.1f}", flush=True)
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20200301)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--workers", type=int, default=None, help="importer worker processes (default: auto)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="zhikong-bench-ledger-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ZHIKONG_DATA_DIR"] = str(work / "var")
    os.environ.setdefault("ZHIKONG_SECRET_KEY", "benchmark-secret-key-0123456789")
    os.environ.pop("ZHIKONG_DATABASE_URL", None)

    from zhikong.core.db import make_engine
    from zhikong.core.migrate import upgrade
    from zhikong.people.generate import generate_population, write_ledger_csv

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"python {sys.version.split()[0]}", flush=True)
    csv_path = work / f"ledger-{args.people}-{args.seed}.csv"
    (work / "villages.db").unlink(missing_ok=True)
    for old in (work / "var").glob("bench.db*"):
        old.unlink()
    scratch = make_engine(f"sqlite:///{work / 'villages.db'}")
    upgrade(scratch)
    villages = _villages(scratch)
    scratch.dispose()
    if csv_path.exists():  # the same people and seed in the same work dir: reuse the file
        n = args.people
        print(f"reusing    {csv_path}", flush=True)
    else:
        t0 = time.perf_counter()
        tmp = csv_path.with_suffix(".part")
        n = write_ledger_csv(generate_population(villages, args.people, args.seed), tmp)
        tmp.replace(csv_path)
        gen_s = time.perf_counter() - t0
        print(f"generated  {n:,} persons in {gen_s:.1f} s ({n / gen_s:,.0f}/s), "
              f"{csv_path.stat().st_size / 1e6:.0f} MB CSV, peak RSS {_rss_mib():.0f} MiB", flush=True)

    t0 = time.perf_counter()
    with csv_path.open(encoding="utf-8", newline="") as fh:
        read = sum(1 for _ in csv.reader(fh)) - 1
    read_rate = read / (time.perf_counter() - t0)
    print(f"peer       csv.reader alone {read_rate:,.0f} rows/s", flush=True)

    _run_import("sqlite", f"sqlite:///{work / 'var' / 'bench.db'}", csv_path, read_rate, n, args.workers)
    if not args.skip_pg:
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        try:
            _run_import("postgresql", cluster.create_database("bench"), csv_path, read_rate, n, args.workers)
        finally:
            cluster.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at end; work dir {work}")


if __name__ == "__main__":
    main()

"""Ledger import benchmark: generate N persons to CSV, import into SQLite and PostgreSQL.

    PYTHONPATH=src python benchmarks/bench_ledger_import.py --people 1000000

Prints rows/s (wall clock) for the first import and the idempotent re-import into each database,
the CPU time per row of the main process, of the worker processes and of the PostgreSQL server
(on a loaded machine the wall clock says little; from the CPU times follows what two idle cores
allow: rows / max(main CPU, all CPU / 2)), peak RSS of the main and the largest worker process, and
the ratio of each import to a peer measured in the same run: reading the same CSV with
``csv.reader`` and nothing else.
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
    """Peak RSS of the largest finished child: a worker process (counting pages shared with the
    parent after fork) or a forked helper such as pg_ctl."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _cpu(who: int) -> float:
    """CPU seconds of this process (RUSAGE_SELF) or its finished children (RUSAGE_CHILDREN: the
    importer's worker processes)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _server_cpu(data_dir: Path | None) -> float:
    """CPU seconds of a PostgreSQL cluster: its postmaster (with reaped backends) and live backends."""
    if data_dir is None:
        return 0.0
    pm = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            st = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pid == pm:
            total += sum(int(x) for x in st[11:15])  # utime stime cutime cstime
        elif st[1] == pm:
            total += int(st[11]) + int(st[12])
    return total / tick


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
                workers: int | None, server: Path | None = None) -> None:
    from zhikong.core.db import make_engine
    from zhikong.core.migrate import upgrade
    from zhikong.people.importer import import_ledger

    engine = make_engine(url)
    upgrade(engine)
    _villages(engine)
    for attempt in ("first import", "re-import"):
        main0, kids0, srv0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _server_cpu(server)
        load0 = os.getloadavg()[0]
        res = import_ledger(csv_path, engine=engine, chunk_size=5000, workers=workers)
        main = _cpu(resource.RUSAGE_SELF) - main0
        kids = _cpu(resource.RUSAGE_CHILDREN) - kids0
        srv = _server_cpu(server) - srv0
        assert res.rejected == 0 and res.rows_total == n, res.errors[:3]
        rate = res.rows_total / res.seconds
        us = 1e6 / res.rows_total
        # what 2 idle cores would allow: the busiest process, or all CPU shared by two cores
        bound = res.rows_total / max(main, (main + kids + srv) / 2)
        print(f"{label:10s} {attempt:12s} {res.rows_total:>9,} rows {res.seconds:7.1f} s wall "
              f"{rate:>9,.0f} rows/s  ratio to csv.reader {rate / read_rate:.3f}  "
              f"inserted {res.inserted:,} unchanged {res.unchanged:,}\n"
              f"{'':23s} CPU per row: main {main * us:.1f} us, {res.workers} workers {kids * us:.1f} us"
              f"{f', PostgreSQL server {srv * us:.1f} us' if server else ''}  "
              f"(CPU bound on 2 idle cores: {bound:,.0f} rows/s)  "
              f"peak RSS main {_rss_mib():.0f} MiB, largest child {_child_rss_mib():.0f} MiB  "
              f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
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
            _run_import("postgresql", cluster.create_database("bench"), csv_path, read_rate, n, args.workers,
                        server=cluster.dir / "data")
        finally:
            cluster.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at end; work dir {work}")


if __name__ == "__main__":
    main()

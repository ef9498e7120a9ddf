"""Enterprise self-screening on PostgreSQL: the risk recompute and the morning registration peak.

1. **Recompute**: ``--employees`` registered employees (default 100,000) in 200 enterprises, a case
   with close/secondary/companion contacts for 3 % of them, and a lake of travel and roaming records
   (``--lake-rows`` each) of which 1 % come from a risk-area city within the lookback. Timed: the
   first full recompute (risk marks refreshed for the whole lake, every affected employee changes), a
   second one (nothing changes), and the event path after a new case's 1,000 close contacts land
   (``recompute_affected``). Peer in the same run: one plain ``SELECT`` of the employees' keys.
2. **Registration peak**: uvicorn (``--workers``) on loopback; ``--registrations`` phones (default
   2,000) arrive evenly over ``--seconds`` (default 60 → 2,000/minute); each GETs the QR page then
   POSTs the form on one keep-alive connection; 5 % submit twice at once (double tap, second
   connection). The lake knows some of the newcomers (their marks give a result at once). Printed:
   p50/p95/p99 of the GET and the POST, the peer ``GET /api/health`` at the same rate, throughput
   achieved vs offered, every phone registered exactly once (lost, duplicates), the CPU of the load
   generator (a small asyncio HTTP/1.1 client, cheap next to the server) and of the server.

    PYTHONPATH=src python benchmarks/bench_enterprise.py [--employees 100000] [--registrations 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pg import PgCluster  # noqa: E402

from benchmarks._common import bench_env, pct, served, tree_cpu  # noqa: E402
from benchmarks._common import free_port as _free_port  # noqa: E402


def _ids(n: int, offset: int) -> list[str]:
    from zhikong.people.idcard import make_id_number

    out = []
    for i in range(offset, offset + n):
        born = date(1960, 1, 1) + timedelta(days=i // 400)
        out.append(make_id_number("500113", born, i % 400, "male" if i % 2 else "female"))
    return out


def seed(n_emp: int, lake_rows: int, lake: Path, registrants: int = 0) -> int:
    """Units, enterprises, employees, a case with contacts, risk areas, the lake; returns the id of
    the enterprise used for the registration peak."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import insert

    from zhikong.core.crypto import get_cipher
    from zhikong.core.db import get_engine, unit_of_work
    from zhikong.core.migrate import upgrade
    from zhikong.core.time import utcnow
    from zhikong.enterprise.models import Employee, Enterprise, Level
    from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
    from zhikong.screening.models import RiskArea, RiskLevel
    from zhikong.tracing.models import Case, Contact, ContactClass, RunStatus, TraceRun

    upgrade(get_engine())
    cipher = get_cipher()
    now = utcnow()
    rng = random.Random(7)
    with unit_of_work() as s:
        d = AdminUnit(code="500113", name="巴南区", level=UnitLevel.DISTRICT, kind=UnitKind.DISTRICT,
                      path="/500113/", lat=29.4, lon=106.5)
        s.add(d)
        s.flush()
        t = AdminUnit(code="500113001", name="示范街道", level=UnitLevel.TOWN, kind=UnitKind.TOWN,
                      parent_id=d.id, path="/500113/500113001/", lat=29.4, lon=106.5)
        s.add(t)
        s.flush()
        ents = [Enterprise(name=f"企业{i:03d}", town_id=t.id, address="") for i in range(200)]
        s.add_all(ents)
        s.flush()
        ent_ids = [e.id for e in ents]
        ids = _ids(n_emp, 0)
        id_hash = [cipher.keyed_hash(x) for x in ids]
        ph_hash = [cipher.keyed_hash(f"+8613{i:09d}") for i in range(n_emp)]
        rows = [{"enterprise_id": ent_ids[i % 200], "name": f"员工{i}", "link_method": "none",
                 "id_number_enc": "bench", "id_number_hash": id_hash[i], "id_number_masked": "5001**",
                 "phone_enc": "bench", "phone_hash": ph_hash[i], "phone_masked": "13*",
                 "consent_version": "bench", "consent_at": now, "link_token_hash": f"{i:064d}",
                 "level": Level.GREEN, "reasons": [], "policy_version": "", "registered_at": now}
                for i in range(n_emp)]
        for i in range(0, n_emp, 10_000):
            s.execute(insert(Employee), rows[i:i + 10_000])
        run = TraceRun(policy="bench", policy_edition=1, engine="duckdb", status=RunStatus.COMPLETED)
        case = Case(person_key="bench-case", label="病例", onset_at=now - timedelta(days=1))
        s.add_all([run, case])
        s.flush()
        picked = rng.sample(range(n_emp), int(n_emp * 0.03))
        classes = [ContactClass.CLOSE, ContactClass.SECONDARY, ContactClass.COMPANION]
        s.execute(insert(Contact), [
            {"run_id": run.id, "case_id": case.id, "person_key": id_hash[j], "cls": classes[k % 3],
             "score": 1.0, "first_at": now - timedelta(days=1), "last_at": now - timedelta(hours=12)}
            for k, j in enumerate(picked)])
        s.add_all([RiskArea(published_on=date.today() - timedelta(days=1), level=RiskLevel.HIGH,
                            city="武汉市", area_code="420100", effective_from=now - timedelta(days=20)),
                   RiskArea(published_on=date.today() - timedelta(days=1), level=RiskLevel.MEDIUM,
                            city="成都市", area_code="510100", effective_from=now - timedelta(days=20))])
        target = ent_ids[0]
    # the lake knows the people about to register too (their trips predate the registration)
    pool_id = id_hash + [cipher.keyed_hash(x) for x in _ids(registrants, 500_000)]
    pool_ph = ph_hash + [cipher.keyed_hash(f"+86139{i:08d}") for i in range(registrants)]
    ts = pa.timestamp("us", tz="UTC")
    cities = [("北京市", "110100"), ("上海市", "310100"), ("广州市", "440100")]
    for source in ("travel", "roaming"):
        (lake / source / "day=bench").mkdir(parents=True, exist_ok=True)
        pids, city, code, t0, t1 = [], [], [], [], []
        for k in range(lake_rows):
            j = rng.randrange(len(pool_id))
            pids.append(pool_id[j] if source == "travel" else pool_ph[j])
            c = (("武汉市", "420100") if k % 2 else ("成都市", "510100")) if rng.random() < 0.01 \
                else rng.choice(cities)
            city.append(c[0])
            code.append(c[1])
            start = now - timedelta(hours=rng.randrange(1, 24 * 14))
            t0.append(start)
            t1.append(start + timedelta(hours=3))
        if source == "travel":
            tbl = pa.table({"pid": pids, "origin_city": city, "origin_code": code,
                            "depart_ts": pa.array(t0, ts), "ts": pa.array(t1, ts)})
        else:
            tbl = pa.table({"pid": pids, "city": city, "city_code": code,
                            "first_seen": pa.array(t0, ts), "last_seen": pa.array(t1, ts)})
        pq.write_table(tbl, lake / source / "day=bench" / "part.parquet")
    return target


def bench_recompute(lake: Path) -> None:
    from sqlalchemy import insert, select

    from zhikong.core.db import unit_of_work
    from zhikong.core.time import utcnow
    from zhikong.enterprise.models import Employee
    from zhikong.enterprise.risk import recompute, recompute_affected
    from zhikong.tracing.models import Case, Contact, ContactClass, TraceRun

    t0 = time.perf_counter()
    with unit_of_work() as s:
        keys = s.execute(select(Employee.id, Employee.id_number_hash, Employee.phone_hash)).all()
    peer = time.perf_counter() - t0
    n = len(keys)
    t0 = time.perf_counter()
    with unit_of_work() as s:
        first = recompute(s, lake_dir=lake, create_tasks=False)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    with unit_of_work() as s:
        second = recompute(s, lake_dir=lake, create_tasks=False)
    t_second = time.perf_counter() - t0
    print(f"recompute (full, marks refresh over the whole lake + all employees): {n:,} employees; "
          f"first run {t_first:.1f} s ({first.changed:,} changed, levels {first.by_level}, "
          f"{first.marks_changed:,} keys marked); second run {t_second:.1f} s "
          f"({second.changed} changed); peer SELECT of all keys {peer:.2f} s "
          f"(ratio first/peer {t_first / peer:.1f}×); goal ≤ 60 s")
    # a new case's contacts land: what the tracing event runs (refresh, affected employees only)
    rng = random.Random(11)
    now = utcnow()
    with unit_of_work() as s:
        run = s.scalars(select(TraceRun)).first()
        case = Case(person_key="bench-case-2", label="病例2", onset_at=now - timedelta(hours=6))
        s.add(case)
        s.flush()
        assert run is not None
        picked = rng.sample(range(n), min(n, 1000))
        s.execute(insert(Contact), [
            {"run_id": run.id, "case_id": case.id, "person_key": keys[j][1], "cls": ContactClass.CLOSE,
             "score": 1.0, "first_at": now - timedelta(hours=6), "last_at": now - timedelta(hours=2)}
            for j in picked])
    t0 = time.perf_counter()
    with unit_of_work() as s:
        aff = recompute_affected(s, lake_dir=lake, create_tasks=False)
    t_aff = time.perf_counter() - t0
    print(f"recompute after a new case's 1,000 close contacts land (event path: marks refresh + "
          f"affected employees): {t_aff:.1f} s ({aff.marks_changed:,} keys changed, {aff.employees:,} "
          f"employees recomputed, {aff.changed:,} changed); ratio to peer {t_aff / peer:.1f}×")


class _Http:
    """A deliberately small HTTP/1.1 client over asyncio streams (the load generator shares the two
    cores with the server: httpx costs several times more CPU per request). One connection per
    phone, kept alive between its GET and POST, like a phone's browser."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: bench-phone\r\n"
                "Accept: text/html\r\n")
        if method == "POST":
            head += ("Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n")
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection") == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def peak(base: str, token: str, n: int, seconds: float, offset: int,
               prefix: str = "新员工") -> dict[str, Any]:
    from urllib.parse import quote, urlencode

    host, port = base.removeprefix("http://").split(":")
    ids = _ids(n, offset)
    lat: dict[str, list[float]] = {"get": [], "post": [], "health": []}
    statuses: list[int] = []
    failures: list[str] = []
    done_at: list[float] = []
    path = f"/enterprise/r/{quote(token)}"
    t_start = time.perf_counter()

    async def timed(http: _Http, key: str, method: str, p: str, body: bytes = b"") -> None:
        t = time.perf_counter()
        try:
            status = await asyncio.wait_for(http.request(method, p, body), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as e:
            failures.append(f"{key}: {type(e).__name__}")
            http.close()
            return
        lat[key].append(time.perf_counter() - t)
        if key != "health":
            statuses.append(status)
        if key == "post":
            done_at.append(time.perf_counter())

    async def phone(i: int) -> None:
        await asyncio.sleep(t_start + i * seconds / n - time.perf_counter())
        http = _Http(host, int(port))
        await timed(http, "get", "GET", path)
        body = urlencode({"name": f"{prefix}{i}", "id_number": ids[i], "phone": f"139{i:08d}",
                          "consent": "yes"}).encode()
        if i % 20 == 0:  # double tap: the second submit on a second connection at the same time
            other = _Http(host, int(port))
            await asyncio.gather(timed(http, "post", "POST", path, body),
                                 timed(other, "post", "POST", path, body))
            other.close()
        else:
            await timed(http, "post", "POST", path, body)
        http.close()

    async def health(i: int) -> None:
        await asyncio.sleep(t_start + (i + 0.5) * seconds / n - time.perf_counter())
        http = _Http(host, int(port))
        await timed(http, "health", "GET", "/api/health")
        http.close()

    await asyncio.gather(*(phone(i) for i in range(n)), *(health(i) for i in range(n)))
    wall = (max(done_at) - t_start) if done_at else float("nan")
    cpu = time.process_time()
    return {"lat": lat, "statuses": statuses, "failures": failures, "wall": wall, "cpu_end": cpu}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--lake-rows", type=int, default=500_000)
    ap.add_argument("--registrations", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cluster = PgCluster().start()
    stack = ExitStack()
    try:
        url = cluster.create_database("bench")
        data_dir = Path(tempfile.mkdtemp(prefix="zhikong-bench-ent-"))
        env = bench_env(url, data_dir)
        lake = data_dir / "lake"
        t0 = time.perf_counter()
        target = seed(args.employees, args.lake_rows, lake, args.registrations)
        print(f"seeded {args.employees:,} employees, lake {args.lake_rows:,} rows per source in "
              f"{time.perf_counter() - t0:.0f} s")
        bench_recompute(lake)

        from zhikong.enterprise.service import qr_token

        token = qr_token(target)
        port = _free_port()
        argv = [sys.executable, "-m", "uvicorn", "zhikong.web.app:create_app", "--factory", "--host",
                "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
                "--timeout-keep-alive", "75", "--log-level", "warning", "--no-access-log"]
        server, base = stack.enter_context(served(argv, env, port, tries=200))
        if os.environ.get("BENCH_PROBE"):
            ident = _ids(1, 990_000)[0]
            subprocess.run([sys.executable, os.environ["BENCH_PROBE"], base, token, ident], timeout=60)
            return
        asyncio.run(peak(base, token, 20, 2, 900_000, "预热"))  # warm-up (other identities)
        cpu0, srv0 = time.process_time(), sum(tree_cpu(server.pid).values())
        res = asyncio.run(peak(base, token, args.registrations, args.seconds, 500_000))
        gen_cpu, srv_cpu = time.process_time() - cpu0, sum(tree_cpu(server.pid).values()) - srv0
        lat = res["lat"]
        from sqlalchemy import func, select

        from zhikong.core.db import unit_of_work
        from zhikong.enterprise.models import Employee

        with unit_of_work() as s:
            got = s.scalar(select(func.count()).select_from(Employee).where(
                Employee.name.like("新员工%"), Employee.enterprise_id == target))
            dups = s.scalar(select(func.count()).select_from(
                select(Employee.id_number_hash).where(Employee.enterprise_id == target)
                .group_by(Employee.id_number_hash).having(func.count() > 1).subquery()))
            red = s.scalar(select(func.count()).select_from(Employee).where(
                Employee.name.like("新员工%"), Employee.level != "green"))
        codes: dict[int, int] = {}
        for c in res["statuses"]:
            codes[c] = codes.get(c, 0) + 1
        ms = 1000
        offered = args.registrations * 60 / args.seconds
        achieved = args.registrations * 60 / res["wall"]
        print(f"registration peak: {args.registrations:,} phones over {args.seconds:.0f} s, "
              f"uvicorn {args.workers} workers, PostgreSQL, {args.employees:,} employees registered "
              f"before; statuses {codes}; client failures {len(res['failures'])} "
              f"{sorted(set(res['failures']))[:5]}")
        print(f"  throughput: offered {offered:,.0f}/min, achieved {achieved:,.0f}/min "
              f"(last registration answered {res['wall']:.1f} s after the first arrival)")
        for k in ("get", "post", "health"):
            v = lat[k]
            print(f"  {k:6s} n={len(v):5d} p50 {pct(v, 50) * ms:6.0f} ms  p95 {pct(v, 95) * ms:6.0f} ms  "
                  f"p99 {pct(v, 99) * ms:6.0f} ms")
        print(f"  POST p95 / health p95 ratio {pct(lat['post'], 95) / pct(lat['health'], 95):.1f}×; "
              f"goal POST p95 ≤ 300 ms")
        print(f"  registered {got:,} of {args.registrations:,} (lost {args.registrations - (got or 0)}), "
              f"duplicate employees {dups}; {red} registered non-green from their risk marks")
        sent = 2 * args.registrations + args.registrations // 20
        print(f"  load generator CPU {gen_cpu:.1f} s for {sent:,} requests + "
              f"{args.registrations:,} health probes; server CPU {srv_cpu:.1f} s "
              f"({srv_cpu * 1000 / args.registrations:.0f} ms per phone incl. its health probe; "
              f"{srv_cpu / res['wall']:.2f} cores busy)")
    finally:
        stack.close()
        cluster.stop()


if __name__ == "__main__":
    main()

"""Tasks API under load: PostgreSQL, uvicorn with 2 workers on loopback, 200 concurrent clients.

Each client loops for ``--seconds``: 70 % list tasks (``GET /api/tasks``), 30 % edit a random task
(``PATCH /api/tasks/{id}`` with the version it last saw; a 409 makes it re-read and retry).
Printed: p50/p95/p99 latency and throughput per kind, the same for a peer measured in the same run
(``GET /api/health``, no database) and the ratio, and the lost-update check: for every task, the
final version must be 1 + the number of accepted edits and the final description the one of the
last accepted edit.

    PYTHONPATH=src python benchmarks/bench_tasks_api.py [--clients 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pg import PgCluster  # noqa: E402

from benchmarks._common import free_port as _free_port  # noqa: E402
from benchmarks._common import pct  # noqa: E402


def seed(n_tasks: int) -> str:
    """Units, a command-centre user with an API token, and ``n_tasks`` tasks; returns the token."""
    from argon2 import PasswordHasher
    from tests.factories import make_tree, make_user

    from zhikong.auth import service as auth_service
    from zhikong.auth.models import Role
    from zhikong.core.db import unit_of_work
    from zhikong.core.migrate import upgrade
    from zhikong.tasks.models import Priority, TaskKind
    from zhikong.tasks.service import create_task

    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    upgrade()
    with unit_of_work() as s:
        tree = make_tree(s)
        user = make_user(s, Role.DISTRICT_COMMAND, tree.district)
        units = [tree.village11, tree.village12, tree.village21, tree.town1, tree.town2]
        for i in range(n_tasks):
            create_task(
                s,
                kind=TaskKind.REGISTRATION,
                unit_id=units[i % len(units)].id,
                title=f"排查任务 {i}",
                description="",
                priority=Priority.NORMAL,
                source="bench",
                actor=user,
            )
        _, token = auth_service.create_api_token(s, user, "bench")
    return token


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d.name))
    return kids


def cpu_seconds(root: int) -> dict[int, float]:
    """CPU time (user + system) of ``root`` and its descendants, per pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
        todo.extend(_children(pid))
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())



#: tasks with an edit whose answer never arrived (transport error): excluded from the strict check
ambiguous: set[int] = set()


async def run_load(
    base: str, token: str, clients: int, seconds: float, task_ids: list[int], write_share: float
) -> tuple[dict[str, list[float]], dict[str, int], dict[int, list[tuple[int, str]]]]:
    lat: dict[str, list[float]] = defaultdict(list)
    status: dict[str, int] = defaultdict(int)
    accepted: dict[int, list[tuple[int, str]]] = defaultdict(list)  # task → [(new version, description)]
    ambiguous.clear()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    stop_at = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def client(cid: int) -> None:
            rnd = random.Random(cid)
            versions: dict[int, int] = {}
            n = 0
            while time.monotonic() < stop_at:
                try:
                    if rnd.random() >= write_share:
                        t0 = time.perf_counter()
                        r = await http.get(
                            "/api/tasks", params={"limit": 20, "offset": rnd.randrange(0, 200)}
                        )
                        lat["list"].append(time.perf_counter() - t0)
                        status[f"list {r.status_code}"] += 1
                        continue
                    tid = rnd.choice(task_ids)
                    if tid not in versions:
                        t0 = time.perf_counter()
                        r = await http.get(f"/api/tasks/{tid}")
                        lat["read"].append(time.perf_counter() - t0)
                        status[f"read {r.status_code}"] += 1
                        if r.status_code != 200:
                            continue
                        versions[tid] = int(r.json()["version"])
                except httpx.TransportError:
                    status["transport error (read)"] += 1
                    continue
                n += 1
                desc = f"client {cid} edit {n}"
                t0 = time.perf_counter()
                try:
                    r = await http.patch(
                        f"/api/tasks/{tid}", json={"version": versions[tid], "description": desc}
                    )
                except httpx.TransportError:
                    # no answer: the edit may or may not have landed; the check treats it as unknown
                    status["transport error (update)"] += 1
                    ambiguous.add(tid)
                    versions.pop(tid, None)
                    continue
                lat["update"].append(time.perf_counter() - t0)
                status[f"update {r.status_code}"] += 1
                if r.status_code == 200:
                    v = int(r.json()["version"])
                    accepted[tid].append((v, desc))
                    versions[tid] = v
                else:
                    versions.pop(tid, None)  # stale: re-read next time

        await asyncio.gather(*(client(i) for i in range(clients)))
    return lat, status, accepted


async def run_peer(base: str, clients: int, seconds: float) -> list[float]:
    lat: list[float] = []
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:

        async def client() -> None:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                await http.get("/api/health")
                lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(client() for _ in range(clients)))
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--write-share", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    cluster = PgCluster().start()
    server: subprocess.Popen[bytes] | None = None
    try:
        url = cluster.create_database("bench")
        data_dir = Path(tempfile.mkdtemp(prefix="zhikong-bench-"))
        env = dict(
            os.environ,
            ZHIKONG_DATABASE_URL=url,
            ZHIKONG_DATA_DIR=str(data_dir),
            ZHIKONG_SECRET_KEY="bench-secret-key-0123456789abcdef",
            PYTHONPATH=str(ROOT / "src"),
        )
        os.environ.update(
            {k: env[k] for k in ("ZHIKONG_DATABASE_URL", "ZHIKONG_DATA_DIR", "ZHIKONG_SECRET_KEY")}
        )
        token = seed(args.tasks)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "zhikong.web.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--timeout-keep-alive",
                "60",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not start")

        from sqlalchemy import select

        from zhikong.core.db import unit_of_work
        from zhikong.tasks.models import Task

        with unit_of_work() as s:
            task_ids = list(s.scalars(select(Task.id)))
        # a short warm-up, then the peer and the measured run
        asyncio.run(run_peer(base, 20, 2))
        peer = asyncio.run(run_peer(base, args.clients, min(10.0, args.seconds)))
        postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
        cpu0_app, cpu0_db = cpu_seconds(server.pid), cpu_seconds(postmaster)
        t0 = time.perf_counter()
        lat, status, accepted = asyncio.run(
            run_load(base, token, args.clients, args.seconds, task_ids, args.write_share)
        )
        wall = time.perf_counter() - t0
        app_cpu = cpu_delta(cpu0_app, cpu_seconds(server.pid))
        db_cpu = cpu_delta(cpu0_db, cpu_seconds(postmaster))

        # lost-update check against the database
        lost = 0
        with unit_of_work() as s:
            final = {t.id: (t.version, t.description) for t in s.scalars(select(Task))}
        for tid, edits in accepted.items():
            if tid in ambiguous:
                continue
            v, desc = final[tid]
            last = max(edits)
            if v != 1 + len(edits) or desc != last[1] or len({e[0] for e in edits}) != len(edits):
                lost += 1
        untouched_ok = all(final[t][0] == 1 for t in task_ids if t not in accepted and t not in ambiguous)

        total = sum(len(v) for v in lat.values())
        print(
            f"\nbench_tasks_api: PostgreSQL 15, uvicorn {args.workers} workers, {args.clients} clients, "
            f"{args.seconds:g} s, {args.tasks} tasks, {int(args.write_share * 100)} % writes "
            f"(client and server share {os.cpu_count()} cores)"
        )
        print(f"{'kind':<8}{'requests':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
        for kind in ("list", "read", "update"):
            v = lat.get(kind, [])
            print(
                f"{kind:<8}{len(v):>10}{pct(v, 50) * 1000:>10.1f}{pct(v, 95) * 1000:>10.1f}"
                f"{pct(v, 99) * 1000:>10.1f}"
            )
        all_lat = [x for v in lat.values() for x in v]
        print(
            f"{'all':<8}{total:>10}{pct(all_lat, 50) * 1000:>10.1f}{pct(all_lat, 95) * 1000:>10.1f}"
            f"{pct(all_lat, 99) * 1000:>10.1f}"
        )
        print(f"throughput: {total / wall:.0f} requests/s (tasks API)")
        peer_rps = len(peer) / min(10.0, args.seconds)
        print(
            f"peer GET /api/health (no database): {peer_rps:.0f} requests/s, "
            f"p95 {pct(peer, 95) * 1000:.1f} ms"
        )
        print(
            f"ratio tasks API / peer: throughput {total / wall / peer_rps:.2f}, "
            f"p95 {pct(all_lat, 95) / pct(peer, 95):.2f}"
        )
        per_req = (app_cpu + db_cpu) / max(total, 1)
        print(
            f"server CPU per request: {app_cpu / max(total, 1) * 1000:.1f} ms app + "
            f"{db_cpu / max(total, 1) * 1000:.1f} ms PostgreSQL = {per_req * 1000:.1f} ms "
            f"(≈ {2 / per_req:.0f} requests/s if 2 cores were free for the server); "
            f"load average during the run: {os.getloadavg()[0]:.1f}"
        )
        print("statuses:", dict(sorted(status.items())))
        n_acc = sum(len(v) for v in accepted.values())
        print(
            f"accepted updates: {n_acc} on {len(accepted)} tasks; lost updates: {lost}; "
            f"untouched tasks unchanged: {untouched_ok}; tasks with an unanswered edit (not checked): "
            f"{len(ambiguous)}"
        )
        if lost or not untouched_ok:
            raise SystemExit("LOST UPDATES")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        cluster.stop()


if __name__ == "__main__":
    main()

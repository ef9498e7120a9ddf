"""Tasks API under load: PostgreSQL 15, ``zhikong serve --workers 2`` on loopback, 200 connections.

The load comes from ``wrk`` (C, Debian package ``wrk``; the script says so when it is missing) with
``benchmarks/tasks_mix.lua``: 200 keep-alive connections, each request at random a list
(70 %, ``GET /api/tasks?limit=20&offset=…``) or an edit (30 %, ``PATCH /api/tasks/{id}`` with the
version the wrk thread last saw; a 409 is a refused edit and tells the current version).
Printed: requests/s and p50/p95/p99 latency of the mix, the same for a peer measured in the same
run against the same server (``GET /api/health``, no database) and the ratio; responses per status
(accepted vs refused edits); server and PostgreSQL CPU per request; and the lost-update check
against the database: for every task, the final version must be 1 + the number of accepted edits
and the final description the one of the accepted edit with the highest version; untouched tasks
must be at version 1.

    PYTHONPATH=src python benchmarks/bench_tasks_api.py [--clients 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.pg import PgCluster  # noqa: E402

from benchmarks._common import bench_env, cpu_delta, served, tree_cpu  # noqa: E402
from benchmarks._common import free_port as _free_port  # noqa: E402


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



WRK_SCRIPT = Path(__file__).with_name("tasks_mix.lua")


def run_wrk(
    base: str, clients: int, seconds: float, threads: int, args: list[str], think_ms: float = 0.0
) -> dict[str, Any]:
    """Run ``wrk`` with ``tasks_mix.lua``; returns its JSON summary plus the CPU it used."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{clients}",
                f"-d{seconds:g}s",
                "--timeout",
                "60s",
                "-s",
                str(WRK_SCRIPT),
                base,
                "--",
                *args,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, ZHIKONG_WRK_OUT=out.name, ZHIKONG_WRK_THINK_MS=f"{think_ms:.1f}"),
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result: dict[str, Any] = json.loads(Path(out.name).read_text())
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


@dataclass
class LostCheck:
    accepted: int  # accepted edits
    tasks_edited: int  # tasks with at least one accepted edit
    unanswered: int  # edits sent without an answer (in flight when wrk stopped)
    unanswered_landed: int  # tasks whose final state is an unanswered edit
    lost: int  # tasks whose final state contradicts the accepted edits


def check_lost(
    accepted_lines: list[str], sent_lines: list[str], answered: int, final: dict[int, tuple[int, str]]
) -> LostCheck:
    """Compare the accepted edits with the database.

    For every task: the accepted edits have distinct versions; with ``k`` unanswered edits that
    landed, the final version is 1 + accepted + k; the description is the one of the accepted edit
    with the final version if there is one (untouched tasks: version 1, description unchanged), else
    one of the task's sent edits that got no 200. Over all tasks, the landed unanswered edits cannot
    exceed the edits still in flight when wrk stopped (``len(sent_lines) - answered``).
    """
    edits: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for line in accepted_lines:
        tid, version, desc = line.split(" ", 2)
        edits[int(tid)].append((int(version), desc))
    accepted_descs = {d for es in edits.values() for _, d in es}
    others: dict[int, set[str]] = defaultdict(set)
    for line in sent_lines:
        tid, desc = line.split(" ", 1)
        if desc not in accepted_descs:
            others[int(tid)].add(desc)
    lost = landed = 0
    for tid, (version, desc) in final.items():
        es = edits.get(tid, [])
        extra = version - 1 - len(es)
        top = max(es) if es else (1, "")
        if len({v for v, _ in es}) != len(es) or extra < 0 or extra > len(others[tid]) or top[0] > version:
            lost += 1
        elif top[0] == version:  # the last write was an accepted edit (or none: version 1)
            lost += desc != top[1]
            landed += extra  # unanswered edits that landed before it
        elif desc in others[tid]:  # the last write was an unanswered edit
            landed += extra
        else:
            lost += 1
    in_flight = len(sent_lines) - answered
    if landed > in_flight:
        lost += landed - in_flight
    return LostCheck(len(accepted_descs), len(edits), in_flight, landed, lost)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--write-share", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument(
        "--rate", type=float, default=320.0,
        help="offered requests/s of the paced runs (think time = clients / rate); 0: back to back",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench_tasks_api needs wrk (the HTTP load generator): apt-get install wrk, "
            "or ZHIKONG_SETUP_TESTS=1 bash scripts/setup.sh"
        )

    cluster = PgCluster().start()
    stack = ExitStack()
    try:
        url = cluster.create_database("bench")
        env = bench_env(url, Path(tempfile.mkdtemp(prefix="zhikong-bench-")))
        token = seed(args.tasks)
        port = _free_port()
        argv = [sys.executable, "-m", "zhikong", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers), "--no-access-log"]
        server, base = stack.enter_context(served(argv, env, port))

        from sqlalchemy import func, select

        from zhikong.core.db import unit_of_work
        from zhikong.tasks.models import Task

        with unit_of_work() as s:
            first_id, last_id, n = s.execute(select(func.min(Task.id), func.max(Task.id), func.count())).one()
        assert last_id - first_id + 1 == n, "task ids are not contiguous"
        mix_args = [token, str(first_id), str(last_id), str(args.write_share)]
        # warm-up (every worker process connects and fills its caches; edits are checked too)
        think_ms = args.clients / args.rate * 1000 if args.rate > 0 else 0.0
        sat_seconds = min(10.0, args.seconds)
        postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
        # warm-up (every worker process connects and fills its caches; its edits are checked too)
        warm = run_wrk(base, 20, 2, 1, [*mix_args, "warm"])
        peer = run_wrk(base, args.clients, args.seconds, args.wrk_threads, ["health"], think_ms)
        cpu0_app, cpu0_db = tree_cpu(server.pid), tree_cpu(postmaster)
        load = run_wrk(base, args.clients, args.seconds, args.wrk_threads, [*mix_args, "paced"], think_ms)
        app_cpu = cpu_delta(cpu0_app, tree_cpu(server.pid))
        db_cpu = cpu_delta(cpu0_db, tree_cpu(postmaster))
        loadavg = os.getloadavg()[0]
        # capacity: the same connections back to back (no think time)
        sat = run_wrk(base, args.clients, sat_seconds, args.wrk_threads, [*mix_args, "sat"])
        peer_sat = run_wrk(base, args.clients, sat_seconds, args.wrk_threads, ["health"])

        runs = (warm, load, sat)
        with unit_of_work() as s:
            final = {t.id: (t.version, t.description) for t in s.scalars(select(Task))}
        answered = sum(r["counts"].get(k, 0) for r in runs for k in ("update 200", "update 409"))
        check = check_lost(
            [a for r in runs for a in r["accepted"]], [x for r in runs for x in r["sent"]], answered, final
        )

        def rps(r: dict[str, Any]) -> float:
            return float(r["requests"]) / (r["duration_us"] / 1e6)

        total = int(load["requests"])
        print(
            f"\nbench_tasks_api: PostgreSQL 15, zhikong serve --workers {args.workers}, wrk "
            f"{args.wrk_threads} threads × {args.clients} connections, {args.tasks} tasks, "
            f"{int(args.write_share * 100)} % edits (load generator and server share {os.cpu_count()} cores)"
        )
        print(
            f"paced: each connection thinks {think_ms:.0f} ms on average (exponential) before each request "
            f"(offered ≈ {args.rate:g} requests/s), {args.seconds:g} s; back to back: no think time, "
            f"{sat_seconds:g} s"
        )
        print(f"{'':<40}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, r in (
            ("tasks mix (list + edit), paced", load),
            ("peer GET /api/health (no DB), paced", peer),
            ("tasks mix, back to back", sat),
            ("peer GET /api/health, back to back", peer_sat),
        ):
            print(
                f"{name:<40}{r['requests']:>10}{rps(r):>8.0f}{r['p50_us'] / 1000:>9.1f}"
                f"{r['p95_us'] / 1000:>9.1f}{r['p99_us'] / 1000:>9.1f}{r['max_us'] / 1000:>9.1f}"
            )
        print(
            f"ratio tasks mix / peer: paced p95 {load['p95_us'] / max(peer['p95_us'], 1):.2f}; "
            f"back-to-back throughput {rps(sat) / rps(peer_sat):.2f}"
        )
        goal = rps(load) >= 300 and load["p95_us"] <= 100_000
        print(
            f"goal p95 <= 100 ms at >= 300 requests/s (paced run): {'met' if goal else 'NOT met'} "
            f"({rps(load):.0f} requests/s, p95 {load['p95_us'] / 1000:.1f} ms)"
        )
        per_req = (app_cpu + db_cpu) / max(total, 1)
        print(
            f"server CPU per request (paced run): {app_cpu / max(total, 1) * 1000:.2f} ms app + "
            f"{db_cpu / max(total, 1) * 1000:.2f} ms PostgreSQL = {per_req * 1000:.2f} ms "
            f"(≈ {2 / per_req:.0f} requests/s if 2 cores were free for the server); wrk used "
            f"{load['cpu_s']:.1f} s CPU ({load['cpu_s'] / args.seconds * 100:.0f} % of a core); "
            f"load average after it: {loadavg:.1f}"
        )
        for name, r in (("paced", load), ("back to back", sat)):
            print(
                f"responses ({name}):", dict(sorted(r["counts"].items())), "socket errors:", r["errors"],
                f"sent: {r['sent_list']} lists, {r['sent_update']} edits",
            )
        refused = sum(r["counts"].get("update 409", 0) for r in runs)
        print(
            f"edits (warm-up + paced + back to back): {check.accepted} accepted on {check.tasks_edited} "
            f"tasks, {refused} refused (409, stale version), {check.unanswered} in flight when wrk "
            f"stopped ({check.unanswered_landed} of them landed); lost updates (tasks whose final "
            f"version/text contradict the accepted edits): {check.lost}"
        )
        for r in (*runs, peer, peer_sat):
            errors = sum(r["errors"].values()) - r["errors"]["status"]
            bad = {k: v for k, v in r["counts"].items() if not k.endswith((" 200", " 409"))}
            if errors or bad:
                print("WARNING: socket errors or unexpected statuses:", r["errors"], bad)
        if check.lost:
            raise SystemExit("LOST UPDATES")
    finally:
        stack.close()
        cluster.stop()


if __name__ == "__main__":
    main()

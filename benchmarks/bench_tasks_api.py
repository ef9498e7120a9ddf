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
import threading
from collections import Counter, defaultdict
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


class WaitSampler:
    """Samples ``pg_stat_activity`` every ``interval`` s in a thread: for every backend of the
    database that is not idle, what it waits for (``wait_event_type:wait_event``, or ``CPU`` when it
    runs, ``app`` when it is idle in a transaction, i.e. waits for the Python side) and the head of
    its statement. ``mean(key)`` = average number of backends in that state (Little: ÷ rate = time
    each request spends there)."""

    QUERY = (
        "SELECT state, coalesce(wait_event_type || ':' || wait_event, ''), left(query, 60) "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' AND state <> 'idle'"
    )

    def __init__(self, dsn: str, interval: float = 0.02) -> None:
        self.dsn, self.interval = dsn, interval
        self.counts: Counter[tuple[str, str]] = Counter()
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                for state, wait, query in conn.execute(self.QUERY).fetchall():
                    idle_in_tx = state == "idle in transaction"
                    what = "app (idle in transaction)" if idle_in_tx else wait or "CPU"
                    stmt = " ".join(str(query).split()[:3]).replace('"', "")
                    self.counts[(what, "(last) " + stmt if idle_in_tx else stmt)] += 1
                self.rounds += 1

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, requests_per_s: float, top: int = 10) -> list[str]:
        lines = []
        for (what, stmt), n in self.counts.most_common(top):
            mean = n / max(self.rounds, 1)
            lines.append(
                f"  {mean:6.2f} backends  ≈ {mean / max(requests_per_s, 1e-9) * 1000:6.2f} ms per request"
                f"  {what:<28} {stmt}"
            )
        return lines


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


def lock_waits(log: Path) -> list[str]:
    """The relation named by every "still waiting for" / "acquired" lock-wait line of the log
    (``log_lock_waits``); the tuple's relation is on the CONTEXT line that follows."""
    out: list[str] = []
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if "still waiting for" in line:
            rel = "?"
            for follow in lines[i + 1 : i + 4]:
                if " in relation " in follow:
                    rel = follow.split(" in relation ", 1)[1].strip().strip('"')
                    break
            kind = line.split("still waiting for ", 1)[1].split(" on ", 1)[0]
            out.append(f"{kind} / {rel}")
    return out


def check_audit(final: dict[int, tuple[int, str]]) -> tuple[str, bool]:
    """Every landed edit wrote one ``task.edit`` audit record (the benchmark only edits, so their
    number is the sum of the version bumps); the chain verifies. Returns (line, bad)."""
    from sqlalchemy import func, select

    from zhikong import audit
    from zhikong.audit.models import AuditRecord
    from zhikong.core.db import unit_of_work

    bumps = sum(v - 1 for v, _ in final.values())
    with unit_of_work() as s:  # what the server's linker had not linked when it stopped (none)
        leftover = audit.link_pending(s)
    with unit_of_work() as s:
        edits = s.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "task.edit")
        )
        result = audit.verify(s)
    bad = edits != bumps or not result.ok
    line = (
        f"audit: {edits} task.edit records for {bumps} landed edits; chain of {result.count} records "
        + ("verifies" if result.ok else f"BROKEN: {result.problems[:3]}")
        + f"; {leftover} records were left unlinked after the server stopped"
    )
    return line, bad


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
    ap.add_argument(
        "--unsafe-no-fsync", action="store_true",
        help="a separate, NOT durable variant: PostgreSQL with fsync, synchronous_commit and "
             "full_page_writes off (the headline figure is without this flag)",
    )
    ap.add_argument("--no-back-to-back", action="store_true", help="skip the back-to-back capacity runs")
    ap.add_argument(
        "--lock-log", action="store_true",
        help="diagnosis: log_lock_waits with deadlock_timeout 10 ms; prints the relations waited on",
    )
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench_tasks_api needs wrk (the HTTP load generator): apt-get install wrk, "
            "or ZHIKONG_SETUP_TESTS=1 bash scripts/setup.sh"
        )

    extra = {"log_lock_waits": "on", "deadlock_timeout": "10ms"} if args.lock_log else {}
    cluster = PgCluster(durable=not args.unsafe_no_fsync, extra=extra).start()
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
        dsn = f"host=127.0.0.1 port={cluster.port} user=zhikong dbname=bench"
        with WaitSampler(dsn) as waits:
            load = run_wrk(base, args.clients, args.seconds, args.wrk_threads, [*mix_args, "paced"], think_ms)
        app_cpu = cpu_delta(cpu0_app, tree_cpu(server.pid))
        db_cpu = cpu_delta(cpu0_db, tree_cpu(postmaster))
        loadavg = os.getloadavg()[0]
        runs: tuple[dict[str, Any], ...] = (warm, load)
        if not args.no_back_to_back:
            # capacity: the same connections back to back (no think time)
            sat = run_wrk(base, args.clients, sat_seconds, args.wrk_threads, [*mix_args, "sat"])
            peer_sat = run_wrk(base, args.clients, sat_seconds, args.wrk_threads, ["health"])
            runs = (warm, load, sat)
        import psycopg

        with psycopg.connect(dsn) as conn:
            pg_settings: dict[str, str] = dict(conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')"
            ).fetchall())
        with unit_of_work() as s:
            final = {t.id: (t.version, t.description) for t in s.scalars(select(Task))}
        answered = sum(r["counts"].get(k, 0) for r in runs for k in ("update 200", "update 409"))
        check = check_lost(
            [a for r in runs for a in r["accepted"]], [x for r in runs for x in r["sent"]], answered, final
        )

        audit_line, audit_bad = check_audit(final)

        def rps(r: dict[str, Any]) -> float:
            return float(r["requests"]) / (r["duration_us"] / 1e6)

        total = int(load["requests"])
        durable = pg_settings.get("fsync") == "on" and pg_settings.get("synchronous_commit") == "on"
        print(
            f"\nbench_tasks_api: PostgreSQL 15, zhikong serve --workers {args.workers}, wrk "
            f"{args.wrk_threads} threads × {args.clients} connections, {args.tasks} tasks, "
            f"{int(args.write_share * 100)} % edits (load generator and server share {os.cpu_count()} cores)"
        )
        print(
            "PostgreSQL durability: "
            + ", ".join(f"{k}={v}" for k, v in sorted(pg_settings.items()))
            + (" (defaults: every commit waits for its WAL flush)" if durable
               else "  *** NOT DURABLE: a separate variant, not the headline figure ***")
        )
        print(
            f"paced: each connection thinks {think_ms:.0f} ms on average (exponential) before each request "
            f"(offered ≈ {args.rate:g} requests/s), {args.seconds:g} s"
            + ("" if args.no_back_to_back else f"; back to back: no think time, {sat_seconds:g} s")
        )
        table = [("tasks mix (list + edit), paced", load), ("peer GET /api/health (no DB), paced", peer)]
        if not args.no_back_to_back:
            table += [("tasks mix, back to back", sat), ("peer GET /api/health, back to back", peer_sat)]
        print(f"{'':<40}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, r in table:
            print(
                f"{name:<40}{r['requests']:>10}{rps(r):>8.0f}{r['p50_us'] / 1000:>9.1f}"
                f"{r['p95_us'] / 1000:>9.1f}{r['p99_us'] / 1000:>9.1f}{r['max_us'] / 1000:>9.1f}"
            )
        print(
            f"ratio tasks mix / peer: paced p95 {load['p95_us'] / max(peer['p95_us'], 1):.2f}"
            + ("" if args.no_back_to_back else f"; back-to-back throughput {rps(sat) / rps(peer_sat):.2f}")
        )
        goal = rps(load) >= 300 and load["p95_us"] <= 100_000
        print(
            f"goal p95 <= 100 ms at >= 300 requests/s (paced run): {'met' if goal else 'NOT met'} "
            f"({rps(load):.0f} requests/s, p95 {load['p95_us'] / 1000:.1f} ms)"
            + ("" if durable else "  [NOT DURABLE variant]")
        )
        per_req = (app_cpu + db_cpu) / max(total, 1)
        print(
            f"server CPU per request (paced run): {app_cpu / max(total, 1) * 1000:.2f} ms app + "
            f"{db_cpu / max(total, 1) * 1000:.2f} ms PostgreSQL = {per_req * 1000:.2f} ms "
            f"(≈ {2 / per_req:.0f} requests/s if 2 cores were free for the server); wrk used "
            f"{load['cpu_s']:.1f} s CPU ({load['cpu_s'] / args.seconds * 100:.0f} % of a core); "
            f"load average after it: {loadavg:.1f}"
        )
        print(
            "PostgreSQL backends during the paced run (sampled every 20 ms; what each non-idle backend "
            "was doing, mean count, and ≈ time per request by Little's law):"
        )
        for line in waits.report(rps(load)):
            print(line)
        for name, r in (("paced", load), *((("back to back", sat),) if not args.no_back_to_back else ())):
            print(
                f"responses ({name}):", dict(sorted(r["counts"].items())), "socket errors:", r["errors"],
                f"sent: {r['sent_list']} lists, {r['sent_update']} edits",
            )
        refused = sum(r["counts"].get("update 409", 0) for r in runs)
        print(
            f"edits (all runs): {check.accepted} accepted on {check.tasks_edited} "
            f"tasks, {refused} refused (409, stale version), {check.unanswered} in flight when wrk "
            f"stopped ({check.unanswered_landed} of them landed); lost updates (tasks whose final "
            f"version/text contradict the accepted edits): {check.lost}"
        )
        print(audit_line)
        if args.lock_log:
            print("lock waits logged (log_lock_waits, > 10 ms), by relation:",
                  dict(Counter(lock_waits(cluster.dir / "log")).most_common()))
        for r in (*runs, *(p for _, p in table[1::2])):
            errors = sum(r["errors"].values()) - r["errors"]["status"]
            bad = {k: v for k, v in r["counts"].items() if not k.endswith((" 200", " 409"))}
            if errors or bad:
                print("WARNING: socket errors or unexpected statuses:", r["errors"], bad)
        if audit_bad:
            raise SystemExit("AUDIT LOG INCOMPLETE OR BROKEN")
        if check.lost:
            raise SystemExit("LOST UPDATES")
    finally:
        stack.close()
        cluster.stop()


if __name__ == "__main__":
    main()

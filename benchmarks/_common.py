"""Helpers shared by the HTTP load benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pg import free_port

__all__ = ["bench_env", "cpu_delta", "free_port", "pct", "served", "tree_cpu"]

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]


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


def tree_cpu(root: int) -> dict[int, float]:
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
    """CPU seconds spent between two :func:`tree_cpu` readings (processes that appeared count whole)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def bench_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of a benchmark's server process (database, data dir, a fixed secret); the
    same settings are put into this process's environment so its seeding writes the same place."""
    env = dict(os.environ, ZHIKONG_DATABASE_URL=database_url, ZHIKONG_DATA_DIR=str(data_dir),
               ZHIKONG_SECRET_KEY="bench-secret-key-0123456789abcdef", PYTHONPATH=str(ROOT / "src"))
    os.environ.update({k: env[k] for k in ("ZHIKONG_DATABASE_URL", "ZHIKONG_DATA_DIR", "ZHIKONG_SECRET_KEY")})
    return env


@contextmanager
def served(argv: list[str], env: dict[str, str], port: int, *,
           tries: int = 300) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start a server process (its own session), wait until ``/api/health`` answers, yield it and
    its base URL; stop the whole process group afterwards (SIGTERM, then SIGKILL)."""
    import httpx

    server = subprocess.Popen(argv, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(tries):
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not start")
        yield server, base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

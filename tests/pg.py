"""A throwaway PostgreSQL 15 cluster for tests: initdb in a temp dir, a free port, stopped after."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("ZHIKONG_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    def __init__(self, *, durable: bool = False, extra: dict[str, str] | None = None) -> None:
        """``durable=False`` (tests): fsync, synchronous commit and full-page writes off, for speed.
        ``durable=True``: PostgreSQL's own defaults (every commit waits for its WAL fsync), as a
        production server would run; benchmarks use it. ``extra``: more ``-c name=value`` settings."""
        self.durable = durable
        self.extra = dict(extra or {})
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.dir = Path(tempfile.mkdtemp(prefix="zhikong-pg-"))
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PgCluster:
        data = self.dir / "data"
        self._run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "zhikong", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        opts = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
                "-c max_connections=300 -c shared_buffers=256MB")
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for k, v in self.extra.items():
            opts += f" -c {k}={v}"
        log = str(self.dir / "log")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", log, "-w", "start")
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://zhikong@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=zhikong dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def wait(self, timeout: float = 10) -> None:
        end = time.time() + timeout
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start")

"""A throwaway local MQTT broker (Debian's mosquitto) for tests, benchmarks and the demo simulator."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from zhikong.core.errors import ConfigError

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def find_mosquitto() -> str | None:
    for p in MOSQUITTO_PATHS:
        if Path(p).exists():
            return p
    return shutil.which("mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """``with LocalBroker() as b: b.port`` — loopback only, anonymous, no persistence, queues large
    enough for a disconnected persistent session and unlimited messages in flight."""

    def __init__(self, port: int | None = None) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise ConfigError("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = tempfile.TemporaryDirectory(prefix="zk-mqtt-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalBroker:
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_inflight_messages 0\nmax_queued_messages 0\nmax_queued_bytes 0\n"
            f"log_dest file {Path(self._dir.name) / 'mosquitto.log'}\n"
        )
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise ConfigError(f"mosquitto exited with {self.proc.returncode}") from None
                time.sleep(0.05)
        self.stop()
        raise ConfigError(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

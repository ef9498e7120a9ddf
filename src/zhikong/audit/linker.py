"""When appended audit records get linked into the chain.

After a transaction that appended records commits, ``audit.recorded`` is published (once) and
``zhikong.audit.subscribers`` calls :func:`link_soon`:

* by default the records are linked **inline**, in a short transaction right after the commit
  (the CLI, the worker, tests: the chain is complete when the call returns);
* in a process that started a :class:`BackgroundLinker` (the web server does, for its lifetime),
  the call only wakes that thread, which links everything committed so far in one transaction. A
  request therefore never waits for the chain's lock; records wait milliseconds to be linked.

Records left unlinked by a process that died between its commit and the link are picked up by the
next link of any process, the worker's rounds, and ``zhikong audit verify``/``anchor``.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Connection, Engine

from zhikong.audit.service import link_pending
from zhikong.core.db import unit_of_work

__all__ = ["BackgroundLinker", "link_now", "link_soon", "start_background", "stop_background"]

log = logging.getLogger(__name__)


def link_now(bind: Engine | Connection | None = None) -> int:
    """Link every committed unlinked record now (own transaction); returns how many."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    with unit_of_work(engine) as s:
        return link_pending(s)


class BackgroundLinker:
    """A daemon thread that links after every wake-up, at most once per ``min_interval`` seconds
    (wake-ups in between are coalesced into the next pass); a failed pass is retried after
    ``retry`` seconds."""

    def __init__(self, min_interval: float = 0.05, retry: float = 1.0) -> None:
        self.min_interval, self.retry = min_interval, retry
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._binds: set[Engine] = set()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.linked = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> BackgroundLinker:
        self._thread = threading.Thread(target=self._run, name="audit-linker", daemon=True)
        self._thread.start()
        return self

    def notify(self, bind: Engine | Connection | None) -> None:
        engine = bind.engine if isinstance(bind, Connection) else bind
        if engine is not None:
            with self._lock:
                self._binds.add(engine)
        self._wake.set()

    def _pass(self) -> bool:
        with self._lock:
            binds = list(self._binds)
        ok = True
        for engine in binds:
            try:
                self.linked += link_now(engine)
            except Exception:
                log.exception("audit: linking failed; retrying in %.1f s", self.retry)
                ok = False
        self.passes += 1
        return ok

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                break
            self._wake.clear()
            if not self._pass():
                self._stop.wait(self.retry)
                self._wake.set()
            elif self.min_interval:
                self._stop.wait(self.min_interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and link once more (records committed since its last pass)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pass()


_background: BackgroundLinker | None = None


def start_background() -> BackgroundLinker:
    """Link in a background thread from now on, in this process."""
    global _background
    if _background is None or not _background.running:
        _background = BackgroundLinker().start()
    return _background


def stop_background() -> None:
    """Back to inline linking; links what is left."""
    global _background
    linker, _background = _background, None
    if linker is not None:
        linker.stop()


def link_soon(bind: Engine | Connection | None) -> None:
    """Called after a commit that appended records: wake the background linker, or link inline."""
    linker = _background
    if linker is not None and linker.running:
        linker.notify(bind)
    else:
        link_now(bind)

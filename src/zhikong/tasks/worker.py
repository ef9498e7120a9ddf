"""The deadline worker: escalates overdue tasks (督办), tidies expired login sessions and links
audit records left unlinked (``zhikong.audit.linker``).

Safe to restart and to run in several processes: escalation is a conditional UPDATE guarded by the
task's state and version, so a task is escalated once per missed deadline.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from sqlalchemy import Engine, delete, or_

from zhikong.audit.linker import link_now
from zhikong.auth.models import LoginSession
from zhikong.core.db import unit_of_work
from zhikong.core.time import utcnow
from zhikong.tasks.service import escalate_overdue

log = logging.getLogger("zhikong.worker")


@dataclass
class RoundResult:
    escalated: list[int]
    sessions_purged: int
    #: audit records left unlinked by a process that stopped between its commit and the link
    audit_linked: int = 0


def run_once(engine: Engine | None = None, now: datetime | None = None) -> RoundResult:
    """One round: escalate overdue tasks, purge login sessions expired for a week, link audit
    records that a stopped process left unlinked."""
    now = now or utcnow()
    with unit_of_work(engine) as s:
        escalated = escalate_overdue(s, now)
    with unit_of_work(engine) as s:
        cutoff = now - timedelta(days=7)
        res = s.execute(
            delete(LoginSession).where(
                or_(LoginSession.expires_at < cutoff, LoginSession.revoked_at < cutoff)
            )
        )
        purged = int(getattr(res, "rowcount", 0) or 0)
    linked = link_now(engine)
    return RoundResult(escalated=escalated, sessions_purged=purged, audit_linked=linked)


def run_forever(interval: float, engine: Engine | None = None, stop: threading.Event | None = None) -> None:
    """Run rounds every ``interval`` seconds until SIGINT/SIGTERM (or ``stop`` is set)."""
    stop = stop or threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handle)
        signal.signal(signal.SIGINT, _handle)
    while not stop.is_set():
        try:
            result = run_once(engine)
            if result.escalated:
                log.info("escalated %d overdue tasks", len(result.escalated))
        except Exception:  # keep the worker alive; the next round retries
            log.exception("worker round failed")
        stop.wait(interval)

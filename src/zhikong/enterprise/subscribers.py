"""Automatic recompute: new cases, a finished trace run, a new risk-area list or key persons
registered or released refresh the risk marks and recompute the employees whose marks changed; the
enterprise and the employee are notified of each change
(:func:`zhikong.enterprise.risk.recompute_affected`). Wired through :mod:`zhikong.core.events`,
after the publisher's transaction has committed."""

from __future__ import annotations

import logging
from datetime import datetime

from zhikong.core.db import unit_of_work
from zhikong.core.events import Event, subscribe
from zhikong.core.time import as_utc, utcnow

log = logging.getLogger(__name__)


def _at(event: Event) -> datetime:
    raw = event.payload.get("at")
    return as_utc(datetime.fromisoformat(raw)) if isinstance(raw, str) else utcnow()


@subscribe("tracing.cases_registered")
@subscribe("tracing.run_finished")
@subscribe("screening.risk_areas_imported")
@subscribe("screening.key_persons_changed")
def recompute_on_event(event: Event) -> None:
    """Refresh the marks as of the event's time and recompute the affected employees."""
    from sqlalchemy import Connection

    from zhikong.enterprise.risk import recompute_affected

    engine = event.bind.engine if isinstance(event.bind, Connection) else event.bind
    with unit_of_work(engine) as s:
        out = recompute_affected(s, at=_at(event))
    log.info("enterprise: %s → %d keys changed, %d employees recomputed, %d changed, %d tasks",
             event.name, out.marks_changed, out.employees, out.changed, out.tasks)

"""A small in-process event hook: a domain announces what happened, other domains react.

The publisher names the event and gives plain data; it does not know who listens, so domains do not
import each other's services (tracing and screening publish, enterprise subscribes)::

    publish("tracing.run_finished", {"run_id": run.id, "at": now.isoformat()}, session=session)

    @subscribe("tracing.run_finished")          # in zhikong/<domain>/subscribers.py
    def on_trace(event: Event) -> None:
        with unit_of_work(event.bind) as s: ...

* With ``session``, delivery waits until that session's transaction **commits** (the subscriber
  sees the committed rows) and is dropped if it rolls back; without, delivery is immediate. A
  SAVEPOINT (``begin_nested``) released or rolled back neither delivers nor drops anything.
* Subscribers live in ``zhikong.<domain>.subscribers`` modules, imported on the first publish.
* Delivery is synchronous, in subscription order. A subscriber that fails is logged and skipped: the
  publisher's work is already committed and must not be undone by a listener.

Events published by the platform:

==================================  ====================================================
``tracing.cases_registered``        ``{"case_ids": [...], "at": iso}`` new or updated cases
``tracing.run_finished``            ``{"run_id": int, "contacts": int, "at": iso}``
``screening.risk_areas_imported``   ``{"published_on": iso date, "rows": int}``
``screening.key_persons_changed``   ``{"at": iso}`` key persons registered or released
``audit.recorded``                  ``{}`` audit records were appended (they get linked)
==================================  ====================================================
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

__all__ = ["Event", "Handler", "publish", "subscribe", "subscribers"]

log = logging.getLogger(__name__)

_PENDING = "zhikong_pending_events"


@dataclass(frozen=True)
class Event:
    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    #: the database of the publishing session (open your own unit of work on it), if any
    bind: Engine | Connection | None = None


Handler = Callable[[Event], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)
_loaded = False


def subscribe(name: str) -> Callable[[Handler], Handler]:
    """Decorator: call the function with every ``name`` event."""

    def register(fn: Handler) -> Handler:
        if fn not in _handlers[name]:
            _handlers[name].append(fn)
        return fn

    return register


def _load_subscribers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import zhikong

    for mod in pkgutil.iter_modules(zhikong.__path__):
        name = f"zhikong.{mod.name}.subscribers"
        if mod.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def subscribers(name: str) -> list[Handler]:
    """The functions subscribed to ``name`` (after loading every domain's subscribers)."""
    _load_subscribers()
    return list(_handlers.get(name, ()))


def _deliver(ev: Event) -> None:
    for fn in subscribers(ev.name):
        try:
            fn(ev)
        except Exception:
            log.exception("event %s: subscriber %s failed", ev.name, getattr(fn, "__qualname__", fn))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the transaction goes on
        return
    pending: list[Event] = session.info.pop(_PENDING, [])
    for ev in pending:
        _deliver(ev)


def _after_rollback(session: Session) -> None:
    # a SAVEPOINT rolled back: the outer transaction may still commit what was published before it
    # (events published inside the savepoint are delivered too; subscribers read committed rows)
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


def publish(name: str, payload: Mapping[str, Any] | None = None, *,
            session: Session | None = None, coalesce: bool = False) -> None:
    """Announce ``name``; with ``session``, once that session's transaction has committed.

    ``coalesce``: one ``name`` event per transaction is enough (e.g. a list import registering
    hundreds of key persons needs one recompute, not hundreds); later ones are dropped."""
    if session is None:
        _deliver(Event(name, dict(payload or {})))
        return
    pending: list[Event] = session.info.setdefault(_PENDING, [])
    if coalesce and any(e.name == name for e in pending):
        return
    ev = Event(name, dict(payload or {}), session.get_bind())
    pending.append(ev)
    if not sa_event.contains(session, "after_commit", _after_commit):
        sa_event.listen(session, "after_commit", _after_commit)
        sa_event.listen(session, "after_rollback", _after_rollback)

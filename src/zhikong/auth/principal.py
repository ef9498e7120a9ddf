"""A per-process cache of authenticated principals: credential (API token or login cookie) → user.

Every API request authenticates; without a cache that is one query joining ``api_token`` (or
``login_session``), ``app_user`` and ``admin_unit`` and the ORM work of loading three rows. An entry
holds a detached snapshot of the user and its unit; a hit merges it into the request's session
without SQL (``Session.merge(load=False)``), so the endpoint gets an ordinary persistent ``User``.

Freshness:

* an entry lives ``settings.auth_cache_seconds`` (default 5 s; 0 turns the cache off), counted from
  when it was filled, and never past the token's or session's own expiry;
* any committed change to a user, API token or login session row (logout, token revocation,
  lock-out, password, unlock …; see the session hooks in ``zhikong.auth.models``) invalidates every
  entry of every process on this host: the committing process bumps its generation and replaces
  ``<data_dir>/auth-epoch``; a lookup compares that file's identity (one ``stat``) with the one the
  entry was filled under, read *before* the database was, so a fill racing a change is never kept;
* a change made outside zhikong (SQL by hand) is seen after at most the TTL (plus the length of one
  refresh query, see below).

Refresh: when an entry's TTL runs out, the first request to see it refreshes it from the database;
requests of other threads arriving while that query runs keep the expired entry (for at most
``REFRESH_GRACE_S`` past its TTL) instead of all querying at once — with one credential shared by
many concurrent clients, every expiry used to send them all to the database together. A refresh that
finds the credential no longer valid drops the entry (``drop``), so nobody keeps the stale copy.

State is per process (``zhikong serve --workers N`` has N caches; the epoch file ties them).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import make_transient_to_detached

from zhikong.core.config import get_settings
from zhikong.core.time import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

EPOCH_FILE = "auth-epoch"

Epoch = tuple[int, int, int]


@dataclass(frozen=True)
class Entry:
    user: Any  # a detached ``User`` snapshot with its ``unit`` loaded
    csrf_token: str | None
    valid_until: datetime | None  # the token's or login session's expiry
    epoch: Epoch
    expires: float  # time.monotonic()


#: how long past its TTL an expired entry may still serve others while one request refreshes it
REFRESH_GRACE_S = 1.0

_cache: dict[tuple[Any, ...], Entry] = {}
_refreshing: dict[tuple[Any, ...], float] = {}  # key → when a request took on its refresh
_generation = 0
_lock = threading.Lock()


def _epoch_path() -> Path:
    return get_settings().data_dir / EPOCH_FILE


def current_epoch() -> Epoch:
    """This process's generation and the epoch file's identity (inode, mtime)."""
    try:
        st = os.stat(_epoch_path())
    except OSError:
        return (_generation, 0, 0)
    return (_generation, st.st_ino, st.st_mtime_ns)


def ttl_seconds() -> float:
    return float(get_settings().auth_cache_seconds)


def get(key: tuple[Any, ...], *, claim: bool = True) -> Entry | None:
    """The live entry for ``key``, or None (expired, invalidated, or never filled): the caller then
    reads the database and calls :func:`put` (or :func:`drop` when the credential is invalid).

    An entry past its TTL is returned None to the first caller only, who refreshes it; others get
    the expired entry until that refresh lands or ``REFRESH_GRACE_S`` has passed. ``claim=False``
    only looks: it never takes the refresh on (a caller that falls back to the database path, which
    looks again with ``claim=True``)."""
    entry = _cache.get(key)
    if entry is None:
        return None
    if entry.epoch != current_epoch() or (entry.valid_until is not None and entry.valid_until <= utcnow()):
        drop(key)
        return None
    now = time.monotonic()
    if entry.expires > now:
        return entry
    if now >= entry.expires + REFRESH_GRACE_S:
        drop(key)
        return None
    with _lock:
        claimed = _refreshing.get(key)
        if claimed is not None and claimed >= entry.expires:
            return entry  # another request is refreshing it
        if claim:
            _refreshing[key] = now
    return None


def put(key: tuple[Any, ...], entry: Entry) -> None:
    with _lock:
        _refreshing.pop(key, None)
        if entry.epoch[0] == _generation:
            _cache[key] = entry


def drop(key: tuple[Any, ...]) -> None:
    """Forget ``key``'s entry (its credential was found invalid, or it is void)."""
    with _lock:
        _refreshing.pop(key, None)
        _cache.pop(key, None)


def invalidate() -> None:
    """Drop every entry here and, through the epoch file, in the other processes on this host."""
    global _generation
    with _lock:
        _generation += 1
        _cache.clear()
        _refreshing.clear()
    path = _epoch_path()
    tmp = path.with_name(f".{EPOCH_FILE}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(secrets.token_hex(8))
        os.replace(tmp, path)  # a new inode: every other process sees a new epoch
    except OSError as e:  # the local generation still changed; others catch up within the TTL
        log.warning("could not write %s: %s", path, e)


def detached_copy(obj: T, **related: Any) -> T:
    """A clean detached copy of ``obj``: its column attributes plus the ``related`` objects given
    (themselves detached copies); ``Session.merge(copy, load=False)`` takes it without SQL."""
    mapper = inspect(type(obj))
    copy = type(obj)(**{a.key: getattr(obj, a.key) for a in mapper.column_attrs}, **related)
    make_transient_to_detached(copy)  # marks every attribute as loaded and unchanged
    return copy


def size() -> int:
    return len(_cache)

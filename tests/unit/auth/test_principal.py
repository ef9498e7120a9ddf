"""The principal cache's refresh: at expiry one request refreshes, the others keep the old entry."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from zhikong.auth import principal
from zhikong.core.config import Settings

KEY = ("sqlite://", "token", "abc")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    principal.invalidate()
    c = Clock()
    monkeypatch.setattr(principal.time, "monotonic", c)
    yield c
    principal.invalidate()


def _entry(name: str, expires: float) -> principal.Entry:
    return principal.Entry(name, None, None, principal.current_epoch(), expires)


def test_fresh_entry_is_returned(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    assert principal.get(KEY) is not None and principal.get(KEY, claim=False) is not None


def test_at_expiry_one_caller_refreshes_and_the_others_keep_the_old_entry(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    clock.now += 5.1
    assert principal.get(KEY, claim=False) is None  # a look alone never takes the refresh on
    assert principal.get(KEY) is None  # this caller refreshes
    old = principal.get(KEY)
    assert old is not None and old.user == "u1"  # the others are served meanwhile
    looked = principal.get(KEY, claim=False)
    assert looked is not None and looked.user == "u1"
    principal.put(KEY, _entry("u2", clock.now + 5))  # the refresh lands
    new = principal.get(KEY)
    assert new is not None and new.user == "u2"


def test_an_expired_entry_is_not_served_past_the_grace(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    clock.now += 5.1
    assert principal.get(KEY) is None  # a refresh starts and never lands
    clock.now += principal.REFRESH_GRACE_S
    assert principal.get(KEY) is None
    assert principal.get(KEY) is None  # the entry is gone: everyone reads the database
    assert principal.size() == 0


def test_a_failed_refresh_drops_the_entry_for_everyone(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    clock.now += 5.1
    assert principal.get(KEY) is None
    principal.drop(KEY)  # the credential was revoked or its user disabled
    assert principal.get(KEY) is None and principal.get(KEY, claim=False) is None


def test_invalidation_is_never_bridged(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    clock.now += 5.1
    assert principal.get(KEY) is None
    principal.invalidate()  # a change to users or credentials: no stale entry survives it
    assert principal.get(KEY) is None and principal.get(KEY) is None


def test_concurrent_callers_at_expiry_send_one_to_the_database(clock: Clock) -> None:
    principal.put(KEY, _entry("u1", clock.now + 5))
    clock.now += 5.1
    misses: list[int] = []
    start = threading.Barrier(16)

    def caller(i: int) -> None:
        start.wait()
        if principal.get(KEY) is None:
            misses.append(i)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(misses) == 1

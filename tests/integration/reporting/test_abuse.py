"""The signed arithmetic challenge and the per-address rate limit, kept in the database so that
several server processes share them (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.reporting.models import NetizenGuard
from zhikong.reporting.netizen import RateLimited, check_challenge, count_attempt, hit, new_challenge


def _answer(question: str) -> str:
    m = re.match(r"(\d+) \+ (\d+)", question)
    assert m
    return str(int(m.group(1)) + int(m.group(2)))


def _check(engine: Engine, token: str, answer: str) -> None:
    with unit_of_work(engine) as s:
        check_challenge(s, token, answer)


def test_challenge(engine: Engine) -> None:
    ch = new_challenge()
    with pytest.raises(InvalidInput, match="wrong answer"):
        _check(engine, ch.token, str(int(_answer(ch.question)) + 1))
    _check(engine, ch.token, _answer(ch.question))
    # a second use is refused, as another server process (its own session) would see it
    with pytest.raises(InvalidInput, match="already used"):
        _check(engine, ch.token, _answer(ch.question))
    old = new_challenge(now=1000.0)
    with pytest.raises(InvalidInput, match="expired"):
        _check(engine, old.token, _answer(old.question))
    forged = ch.token.rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
    with pytest.raises(InvalidInput):
        _check(engine, forged, _answer(ch.question))
    with pytest.raises(InvalidInput) as e:
        _check(engine, "garbage", "x")
    assert e.value.field == "challenge"
    with unit_of_work(engine) as s:  # the token itself is not stored, only its keyed hash
        keys = list(s.scalars(select(NetizenGuard.key)))
        assert len(keys) == 1 and ch.token not in keys[0]


def test_rate_limit(engine: Engine) -> None:
    t0 = utcnow()
    for k in range(3):
        with unit_of_work(engine) as s:
            hit(s, "10.0.0.1", t0 + timedelta(seconds=k), limit=3, window=60)
    with pytest.raises(RateLimited) as e, unit_of_work(engine) as s:
        hit(s, "10.0.0.1", t0 + timedelta(seconds=3), limit=3, window=60)
    assert e.value.http_status == 429 and "58 s" in e.value.message
    with unit_of_work(engine) as s:
        hit(s, "10.0.0.2", t0 + timedelta(seconds=3), limit=3, window=60)  # another address
        hit(s, "10.0.0.1", t0 + timedelta(seconds=61), limit=3, window=60)  # the window slid on


def test_expired_marks_are_pruned(engine: Engine) -> None:
    old = utcnow() - timedelta(hours=2)
    with unit_of_work(engine) as s:
        hit(s, "10.0.0.9", old)
    with unit_of_work(engine) as s:
        count_attempt(s, "10.0.0.9")
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count(NetizenGuard.id))) == 1

"""The signed arithmetic challenge and the per-IP rate limiter."""

from __future__ import annotations

import re

import pytest

from zhikong.core.config import Settings
from zhikong.core.errors import InvalidInput
from zhikong.reporting.netizen import RateLimited, RateLimiter, check_challenge, new_challenge


def _answer(question: str) -> str:
    m = re.match(r"(\d+) \+ (\d+)", question)
    assert m
    return str(int(m.group(1)) + int(m.group(2)))


def test_challenge(settings: Settings) -> None:
    ch = new_challenge()
    with pytest.raises(InvalidInput, match="wrong answer"):
        check_challenge(ch.token, str(int(_answer(ch.question)) + 1))
    check_challenge(ch.token, _answer(ch.question))
    with pytest.raises(InvalidInput, match="already used"):
        check_challenge(ch.token, _answer(ch.question))
    old = new_challenge(now=1000.0)
    with pytest.raises(InvalidInput, match="expired"):
        check_challenge(old.token, _answer(old.question))
    forged = ch.token.rsplit(".", 1)[0] + ".0123456789abcdef0123456789abcdef"
    with pytest.raises(InvalidInput):
        check_challenge(forged, _answer(ch.question))
    with pytest.raises(InvalidInput) as e:
        check_challenge("garbage", "x")
    assert e.value.field == "challenge"


def test_rate_limiter() -> None:
    lim = RateLimiter(limit=3, window=60)
    for t in (0.0, 1.0, 2.0):
        lim.hit("a", now=t)
    with pytest.raises(RateLimited) as e:
        lim.hit("a", now=3.0)
    assert e.value.http_status == 429
    lim.hit("b", now=3.0)  # another address is not affected
    lim.hit("a", now=61.0)  # the window slid past the first hit

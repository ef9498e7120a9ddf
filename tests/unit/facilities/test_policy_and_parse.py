"""Policy YAML and message parsing (no database)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhikong.core.errors import ConfigError
from zhikong.facilities.models import Measure, MessageType
from zhikong.facilities.policy import builtin_policy, load_policy, parse_policy
from zhikong.facilities.service import sample_dates
from zhikong.facilities.telemetry import RawMessage, Rejected, message_json, parse, topic_for

POL = builtin_policy()


def test_builtin_policy_matches_the_article() -> None:
    assert POL.rules[Measure.CENTRAL].days == 7
    assert POL.rules[Measure.CENTRAL].test_days == (1, 2, 3, 5, 7)
    assert POL.after_central == Measure.MONITORING and POL.after_central_days == 3
    assert POL.fever_threshold == 37.3


def test_test_dates_count_from_the_local_admission_day() -> None:
    # 23:30 local on 1 March = 15:30 UTC: day 1 is 1 March (local), not 2 March
    start = datetime(2020, 3, 1, 15, 30, tzinfo=UTC)
    dates = dict(sample_dates(start, (1, 2, 7)))
    assert str(dates[1]) == "2020-03-01" and str(dates[7]) == "2020-03-07"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"central": {"days": 7, "test_days": [1, 9]}}, "central.test_days"),
        ({"central": {"days": 0}}, "central.days"),
        (
            {"checks": {"fever_threshold": 42.5, "slots": {"am": "12:00", "pm": "20:00"}}},
            "checks.fever_threshold",
        ),
        ({"checks": {"fever_threshold": 37.3, "slots": {"am": "12:00"}}}, "checks.slots"),
        ({"home_after_central": {"measure": "central", "days": 3}}, "home_after_central.measure"),
    ],
)
def test_bad_policies_name_the_field(patch: dict[str, object], field: str) -> None:
    import yaml

    from zhikong.facilities.policy import BUILTIN

    doc = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    doc.update(patch)
    with pytest.raises(ConfigError) as e:
        parse_policy(doc)
    assert e.value.field == field


def test_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("central: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)


def _raw(payload: bytes, topic: str | None = None) -> RawMessage:
    return RawMessage(payload=payload, received_at=datetime.now(UTC), topic=topic)


def test_parse_good_messages() -> None:
    now = time.time()
    p = parse(_raw(message_json("T1", 5, "reading", now, value=36.6), topic_for("T1")), POL)
    assert (p.device_code, p.msg_key, p.type, p.value) == ("T1", "s:5", MessageType.READING, 36.6)
    iso = datetime.now(UTC).astimezone().isoformat()
    p = parse(_raw(message_json("D1", "abc", "door", iso, state="open")), POL)
    assert p.msg_key == "m:abc" and p.state == "open"
    jpeg = base64.b64encode(b"\xff\xd8\xff" + b"0" * 10).decode()
    assert parse(_raw(message_json("C1", 1, "heartbeat", now, snapshot=jpeg)), POL).snapshot


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "malformed"),
        (b'{"device": "", "seq": 1, "type": "heartbeat", "ts": 1}', "malformed"),
        (b'{"device": "X", "seq": -1, "type": "heartbeat", "ts": 1}', "malformed"),
        (b'{"device": "X", "seq": true, "type": "heartbeat", "ts": 1}', "malformed"),
        (b'{"device": "X", "seq": 1, "type": "heartbeat", "ts": "2020-01-01T00:00:00"}', "malformed"),
        (b'{"device": "X", "seq": 1, "type": "heartbeat", "ts": 0}', "clock_skew"),
    ],
)
def test_parse_rejections(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as e:
        parse(_raw(payload), POL)
    assert e.value.reason == reason


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_readings_are_stored_only_in_the_plausible_range(v: float) -> None:
    now = datetime.now(UTC)
    doc = message_json("T", 1, "reading", now.timestamp(), value=v)
    lo, hi = POL.temperature_range
    try:
        p = parse(RawMessage(payload=doc, received_at=now), POL)
    except Rejected as e:
        assert e.reason == "absurd_value" and not (lo <= v <= hi)
    else:
        assert p.value is not None and lo <= p.value <= hi


@given(st.floats(min_value=-3e6, max_value=3e6))
def test_clock_skew_boundary(offset: float) -> None:
    now = datetime.now(UTC)
    doc = message_json("T", 1, "heartbeat", (now + timedelta(seconds=offset)).timestamp())
    try:
        parse(RawMessage(payload=doc, received_at=now), POL)
    except Rejected as e:
        assert e.reason == "clock_skew" and abs(offset) > POL.max_clock_skew_seconds - 1
    else:
        assert abs(offset) <= POL.max_clock_skew_seconds + 1

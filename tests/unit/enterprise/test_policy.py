"""The risk policy: every category's level, combination, labels, and bad policy files."""

from __future__ import annotations

import copy

import pytest
import yaml

from zhikong.core.errors import ConfigError
from zhikong.enterprise.models import Level
from zhikong.enterprise.policy import CATEGORIES, DEFAULT_POLICY, load_policy, parse_policy

RED = {"case", "close_contact", "central_quarantine", "home_quarantine", "high_risk_travel",
       "high_risk_roaming"}
YELLOW = {"secondary_contact", "companion", "health_monitoring", "medium_risk_travel",
          "medium_risk_roaming"}


def test_shipped_policy_levels() -> None:
    p = load_policy()
    assert p.version and p.lookback_days == 7
    assert set(CATEGORIES) == RED | YELLOW
    for c in RED:
        assert p.level_of([c]) == Level.RED, c
    for c in YELLOW:
        assert p.level_of([c]) == Level.YELLOW, c
    assert p.level_of([]) == Level.GREEN


def test_highest_level_wins_and_reasons_are_ordered() -> None:
    p = load_policy()
    assert p.level_of(["companion", "close_contact"]) == Level.RED
    assert p.reasons({"health_monitoring", "companion", "case"}) == ["case", "companion",
                                                                       "health_monitoring"]
    assert p.label("close_contact") == "密切接触者"
    assert p.label("close_contact", "en") == "close contact"


def _raw() -> dict[str, object]:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_policy_edits_change_results() -> None:
    data = copy.deepcopy(_raw())
    data["categories"]["companion"]["level"] = "red"  # type: ignore[index]
    assert parse_policy(data).level_of(["companion"]) == Level.RED


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["categories"].pop("case"), "case has no level"),
    (lambda d: d["categories"]["case"].update(level="purple"), "green, yellow or red"),
    (lambda d: d["categories"].update(unknown={"level": "red"}), "unknown categories"),
    (lambda d: d.pop("version"), "missing"),
    (lambda d: d.update(lookback_days=0), "positive"),
])
def test_bad_policy_is_refused(mutate: object, match: str) -> None:
    data = copy.deepcopy(_raw())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=match):
        parse_policy(data)

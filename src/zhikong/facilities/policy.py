"""The isolation/follow-up policy, read from YAML (the built-in ``policy.yaml`` by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from zhikong.core.errors import ConfigError
from zhikong.facilities.models import Measure

BUILTIN = Path(__file__).with_name("policy.yaml")


@dataclass(frozen=True)
class MeasureRule:
    days: int
    test_days: tuple[int, ...]


@dataclass(frozen=True)
class Policy:
    rules: dict[Measure, MeasureRule]
    after_central: Measure | None
    after_central_days: int
    fever_threshold: float
    slots: dict[str, time]
    offline_after_seconds: float
    max_clock_skew_seconds: float
    temperature_range: tuple[float, float]
    link_days_after_end: int


def _int(doc: dict[str, Any], key: str, where: str, lo: int = 0, hi: int = 365) -> int:
    v = doc.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError(
            f"policy {where}.{key} must be an integer {lo}..{hi}, not {v!r}", field=f"{where}.{key}"
        )
    return v


def _rule(doc: Any, where: str) -> MeasureRule:
    if not isinstance(doc, dict):
        raise ConfigError(f"policy section {where!r} is missing or not a mapping", field=where)
    days = _int(doc, "days", where, 1)
    tests = doc.get("test_days", [])
    if not isinstance(tests, list) or not all(isinstance(d, int) and 1 <= d <= days for d in tests):
        raise ConfigError(
            f"policy {where}.test_days must list days 1..{days}, not {tests!r}", field=f"{where}.test_days"
        )
    return MeasureRule(days, tuple(sorted(set(tests))))


def parse_policy(doc: Any) -> Policy:
    if not isinstance(doc, dict):
        raise ConfigError("the policy file must be a YAML mapping")
    rules = {
        Measure.CENTRAL: _rule(doc.get("central"), "central"),
        Measure.HOME: _rule(doc.get("home"), "home"),
        Measure.MONITORING: _rule(doc.get("monitoring"), "monitoring"),
    }
    after = doc.get("home_after_central") or {}
    after_measure: Measure | None = None
    after_days = 0
    if after:
        try:
            after_measure = Measure(after.get("measure", "monitoring"))
        except ValueError as e:
            raise ConfigError(
                "policy home_after_central.measure must be home or monitoring",
                field="home_after_central.measure",
            ) from e
        if after_measure == Measure.CENTRAL:
            raise ConfigError(
                "home_after_central.measure cannot be central", field="home_after_central.measure"
            )
        after_days = _int(after, "days", "home_after_central", 0)
    checks = doc.get("checks") or {}
    tele = doc.get("telemetry") or {}
    try:
        threshold = float(checks.get("fever_threshold", 37.3))
        slots = {name: time.fromisoformat(str(v)) for name, v in (checks.get("slots") or {}).items()}
        lo, hi = (float(x) for x in tele.get("temperature_range", [25.0, 45.0]))
        offline = float(tele.get("offline_after_seconds", 180))
        skew = float(tele.get("max_clock_skew_seconds", 600))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"invalid policy value: {e}") from e
    if not 35.0 <= threshold <= 40.0:
        raise ConfigError(
            f"fever_threshold {threshold} is not a plausible body temperature", field="checks.fever_threshold"
        )
    if sorted(slots) != ["am", "pm"]:
        raise ConfigError("checks.slots must define am and pm deadlines", field="checks.slots")
    if not lo < threshold < hi:
        raise ConfigError(
            "temperature_range must contain the fever threshold", field="telemetry.temperature_range"
        )
    if offline <= 0 or skew <= 0:
        raise ConfigError("offline_after_seconds and max_clock_skew_seconds must be positive")
    link_days = _int(
        doc.get("self_report") or {"link_days_after_end": 1}, "link_days_after_end", "self_report"
    )
    return Policy(rules, after_measure, after_days, threshold, slots, offline, skew, (lo, hi), link_days)


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in ``path`` (or the built-in one); ``ConfigError`` names what is wrong."""
    if path is None:
        return builtin_policy()
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read policy file {p}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"policy file {p} is not valid YAML: {e}") from e
    return parse_policy(doc)


@lru_cache(maxsize=1)
def builtin_policy() -> Policy:
    return parse_policy(yaml.safe_load(BUILTIN.read_text(encoding="utf-8")))

"""The versioned employee risk policy (``policy.yaml``): reason categories → level."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from zhikong.core.errors import ConfigError
from zhikong.enterprise.models import LEVEL_RANK, Level

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")

#: every category the engine can find; the policy must give each a level
CATEGORIES: tuple[str, ...] = (
    "case", "close_contact", "central_quarantine", "home_quarantine", "high_risk_travel",
    "high_risk_roaming", "secondary_contact", "companion", "health_monitoring", "medium_risk_travel",
    "medium_risk_roaming",
)


@dataclass(frozen=True)
class RiskPolicy:
    version: str
    lookback_days: int
    case_days: int
    contact_days: int
    levels: dict[str, Level]
    labels: dict[str, str]

    def level_of(self, categories: Iterable[str]) -> Level:
        level = Level.GREEN
        for c in categories:
            lv = self.levels[c]
            if LEVEL_RANK[lv] > LEVEL_RANK[level]:
                level = lv
        return level

    def reasons(self, categories: Iterable[str]) -> list[str]:
        """Categories in the policy's order (stable, so unchanged results compare equal)."""
        found = set(categories)
        return [c for c in CATEGORIES if c in found]

    def label(self, category: str, locale: str = "zh_CN") -> str:
        text = self.labels.get(category, category)
        zh, _, en = text.partition(" / ")
        return en if locale == "en" and en else zh


def parse_policy(data: object, source: str = "policy") -> RiskPolicy:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping")
    try:
        cats = data["categories"]
        version = str(data["version"])
        lookback = int(data["lookback_days"])
        case_days = int(data.get("case_days", 28))
        contact_days = int(data.get("contact_days", 14))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{source}: missing or bad field {e}") from e
    if not isinstance(cats, dict):
        raise ConfigError(f"{source}: categories must be a mapping")
    levels: dict[str, Level] = {}
    labels: dict[str, str] = {}
    for name in CATEGORIES:
        entry = cats.get(name)
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: category {name} has no level")
        try:
            levels[name] = Level(str(entry["level"]))
        except (KeyError, ValueError) as e:
            raise ConfigError(f"{source}: category {name}: level must be green, yellow or red") from e
        labels[name] = str(entry.get("label", name))
    unknown = set(cats) - set(CATEGORIES)
    if unknown:
        raise ConfigError(f"{source}: unknown categories {sorted(unknown)}")
    if lookback < 1 or case_days < 1 or contact_days < 1:
        raise ConfigError(f"{source}: day counts must be positive")
    return RiskPolicy(version, lookback, case_days, contact_days, levels, labels)


@lru_cache(maxsize=4)
def load_policy(path: Path = DEFAULT_POLICY) -> RiskPolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the risk policy: {e}") from e
    return parse_policy(data, str(path))

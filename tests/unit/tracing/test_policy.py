from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from zhikong.core.errors import ConfigError
from zhikong.tracing.policy import POLICY_DIR, available_policies, load_policy, parse_policy


def _base() -> dict[str, Any]:
    return yaml.safe_load((POLICY_DIR / "protocol-9.yaml").read_text(encoding="utf-8"))


def test_builtin_policies_load_and_differ_by_edition() -> None:
    assert {"protocol-8", "protocol-9"} <= set(available_policies())
    p8, p9 = load_policy("protocol-8"), load_policy("protocol-9")
    assert (p8.infectious_window.days_before_onset, p9.infectious_window.days_before_onset) == (4, 2)
    assert p9.close_contact.min_minutes == 15
    assert (p9.quarantine.close.central_days, p9.quarantine.close.home_days) == (7, 3)
    assert p9.companion.cell_m == 800 and p9.companion.resident_hours == 30


def test_infectiousness_uses_nearest_tabulated_day() -> None:
    p = load_policy("protocol-9")
    assert p.infectiousness_at(-10) == p.infectiousness[-2]
    assert p.infectiousness_at(4) == p.infectiousness[3]
    assert p.infectiousness_at(30) == p.infectiousness[7]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("close_contact"), "close_contact: missing"),
        (lambda d: d["companion"].update(resident_hours=400), "cannot exceed lookback_days"),
        (lambda d: d["rules"]["proximity_rssi"].update(near=-50), "must be weaker"),
        (lambda d: d["rules"].update(ping_pong_minutes=60), "ping_pong_minutes must be shorter"),
        (lambda d: d["weights"]["source"].pop("gps"), "source weights missing for gps"),
        (lambda d: d["weights"]["source"].update(telepathy=1.0), "unknown sources telepathy"),
        (lambda d: d["infectious_window"].update(days_before_onset=5), "infectious window opens 5 days"),
        (lambda d: d["quarantine"].update(close={"central_days": 0, "home_days": 0}), "at least one day"),
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_policies_are_rejected_with_the_field(mutate: Any, message: str) -> None:
    d = _base()
    mutate(d)
    with pytest.raises(ConfigError, match=message):
        parse_policy(d, "test.yaml")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_policy("protocol-99")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_policy(listy)

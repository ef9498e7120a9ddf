"""Contact-tracing policy as data: versioned YAML files in ``tracing/policies/``.

A policy names the protocol edition and holds every threshold the engine uses (infectious window,
close-contact minutes, the companion grid rule, quarantine periods, stay rules and score weights).
:func:`load_policy` validates a file and raises :class:`ConfigError` naming the file and the field
for anything missing, unknown or contradictory.

Examples
--------
>>> p = load_policy("protocol-9")
>>> p.infectious_window.days_before_onset, p.close_contact.min_minutes
(2, 15)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zhikong.core.errors import ConfigError

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY = "protocol-9"

DistanceClass = Literal["household", "school", "close", "near", "same_place", "coarse"]
DISTANCE_CLASSES: tuple[str, ...] = ("household", "school", "close", "near", "same_place", "coarse")
SOURCES: tuple[str, ...] = ("ledger", "proximity", "travel", "gps", "venue_scan", "camera", "cell")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfectiousWindow(_Strict):
    days_before_onset: int = Field(ge=0, le=14)


class CloseContactRule(_Strict):
    min_minutes: float = Field(gt=0, le=24 * 60)
    close_range: list[DistanceClass] = Field(min_length=1)
    household: bool = True
    #: a pair whose risk score reaches this is close too (the score weighs every source and distance
    #: class, so repeated same-place or same-tower evidence can add up); None: minutes rule only
    score_threshold: float | None = Field(default=None, gt=0)


class SchoolRule(_Strict):
    """Pupils of one school, the stand-in for a class roster (学校/班级) when none is imported.

    A school-age index person (``age`` at onset, years, inclusive) attends the school whose nearest
    tower carries at least ``min_hours`` of their weekday cell stays inside ``hours`` (local) over the
    look-back; without any cell record, the schools of their residence town. Their schoolmates are the
    school-age people who attend it the same way (phone owners) or, having no phone in the ledger,
    live in its town. Each schoolmate gets ``minutes_per_day`` × school days in the case's window.
    """

    enabled: bool = True
    age: tuple[int, int]
    hours: tuple[float, float]
    min_hours: float = Field(ge=0)
    minutes_per_day: float = Field(gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _ranges(self) -> SchoolRule:
        if self.age[0] > self.age[1]:
            raise ValueError(f"age: {self.age[0]} is above {self.age[1]}")
        if not 0 <= self.hours[0] < self.hours[1] <= 24:
            raise ValueError(f"hours: {self.hours[0]}–{self.hours[1]} is not a span within a day")
        return self


class SecondaryRule(_Strict):
    enabled: bool = True
    min_minutes: float = Field(gt=0, le=24 * 60)


class CompanionRule(_Strict):
    cell_m: float = Field(gt=0, le=10_000)
    min_minutes: float = Field(gt=0)
    resident_hours: float = Field(ge=0)
    lookback_days: int = Field(ge=1, le=60)

    @model_validator(mode="after")
    def _fits(self) -> CompanionRule:
        if self.resident_hours > self.lookback_days * 24:
            raise ValueError(
                f"resident_hours ({self.resident_hours}) cannot exceed lookback_days × 24 "
                f"({self.lookback_days * 24})"
            )
        return self


class Quarantine(_Strict):
    central_days: int = Field(ge=0, le=60)
    home_days: int = Field(ge=0, le=60)


class QuarantineRules(_Strict):
    close: Quarantine
    secondary: Quarantine
    companion: Quarantine


class Rssi(_Strict):
    close: int = Field(le=0)
    near: int = Field(le=0)

    @model_validator(mode="after")
    def _order(self) -> Rssi:
        if self.near > self.close:
            raise ValueError(
                f"near ({self.near} dBm) must be weaker than or equal to close ({self.close} dBm)"
            )
        return self


class StayRules(_Strict):
    cell_gap_minutes: float = Field(gt=0)
    ping_pong_minutes: float = Field(ge=0)
    venue_dwell_minutes: dict[str, float]
    #: venue kinds small enough (a table, an office, a class) that sharing the venue counts as near
    venue_near_kinds: list[str] = Field(default_factory=list)
    camera_tolerance_minutes: float = Field(gt=0)
    gps_distance_m: float = Field(gt=0, le=1000)
    gps_bin_minutes: int = Field(ge=1, le=60)
    proximity_rssi: Rssi
    travel_rows: dict[str, int]
    #: venue kinds people return to (a workplace): a person who scanned such a venue in the
    #: look-back is placed at it when their cell stays are on its nearest tower within the local
    #: hours given here ([from, to]); such inferred stays meet scanned or inferred stays of others
    anchor_hours: dict[str, tuple[float, float]] = Field(default_factory=dict)
    #: venue kinds people visit briefly (a meal, an errand): one side's scanned stay there meets the
    #: other side's cell stay on the venue's nearest tower when that side spent at most
    #: ``visit_max_minutes`` on that tower that day (a visit, not home or work) and scanned nowhere
    #: at the time
    visit_kinds: list[str] = Field(default_factory=list)
    visit_max_minutes: float = Field(default=120, gt=0, le=24 * 60)

    @model_validator(mode="after")
    def _check(self) -> StayRules:
        if "default" not in self.venue_dwell_minutes:
            raise ValueError("venue_dwell_minutes needs a 'default' entry")
        if any(v <= 0 for v in self.venue_dwell_minutes.values()):
            raise ValueError("venue_dwell_minutes must all be positive")
        if self.ping_pong_minutes >= self.cell_gap_minutes:
            raise ValueError("ping_pong_minutes must be shorter than cell_gap_minutes")
        for kind, (h0, h1) in self.anchor_hours.items():
            if not 0 <= h0 < h1 <= 24:
                raise ValueError(f"anchor_hours.{kind}: {h0}–{h1} is not a span within a day")
        return self

    def dwell(self, kind: str | None) -> float:
        return self.venue_dwell_minutes.get(kind or "default", self.venue_dwell_minutes["default"])


class Weights(_Strict):
    distance: dict[DistanceClass, float]
    source: dict[str, float]
    household_minutes: float = Field(gt=0)

    @model_validator(mode="after")
    def _complete(self) -> Weights:
        missing = [d for d in DISTANCE_CLASSES if d not in self.distance]
        if missing:
            raise ValueError(f"distance weights missing for {', '.join(missing)}")
        unknown = [s for s in self.source if s not in SOURCES]
        if unknown:
            raise ValueError(f"unknown sources {', '.join(unknown)} (known: {', '.join(SOURCES)})")
        missing_s = [s for s in SOURCES if s not in self.source]
        if missing_s:
            raise ValueError(f"source weights missing for {', '.join(missing_s)}")
        if any(not 0 <= v <= 1 for v in [*self.distance.values(), *self.source.values()]):
            raise ValueError("weights must lie between 0 and 1")
        return self


class Policy(_Strict):
    name: str
    edition: int = Field(ge=1)
    title: str
    infectious_window: InfectiousWindow
    close_contact: CloseContactRule
    secondary_contact: SecondaryRule
    companion: CompanionRule
    school: SchoolRule | None = None
    quarantine: QuarantineRules
    rules: StayRules
    weights: Weights
    infectiousness: dict[int, float] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        first = min(self.infectiousness)
        if first > -self.infectious_window.days_before_onset:
            raise ValueError(
                f"infectiousness starts at day {first} but the infectious window opens "
                f"{self.infectious_window.days_before_onset} days before onset"
            )
        if any(v < 0 for v in self.infectiousness.values()):
            raise ValueError("infectiousness values must not be negative")
        q = self.quarantine.close
        if q.central_days + q.home_days == 0:
            raise ValueError("quarantine.close: close contacts need at least one day of quarantine")
        return self

    def infectiousness_at(self, day: int) -> float:
        """Relative infectiousness ``day`` days after onset (nearest tabulated day outside)."""
        keys = sorted(self.infectiousness)
        if day <= keys[0]:
            return self.infectiousness[keys[0]]
        best = keys[0]
        for k in keys:
            if k <= day:
                best = k
        return self.infectiousness[best]


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_policy(data: object, source: str = "policy") -> Policy:
    """Validate a parsed policy mapping; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a policy must be a mapping of fields, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:8]:
            what = "missing" if err["type"] == "missing" else err["msg"]
            problems.append(f"{_field_path(err['loc'])}: {what}")
        first_loc = _field_path(e.errors()[0]["loc"]) if e.errors() else None
        raise ConfigError(f"{source}: invalid policy — " + "; ".join(problems), field=first_loc) from e


def load_policy(name_or_path: str | Path = DEFAULT_POLICY) -> Policy:
    """Load a built-in policy by name (``protocol-9``) or a YAML file by path."""
    return _load(str(name_or_path))


@lru_cache(maxsize=16)
def _load(name_or_path: str) -> Policy:
    path = Path(name_or_path)
    if not path.suffix:
        path = POLICY_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
        raise ConfigError(f"policy {name_or_path!r} not found (built in: {known})", field="policy")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path.name}: not valid YAML: {e}", field="policy") from e
    return parse_policy(data, path.name)


def available_policies() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))

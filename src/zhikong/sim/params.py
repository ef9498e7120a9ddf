"""Parameters of the synthetic district, with their defaults and the reasoning behind each.

Defaults are meant to be *realistic*, not kind to the engines: every feed misses things, some
feeds report things that did not happen, and only a share of people carry each kind of device.
All of them are written to ``world.json`` so a world can be explained and regenerated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

#: cities people travel from: name → (GB/T 2260 code, lat, lon)
CITIES: dict[str, tuple[str, float, float]] = {
    "武汉市": ("420100", 30.59, 114.31),
    "孝感市": ("420900", 30.92, 113.92),
    "黄冈市": ("421100", 30.45, 114.87),
    "北京市": ("110100", 39.90, 116.40),
    "上海市": ("310100", 31.23, 121.47),
    "广州市": ("440100", 23.13, 113.26),
    "深圳市": ("440300", 22.54, 114.06),
    "成都市": ("510100", 30.66, 104.07),
    "西安市": ("610100", 34.34, 108.94),
    "贵阳市": ("520100", 26.65, 106.63),
    "长沙市": ("430100", 28.23, 112.94),
    "郑州市": ("410100", 34.75, 113.62),
}


@dataclass
class SimParams:
    """Everything that shapes a world. ``seed``, ``people`` and ``days`` are the usual knobs."""

    seed: int = 20200301
    people: int = 5000
    days: int = 14
    #: first simulated local day (a Sunday in early March 2020, as in the seed article)
    start_date: date = date(2020, 3, 1)
    district_code: str = "500113"
    timezone: str = "Asia/Shanghai"
    utc_offset: str = "+08:00"

    #: schools in session (in March 2020 Chongqing's schools were still closed; a general district
    #: simulator keeps them open by default, set False to mimic the closure)
    schools_open: bool = True
    #: share of workers who also work on Saturdays
    saturday_work_share: float = 0.3

    # ---- devices ----------------------------------------------------------------------------
    # who has a mobile phone is the ledger's business (people.generate: ~97% of those aged 12+,
    # 70% of those over 75, 15% of children 6–11)
    #: share of phone owners whose health app reports GPS (the brief: about 30%)
    gps_share: float = 0.30
    #: share of phone owners whose phone logs Bluetooth proximity (the brief: about 20%)
    proximity_share: float = 0.20

    # ---- cell signalling ----------------------------------------------------------------------
    #: mean minutes between network events of an idle-but-online handset; events form a Poisson
    #: process (irregular intervals) mixing periodic location updates, data sessions and calls
    cell_mean_interval_min: float = 40.0
    #: share of events the operator's feed loses (probe and collection gaps)
    cell_miss_rate: float = 0.05
    #: share of events served by the second-nearest tower instead (ping-pong at cell edges)
    cell_pingpong_rate: float = 0.08
    #: event mix: periodic location update, data session, call/SMS
    cell_event_mix: dict[str, float] = field(
        default_factory=lambda: {"periodic": 0.35, "data": 0.5, "call": 0.15})
    #: tower spacing: urban 300–500 m, rural 2–5 km (typical macro-cell grids)
    tower_spacing_urban_m: float = 400.0
    tower_spacing_rural_m: float = 3000.0

    # ---- cameras (天眼) ------------------------------------------------------------------------
    #: chance that a camera at a place matches a visitor's face at all (angle, masks, light:
    #: masked faces in 2020 pushed this down to well below the vendors' lab figures)
    camera_detection: float = 0.6
    #: share of sightings that are matched to the wrong person (false match)
    camera_false_match: float = 0.03

    # ---- venue codes (场所码) -------------------------------------------------------------------
    #: share of visits scanned (people forget, queue-jump, or show a screenshot)
    venue_scan_compliance: float = 0.8

    # ---- GPS ---------------------------------------------------------------------------------
    #: mean minutes between fixes of the health app (opened a few times an hour at most)
    gps_mean_interval_min: float = 30.0
    #: median reported accuracy (m) of phone fixes; log-normal spread, indoor fixes worse
    gps_accuracy_median_m: float = 15.0

    # ---- proximity -----------------------------------------------------------------------------
    #: shortest encounter a proximity app logs, minutes
    proximity_min_minutes: int = 2
    #: chance that one phone misses an encounter the other logs (OS background limits)
    proximity_miss_rate: float = 0.2

    # ---- travel and importation ------------------------------------------------------------------
    #: share of people who are away at the start and arrive during the period
    traveller_share: float = 0.04
    #: of travellers, the share coming from the risk areas
    risk_traveller_share: float = 0.3
    #: cities treated as risk areas (early 2020: Hubei)
    risk_cities: list[str] = field(default_factory=lambda: ["武汉市", "孝感市", "黄冈市"])
    #: arrival mode shares: train, coach, flight, car (a car leaves no ticket record)
    travel_mode_mix: dict[str, float] = field(
        default_factory=lambda: {"train": 0.45, "coach": 0.25, "flight": 0.1, "car": 0.2})
    #: chance a risk-area traveller arrives infected
    import_infection_rate: float = 0.1
    #: share of risk-area travellers who conceal the trip in their self-declaration (瞒报)
    conceal_rate: float = 0.1

    # ---- epidemic ----------------------------------------------------------------------------------
    #: transmission hazard per minute of co-presence in one sub-zone (p = 1 − exp(−β·minutes));
    #: gives ~20% household and a few % workplace attack rates over an infectious period
    beta_per_min: float = 6e-5
    #: incubation: log-normal, mean 5.2 d, 95th percentile ~12.5 d (Li et al., NEJM 2020)
    incubation_mu: float = 1.434
    incubation_sigma: float = 0.661
    #: infectious from this many days before onset (He et al., Nature Medicine 2020)
    presymptomatic_days: float = 2.0
    asymptomatic_share: float = 0.2
    #: asymptomatic infections are infectious from infection + 3 d for 7 days, never reported
    #: unless screened
    asymptomatic_infectious_days: float = 7.0
    #: days from onset to sampling (care seeking, gamma), and sampling to report (lab)
    onset_to_sample_mean_days: float = 2.5
    sample_to_report_days: tuple[float, float] = (0.5, 1.5)

    # ---- truth -------------------------------------------------------------------------------------
    #: close contact: same sub-zone ≥ this many cumulative minutes in the infectious window
    close_contact_minutes: int = 15

    # ---- incoming lists -----------------------------------------------------------------------------
    #: noise of the telecom arrivals list
    list_homophone_rate: float = 0.15
    list_typo_rate: float = 0.05
    list_phone_changed_rate: float = 0.05
    list_id_missing_rate: float = 0.3
    list_id_malformed_rate: float = 0.1
    #: rows of the telecom list that are not in the ledger (visitors, transit passengers)
    list_outsider_share: float = 0.1
    #: share of concealers someone reports, and share of netizen reports that are unfounded
    netizen_report_rate: float = 0.4
    netizen_false_share: float = 0.3

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["start_date"] = self.start_date.isoformat()
        d["sample_to_report_days"] = list(self.sample_to_report_days)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SimParams:
        d = dict(d)
        d["start_date"] = date.fromisoformat(d["start_date"])
        d["sample_to_report_days"] = tuple(d["sample_to_report_days"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def parse_start(value: str) -> date:
    """A world's first day from ``YYYY-MM-DD`` (``InvalidInput`` on field ``start`` otherwise)."""
    from zhikong.core.errors import InvalidInput

    try:
        day = date.fromisoformat(value.strip())
    except ValueError as e:
        raise InvalidInput(f"start {value!r} is not a date YYYY-MM-DD", field="start") from e
    if day.year < 2000:
        raise InvalidInput(f"start {value!r} is before 2000", field="start")
    return day

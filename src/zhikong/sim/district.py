"""The district the simulator populates: its villages/communities as plain data.

The simulator needs only a list of :class:`Village` (code, name, position, urban flag, town). They
come from the geo domain's built-in district when it is available (``load_villages``), or from a
hand-made list (tests use :func:`tiny_district`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Village:
    code: str          # 12-digit village/community code
    name: str
    lat: float
    lon: float
    urban: bool        # community (社区) in a street, or a rural village (村)
    town_code: str
    town_name: str = ""


class LocalProjection:
    """Equirectangular projection to metres east/north of an origin (good to ~0.1% over a district).

    Used when ``zhikong.geo.projection`` is not available; the formulas are the same small-area
    approximation.
    """

    R = 6371008.8

    def __init__(self, origin_lat: float, origin_lon: float) -> None:
        self.lat0 = origin_lat
        self.lon0 = origin_lon
        self._kx = math.cos(math.radians(origin_lat)) * math.pi / 180 * self.R
        self._ky = math.pi / 180 * self.R

    def to_xy(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self._kx, (np.asarray(lat) - self.lat0) * self._ky

    def to_latlon(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.lat0 + np.asarray(y) / self._ky, self.lon0 + np.asarray(x) / self._kx


def projection_for(villages: list[Village]) -> LocalProjection:
    lat = float(np.mean([v.lat for v in villages]))
    lon = float(np.mean([v.lon for v in villages]))
    return LocalProjection(round(lat, 4), round(lon, 4))


def tiny_district() -> list[Village]:
    """Two towns, five villages: enough for tests and hand-made scenarios."""
    return [
        Village("500113001001", "鱼洞社区", 29.383, 106.521, True, "500113001", "鱼洞街道"),
        Village("500113001002", "新华社区", 29.390, 106.530, True, "500113001", "鱼洞街道"),
        Village("500113001003", "仁流社区", 29.376, 106.515, True, "500113001", "鱼洞街道"),
        Village("500113101001", "界石村", 29.450, 106.650, False, "500113101", "界石镇"),
        Village("500113101002", "桂花村", 29.470, 106.670, False, "500113101", "界石镇"),
    ]


#: Banan's 8 streets and 14 towns (names public; centres approximate), used when the geo domain's
#: built-in district is not available
_BANAN_TOWNS: list[tuple[str, str, float, float, bool]] = [
    ("500113001", "龙洲湾街道", 29.353, 106.520, True),
    ("500113002", "鱼洞街道", 29.383, 106.521, True),
    ("500113003", "花溪街道", 29.423, 106.560, True),
    ("500113004", "李家沱街道", 29.449, 106.533, True),
    ("500113005", "南泉街道", 29.432, 106.629, True),
    ("500113006", "一品街道", 29.320, 106.650, True),
    ("500113007", "南彭街道", 29.370, 106.680, True),
    ("500113008", "惠民街道", 29.408, 106.600, True),
    ("500113101", "界石镇", 29.455, 106.660, False),
    ("500113102", "安澜镇", 29.320, 106.770, False),
    ("500113103", "跳石镇", 29.260, 106.600, False),
    ("500113104", "木洞镇", 29.580, 106.830, False),
    ("500113105", "双河口镇", 29.520, 106.870, False),
    ("500113106", "麻柳嘴镇", 29.620, 106.860, False),
    ("500113107", "东泉镇", 29.470, 106.880, False),
    ("500113108", "姜家镇", 29.180, 106.640, False),
    ("500113109", "天星寺镇", 29.230, 106.750, False),
    ("500113110", "接龙镇", 29.150, 106.810, False),
    ("500113111", "石滩镇", 29.270, 106.870, False),
    ("500113112", "石龙镇", 29.290, 106.960, False),
    ("500113113", "二圣镇", 29.400, 106.740, False),
    ("500113114", "丰盛镇", 29.410, 106.920, False),
]


def synthetic_banan(villages_per_town: int = 14, seed: int = 113) -> list[Village]:
    """Banan's 22 towns with generated villages around each centre (fallback without ``geo``)."""
    rng = np.random.default_rng(seed)
    out: list[Village] = []
    for tcode, tname, lat, lon, urban in _BANAN_TOWNS:
        spread = 0.02 if urban else 0.05
        for i in range(villages_per_town):
            dlat, dlon = rng.normal(0, spread, 2)
            suffix = "社区" if urban else "村"
            out.append(Village(f"{tcode}{i + 1:03d}", f"{tname[:2]}{i + 1}{suffix}",
                               round(lat + dlat, 5), round(lon + dlon, 5), urban, tcode, tname))
    return out


def load_villages(district_code: str = "500113") -> list[Village]:
    """The district's villages from the geo domain's built-in definition, else a synthetic Banan."""
    try:
        from zhikong.geo import builtin  # type: ignore[attr-defined]
    except ImportError:
        return synthetic_banan()
    loader = getattr(builtin, "load_district", None)
    if loader is None:
        return synthetic_banan()
    return _from_geo(loader(district_code))


def _from_geo(district: object) -> list[Village]:  # pragma: no cover - depends on geo's shape
    out: list[Village] = []
    for town in getattr(district, "towns", []):
        for v in getattr(town, "villages", []):
            out.append(Village(v.code, v.name, float(v.lat), float(v.lon), bool(v.urban),
                               town.code, town.name))
    return out or synthetic_banan()

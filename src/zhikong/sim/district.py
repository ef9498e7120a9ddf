"""The district the simulator populates: its villages/communities as plain data.

The simulator needs only a list of :class:`Village` (code, name, position, urban flag, town). They
come from the geo domain's built-in district (``load_villages``) or from a hand-made list (tests use
:func:`tiny_district`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zhikong.core.errors import NotFound
from zhikong.geo.projection import Projection


@dataclass(frozen=True)
class Village:
    code: str          # 12-digit village/community code
    name: str
    lat: float
    lon: float
    urban: bool        # community (社区) in a street, or a rural village (村)
    town_code: str
    town_name: str = ""


def projection_for(villages: list[Village], district_code: str | None = None) -> Projection:
    """The district's projection (geo's origin for a built-in district, else the villages' mean)."""
    if district_code is not None:
        try:
            from zhikong.geo.service import district_projection

            return district_projection(district_code)
        except NotFound:
            pass
    lat = float(np.mean([v.lat for v in villages]))
    lon = float(np.mean([v.lon for v in villages]))
    return Projection(round(lat, 4), round(lon, 4))


def tiny_district() -> list[Village]:
    """Two towns, five villages: enough for tests and hand-made scenarios."""
    return [
        Village("500113001001", "鱼洞社区", 29.383, 106.521, True, "500113001", "鱼洞街道"),
        Village("500113001002", "新华社区", 29.390, 106.530, True, "500113001", "鱼洞街道"),
        Village("500113001003", "仁流社区", 29.376, 106.515, True, "500113001", "鱼洞街道"),
        Village("500113101001", "界石村", 29.450, 106.650, False, "500113101", "界石镇"),
        Village("500113101002", "桂花村", 29.470, 106.670, False, "500113101", "界石镇"),
    ]


def load_villages(district_code: str = "500113") -> list[Village]:
    """The villages/communities of a built-in district (geo's definition), sorted by code."""
    from zhikong.geo.models import UnitLevel
    from zhikong.geo.service import builtin_definition

    out: list[Village] = []
    for town in builtin_definition(district_code).root.children:
        for v in town.walk():
            if v.level == UnitLevel.VILLAGE and v.lat is not None and v.lon is not None:
                out.append(Village(v.code, v.name, float(v.lat), float(v.lon), bool(v.urban),
                                   town.code, town.name))
    return sorted(out, key=lambda v: v.code)

"""geo domain: administrative hierarchy (district → town/street → village/community), the one
projection to local metres, grid cells, district definitions (Banan built in) and key places.

What other domains may use is re-exported here; see ``docs/geo.md``.
"""

from __future__ import annotations

from zhikong.geo.projection import Projection, grid_cell
from zhikong.geo.service import (
    builtin_definition,
    children,
    district_projection,
    get_district,
    get_unit,
    load_builtin,
    load_district,
    locate,
    locate_many,
    subtree_filter,
    try_locate,
    within,
)

__all__ = [
    "Projection",
    "builtin_definition",
    "children",
    "district_projection",
    "get_district",
    "get_unit",
    "grid_cell",
    "load_builtin",
    "load_district",
    "locate",
    "locate_many",
    "subtree_filter",
    "try_locate",
    "within",
]

"""Screening (排查): incoming lists linked to the resident ledger, key persons, concealment.

Public API (the rest of the package is private):

* linkage core: :func:`link`, :func:`dedupe`, :func:`decide`, :class:`Thresholds`, the profiles
  ``CHINESE`` and ``LATIN``;
* services: :func:`import_list`, :func:`link_list`, :func:`import_risk_areas`,
  :func:`was_risk_area`, :func:`run_concealment`, :func:`add_key_person`.

pyspark is never imported here; the Spark backend is loaded when asked for.
"""

from __future__ import annotations

from zhikong.screening.keypersons import add_key_person, load_policy
from zhikong.screening.linkage import Thresholds, decide, dedupe, link
from zhikong.screening.profiles import CHINESE, LATIN
from zhikong.screening.service import (
    import_list,
    import_risk_areas,
    link_list,
    run_concealment,
    was_risk_area,
)

__all__ = [
    "CHINESE",
    "LATIN",
    "Thresholds",
    "add_key_person",
    "decide",
    "dedupe",
    "import_list",
    "import_risk_areas",
    "link",
    "link_list",
    "load_policy",
    "run_concealment",
    "was_risk_area",
]

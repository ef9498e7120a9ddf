"""people domain: the resident ledger (基础台账) and identity primitives.

Public API (other domains use these; the rest is private):

* ``idcard``: GB 11643-1999 ID numbers — ``parse``, ``normalise``, ``is_valid``, ``make_id_number``.
* ``phone``: Chinese mobile numbers — ``normalise`` (E.164), ``is_valid``, ``mask``.
* ``generate``: ``generate_population``, ``write_ledger_csv``, ``VillageSpec``, ``LEDGER_COLUMNS``.
* ``service``: ``id_hash``, ``phone_hash`` (the lake's pids), ``find_by_id_number``,
  ``find_by_phone``, ``reveal``, ``village_specs``, ``stats``.
* ``importer``: ``import_ledger``.
"""

from __future__ import annotations

from zhikong.people.generate import LEDGER_COLUMNS, VillageSpec, generate_population, write_ledger_csv
from zhikong.people.idcard import IdNumber, make_id_number

__all__ = ["LEDGER_COLUMNS", "IdNumber", "VillageSpec", "generate_population", "make_id_number",
           "write_ledger_csv"]

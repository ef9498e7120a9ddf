"""Concealment (瞒报): people whose declaration contradicts the lake.

The lake is read with DuckDB straight from its Parquet files (``<lake>/travel``,
``<lake>/roaming``); people are matched on keyed hashes only (``pid`` = keyed hash of the ID
number for travel records, of the E.164 phone for roaming), so no plaintext leaves the database.

A person is flagged when the lake shows them arriving from, or their phone present in, a city
with a risk area *while it was one*, and their declaration says no travel, or names an origin that
is not a risk area, or they made none at all. The evidence rows are returned with the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from zhikong.core.errors import EngineError


@dataclass(frozen=True)
class Flag:
    person_key: str
    evidence: list[dict[str, Any]]


def _parquet(lake: Path, source: str) -> str | None:
    root = lake / source
    if not root.exists() or not any(root.rglob("*.parquet")):
        return None
    return (f"read_parquet('{(root / '**' / '*.parquet').as_posix()}', hive_partitioning = true, "
            "union_by_name = true)")


def _city_key(code: str | None) -> str | None:
    """The 4-digit city part of a GB/T 2260 code (districts and streets fold into their city)."""
    return code[:4] if code and len(code) >= 4 and code.isdigit() else None


def find_concealment(
    lake: Path,
    risk: pd.DataFrame,
    persons: pd.DataFrame,
    declarations: pd.DataFrame,
) -> list[Flag]:
    """Flags for contradicted or missing declarations.

    Parameters
    ----------
    lake:
        the lake root (``<lake>/travel``, ``<lake>/roaming`` Parquet datasets).
    risk:
        risk areas: ``city``, ``area_code`` (may be null), ``effective_from``,
        ``effective_to`` (UTC, null = still in effect).
    persons:
        ``person_key``, ``id_hash``, ``phone_hash`` of the people to check.
    declarations:
        ``person_key``, ``declared_travel`` (bool), ``origin_city`` of each declaration.
    """
    travel = _parquet(lake, "travel")
    roaming = _parquet(lake, "roaming")
    if (travel is None and roaming is None) or risk.empty or persons.empty:
        return []
    con = duckdb.connect()
    try:
        r = risk.copy()
        r["city_key"] = [_city_key(c) for c in r.get("area_code", pd.Series([None] * len(r)))]
        r["effective_from"] = pd.to_datetime(r["effective_from"], utc=True)
        r["effective_to"] = pd.to_datetime(r["effective_to"], utc=True)
        con.register("risk", r[["city", "city_key", "effective_from", "effective_to"]])
        con.register("persons", persons[["person_key", "id_hash", "phone_hash"]])
        parts = []
        if travel is not None:
            parts.append(f"""
              SELECT p.person_key, 'travel' AS source, t.origin_city AS city,
                     t.depart_ts AS from_ts, t.ts AS to_ts,
                     t.mode || ' ' || coalesce(t.vehicle, '') AS detail
              FROM {travel} t JOIN persons p ON t.pid = p.id_hash
              JOIN risk k ON (t.origin_city = k.city OR substr(t.origin_code, 1, 4) = k.city_key)
               AND t.depart_ts >= k.effective_from
               AND (k.effective_to IS NULL OR t.depart_ts < k.effective_to)""")
        if roaming is not None:
            parts.append(f"""
              SELECT p.person_key, 'roaming' AS source, m.city AS city,
                     m.first_seen AS from_ts, m.last_seen AS to_ts, m.city_code AS detail
              FROM {roaming} m JOIN persons p ON m.pid = p.phone_hash
              JOIN risk k ON (m.city = k.city OR substr(m.city_code, 1, 4) = k.city_key)
               AND m.last_seen >= k.effective_from
               AND (k.effective_to IS NULL OR m.first_seen < k.effective_to)""")
        evidence = con.execute(
            "SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ") ORDER BY person_key, from_ts"
        ).df()
    except duckdb.Error as e:
        raise EngineError(f"reading the lake at {lake} failed: {e}") from e
    finally:
        con.close()
    if evidence.empty:
        return []
    risk_cities = set(risk["city"].dropna())
    ok: set[str] = set()
    if not declarations.empty:
        for rec in declarations.to_dict("records"):
            if bool(rec.get("declared_travel")) and (rec.get("origin_city") in risk_cities):
                ok.add(str(rec["person_key"]))
    flags: list[Flag] = []
    for key, grp in evidence.groupby("person_key", sort=True):
        if str(key) in ok:
            continue
        ev = [{"source": str(e["source"]), "city": e["city"],
               "from": _iso(e["from_ts"]), "to": _iso(e["to_ts"]), "detail": e["detail"]}
              for e in grp.to_dict("records")]
        flags.append(Flag(str(key), ev))
    return flags


def _iso(v: object) -> str | None:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, datetime | pd.Timestamp):
        return pd.Timestamp(v).isoformat()
    return str(v)

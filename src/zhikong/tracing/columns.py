"""The tracing pipeline's shared shapes: index rows, detectors and evidence columns."""

from __future__ import annotations

import pyarrow as pa

LOCAL_OFFSET_S = 8 * 3600  # China has one zone and no DST: local day = floor((t + 8h) / 1 day)

IDX_SCHEMA = pa.schema(
    [
        ("case_key", pa.string()),  # the case this row traces for (the index case at hop 1)
        ("hop", pa.int32()),  # 1 = contacts of a case, 2 = contacts of its close contacts
        ("person", pa.string()),  # person key of the index (ID pseudonym, or phone pseudonym)
        ("onset_s", pa.int64()),  # onset (or sampling) of the case, epoch seconds
        ("start_s", pa.int64()),  # window start for this index person
        ("end_s", pa.int64()),  # window end (isolation or trace time)
    ]
)

#: hop-2 index rows are numbered case × VIA_BASE + the close contact's rank (``pkey.ord``; ranks are below it)
VIA_BASE = 1 << 32


def case_base(case_key: str) -> str:
    """SQL: case × VIA_BASE for the index row number ``case_key`` (a hop-2 row's; 0 at hop 1)."""
    return f"({case_key} - {case_key} % {VIA_BASE})"


def unskipped(base: str, contact: str) -> str:
    """SQL condition leaving out the pairs of table ``idx_skip(k)``, ``k`` = case × VIA_BASE +
    contact, from a detector's rows before it aggregates them; ``base`` is the case × VIA_BASE of
    the row (:func:`case_base`). A ``NOT IN``: the engine builds its hash table of the small
    ``idx_skip`` (a ``LEFT JOIN`` had DuckDB build it of the millions of rows, whose number it
    underestimates)."""
    return f"{base} + {contact} NOT IN (SELECT k FROM idx_skip)"


#: the exposure detectors, by source (see :func:`detect`)
DETECTORS = (
    "venue_scan",
    "cell",
    "camera",
    "travel",
    "gps",
    "proximity",
    "ledger",
    "venue_cell",
    "venue_visit",
    "class",
    "school",
)
#: detectors that read the structure tables (``structure.prepare``: cell and venue stays)
STRUCTURAL = {"venue_cell", "venue_visit", "class", "school"}

EVIDENCE_SCHEMA = pa.schema(
    [
        ("case_key", pa.string()),
        ("hop", pa.int32()),
        ("contact", pa.string()),
        ("source", pa.string()),
        ("place", pa.string()),
        ("start_s", pa.int64()),
        ("end_s", pa.int64()),
        ("minutes", pa.float64()),
        ("distance", pa.string()),
    ]
)
EVIDENCE_COLUMNS = [
    "case_key",
    "hop",
    "contact",
    "source",
    "place",
    "start_s",
    "end_s",
    "minutes",
    "distance",
]


def epoch_sql(col: str) -> str:
    """SQL: the whole epoch seconds of timestamp ``col`` (``zk_epoch_s``, on every engine)."""
    return f"CAST(FLOOR(zk_epoch_s({col})) AS BIGINT)"

"""Storing a trace's evidence: one sort, then each contact's rows as a range (``exposure_rows``)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from zhikong.tracing.pipeline import EVIDENCE_COLUMNS
from zhikong.tracing.result import EVIDENCE_TABLE_SCHEMA, encoded
from zhikong.tracing.service import EXPOSURE_ORDER, exposure_rows


def _ev(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    cols = [*EVIDENCE_COLUMNS, "score", "via"]
    return pd.DataFrame(rows, columns=cols)


def _table(ev: pd.DataFrame) -> pa.Table:
    t = encoded(pa.Table.from_pandas(ev, preserve_index=False), EVIDENCE_TABLE_SCHEMA)
    assert pa.types.is_dictionary(t.schema.field("contact").type)
    return t


def test_each_contact_gets_its_rows_in_the_stored_order() -> None:
    rows = [
        ("1", 1, "p", "venue_scan", "V1", 200, 300, 1.0, "near", 0.5, None),
        ("1", 1, "p", "cell", "T1", 500, 600, 1.0, "coarse", 0.1, None),
        ("1", 1, "p", "cell", None, 100, 600, 1.0, "coarse", 0.1, None),  # by source, then start
        ("1", 2, "p", "gps", "G", 50, 60, 1.0, "near", 0.2, "z"),  # hop 2 after hop 1, by close contact
        ("1", 2, "p", "gps", "G", 40, 60, 1.0, "near", 0.2, "y"),
        ("1", 1, "q", "ledger", "H", 0, 10, 1.0, "household", 1.0, None),
        ("2", 1, "p", "cell", "T1", 100, 160, 1.0, "coarse", 0.1, None),
    ]
    want = {
        ("1", "p"): [rows[2], rows[1], rows[0], rows[4], rows[3]],
        ("1", "q"): [rows[5]],
        ("2", "p"): [rows[6]],
    }
    for shuffled in (rows, rows[::-1], rows[3:] + rows[:3]):
        # as pandas, and as the trace's table (names dictionary-encoded in the order they come)
        for ev in (_ev(shuffled), _table(_ev(shuffled))):
            spans, cols = exposure_rows(ev)
            assert set(spans) == set(want)
            for key, (lo, hi) in spans.items():
                got = [tuple(cols[c][i] for c in _ev([]).columns) for i in range(lo, hi)]
                assert got == want[key], key
    assert exposure_rows(_ev([])) == ({}, {}) == exposure_rows(_table(_ev([])))
    assert EXPOSURE_ORDER[:2] == ["case_key", "contact"]


def test_places_missing_sort_last_at_the_same_start() -> None:
    rows = [
        ("1", 1, "p", "cell", None, 100, 600, 1.0, "coarse", 0.1, None),
        ("1", 1, "p", "cell", "T9", 100, 600, 1.0, "coarse", 0.1, None),
    ]
    for ev in (_ev(rows), _table(_ev(rows))):
        spans, cols = exposure_rows(ev)
        lo, hi = spans[("1", "p")]
        assert cols["place"][lo:hi] == ["T9", None]

"""Storing a trace's evidence: one sort, then each contact's rows as a range (``exposure_rows``)."""

from __future__ import annotations

import pandas as pd

from zhikong.tracing.pipeline import EVIDENCE_COLUMNS
from zhikong.tracing.service import EXPOSURE_ORDER, exposure_rows


def _ev(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    cols = [*EVIDENCE_COLUMNS, "score", "via"]
    return pd.DataFrame(rows, columns=cols)


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
        spans, cols = exposure_rows(_ev(shuffled))
        assert set(spans) == set(want)
        for key, (lo, hi) in spans.items():
            got = [tuple(cols[c][i] for c in _ev([]).columns) for i in range(lo, hi)]
            assert got == want[key], key
    assert exposure_rows(_ev([])) == ({}, {})
    assert EXPOSURE_ORDER[:2] == ["case_key", "contact"]


def test_places_missing_sort_last_at_the_same_start() -> None:
    rows = [
        ("1", 1, "p", "cell", None, 100, 600, 1.0, "coarse", 0.1, None),
        ("1", 1, "p", "cell", "T9", 100, 600, 1.0, "coarse", 0.1, None),
    ]
    spans, cols = exposure_rows(_ev(rows))
    lo, hi = spans[("1", "p")]
    assert cols["place"][lo:hi] == ["T9", None]

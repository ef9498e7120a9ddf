"""Helpers shared by the HTTP load benchmarks."""

from __future__ import annotations

from tests.pg import free_port

__all__ = ["free_port", "pct"]


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]

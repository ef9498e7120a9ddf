"""``summarise`` against the per-pair definition, on random evidence."""

from __future__ import annotations

import random

import pandas as pd

from zhikong.tracing.policy import load_policy
from zhikong.tracing.risk import summarise


def test_summarise_matches_the_per_pair_definition() -> None:
    rng = random.Random(5)
    rows = [
        {
            "case_key": rng.choice("ab"),
            "contact": rng.choice("pqrstu"),
            "source": rng.choice(["cell", "venue_scan", "proximity", "ledger"]),
            "distance": rng.choice(["coarse", "near", "close", "household"]),
            "minutes": rng.choice([0.0, 5.0, 12.5, 30.0]),
            "score": rng.choice([0.0, 0.0, 1.25, 7.0, 31.5]),
            "start_s": rng.randint(0, 1000),
            "end_s": rng.randint(1000, 2000),
        }
        for _ in range(300)
    ]
    ev = pd.DataFrame(rows)
    policy = load_policy()
    out = summarise(ev, policy).set_index(["case_key", "contact"])
    assert len(out) == len(ev.groupby(["case_key", "contact"]))
    close_range = set(policy.close_contact.close_range)
    for (k, c), g in ev.groupby(["case_key", "contact"], sort=False):
        row = out.loc[(k, c)]
        per_src: dict[str, float] = {}
        close: dict[str, float] = {}
        for r in g.itertuples(index=False):
            per_src[r.source] = per_src.get(r.source, 0.0) + r.score
            close[r.source] = close.get(r.source, 0.0) + (r.minutes if r.distance in close_range else 0.0)
        assert row["contributions"] == {s: round(v, 3) for s, v in per_src.items() if v > 0}
        assert list(row["contributions"]) == [s for s, v in per_src.items() if v > 0]
        assert row["score"] == sum(per_src.values())
        assert row["close_minutes"] == max(close.values())
        assert (row["first_s"], row["last_s"]) == (g["start_s"].min(), g["end_s"].max())
        assert row["household"] == bool((g["distance"] == "household").any())

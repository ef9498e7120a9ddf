"""Risk score and classification of contacts, from evidence rows.

score = Σ over evidence rows of ``minutes × w_distance × w_source × infectiousness(day from onset)``;
each contact keeps the contribution of every source so a field worker sees why it ranks where it
does. Classes follow the policy:

* ``close`` — same household (when the policy says so), close-range minutes ≥ the threshold, or a
  score ≥ ``close_contact.score_threshold`` when the policy sets one.
  Close-range minutes are counted per source and the largest source total is used, so two sources
  seeing the same half hour do not count it twice.
* ``companion`` — the 时空伴随 grid rule holds (and the person is not a close contact).
* ``secondary`` — a close contact of a close contact, from that person's exposure on (hop 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from zhikong.tracing.policy import Policy

CLASSES = ("close", "secondary", "companion")


@dataclass
class ContactResult:
    case_key: str
    contact: str
    cls: str
    hop: int
    score: float
    close_minutes: float
    first_s: int
    last_s: int
    contributions: dict[str, float] = field(default_factory=dict)
    via: str | None = None

    def explain(self) -> str:
        parts = ", ".join(
            f"{src} {v:.1f}" for src, v in sorted(self.contributions.items(), key=lambda kv: -kv[1])
        )
        return f"score {self.score:.1f} = {parts}" if parts else f"score {self.score:.1f}"


def score_evidence(ev: pd.DataFrame, onset_by_case: dict[str, int], policy: Policy) -> pd.DataFrame:
    """Add a ``score`` column to evidence rows (needs case_key, source, distance, minutes, start_s)."""
    if ev.empty:
        return ev.assign(score=pd.Series(dtype="float64"))
    w = policy.weights
    onset = ev["case_key"].map(onset_by_case).astype("int64")
    day = (ev["start_s"].astype("int64") - onset) // 86400
    # each weight looked up once per distinct value, not per row
    inf = day.map({int(d): policy.infectiousness_at(int(d)) for d in day.unique()}).astype("float64")
    wd = ev["distance"].map({d: w.distance.get(d, 0.0) for d in ev["distance"].unique()}).astype("float64")
    ws = ev["source"].map({s: w.source.get(s, 0.0) for s in ev["source"].unique()}).astype("float64")
    return ev.assign(score=ev["minutes"].astype("float64") * wd * ws * inf)


def summarise(ev: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """Per (case_key, contact): score, close-range minutes, first/last time, contributions, household."""
    if ev.empty:
        return pd.DataFrame(
            columns=[
                "case_key",
                "contact",
                "score",
                "close_minutes",
                "first_s",
                "last_s",
                "household",
                "contributions",
            ]
        )
    close_range = set(policy.close_contact.close_range)
    ev = ev.assign(close_min=ev["minutes"].where(ev["distance"].isin(close_range), 0.0))
    per_src = (
        ev.groupby(["case_key", "contact", "source"], sort=False)
        .agg(score=("score", "sum"), close_min=("close_min", "sum"))
        .reset_index()
    )
    # per pair, {source: score} in the order the sources first appear (one pass, no per-group apply)
    by_pair: dict[tuple[object, object], dict[str, float]] = {}
    cols = (per_src["case_key"], per_src["contact"], per_src["source"], per_src["score"])
    for k, c, s, v in zip(*cols, strict=True):
        d = by_pair.setdefault((k, c), {})
        if v > 0:
            d[str(s)] = round(float(v), 3)
    contrib = pd.Series(
        list(by_pair.values()),
        index=pd.MultiIndex.from_tuples(list(by_pair), names=["case_key", "contact"]),
        name="contributions",
        dtype=object,
    )
    agg = per_src.groupby(["case_key", "contact"], sort=False).agg(
        score=("score", "sum"), close_minutes=("close_min", "max")
    )
    spans = ev.groupby(["case_key", "contact"], sort=False).agg(
        first_s=("start_s", "min"), last_s=("end_s", "max")
    )
    hh_pairs = set(
        ev.loc[ev["distance"] == "household", ["case_key", "contact"]].itertuples(index=False, name=None)
    )
    out = agg.join(spans).join(contrib).reset_index()
    out["household"] = [(k, c) in hh_pairs for k, c in zip(out["case_key"], out["contact"], strict=True)]
    return out


def is_close(
    row_close_minutes: float,
    household: bool,
    policy: Policy,
    min_minutes: float | None = None,
    score: float | None = None,
) -> bool:
    """The policy's close rule: household, close-range minutes ≥ the threshold, or (when the policy
    sets ``close_contact.score_threshold``) a risk score at or above it."""
    if household and policy.close_contact.household:
        return True
    t = policy.close_contact.score_threshold
    if t is not None and score is not None and score >= t:
        return True
    return row_close_minutes >= (min_minutes if min_minutes is not None else policy.close_contact.min_minutes)

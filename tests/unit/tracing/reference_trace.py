"""Reference: the trace as it was before scoring and classification moved into SQL (pandas after the
detectors, on the reference pipeline's named evidence), kept so tests can prove the trace gives the
same contacts, classes, scores, explanations and evidence (``test_identity``).

One change since: sums of scores and of close-range minutes are rounded to 6 decimals (half up, as
``zhikong.tracing.risk.rounded``): each source's score and close-range minutes, and a pair's score
(the sum of its sources' rounded scores), so that neither side depends on the order it adds in.

Keep rule changes in step with ``zhikong.tracing.trace`` and ``zhikong.tracing.risk``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tests.unit.tracing import reference_pipeline as pipeline
from zhikong.engine import QueryEngine
from zhikong.tracing.policy import Policy
from zhikong.tracing.risk import ContactResult
from zhikong.tracing.trace import IndexCase, TraceResult, open_trace

SEP = "\x1f"


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


def rounded(values: pd.Series) -> pd.Series:
    """Non-negative ``values`` rounded half up to 6 decimals, as ``zhikong.tracing.risk.rounded``."""
    return np.floor(values * 1e6 + 0.5) / 1e6


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
    per_src["score"] = rounded(per_src["score"])
    per_src["close_min"] = rounded(per_src["close_min"])
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
    agg["score"] = rounded(agg["score"])
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


def _contacts(summary: pd.DataFrame, cls_of: dict[tuple[str, str], str], hop: int) -> list[ContactResult]:
    out = []
    for row in summary.itertuples(index=False):
        cls = cls_of.get((str(row.case_key), str(row.contact)))
        if cls is None:
            continue
        out.append(
            ContactResult(
                case_key=str(row.case_key),
                contact=str(row.contact),
                cls=cls,
                hop=hop,
                score=float(row.score),
                close_minutes=float(row.close_minutes),
                first_s=int(row.first_s),
                last_s=int(row.last_s),
                contributions=dict(row.contributions or {}),
            )
        )
    return out


def trace(
    engine: QueryEngine,
    lake_dir: Path,
    ledger: pa.Table,
    cases: list[IndexCase],
    policy: Policy,
    *,
    secondary: bool = True,
    now: datetime | None = None,
) -> TraceResult:
    """Trace ``cases`` over the lake: close contacts, companions and (optionally) secondary contacts."""
    lake = open_trace(engine, lake_dir, ledger, cases, policy, now)
    sources, idx = lake.sources, lake.idx
    pipeline.prepare(engine, policy, lake.lo_s, lake.hi_s, derived=lake.derived is not None)

    ev1 = pipeline.run_exposures(engine, policy, idx).to_pandas()
    present = pipeline.with_trajectory(engine)
    without = [c.key for c in cases if c.person not in present]
    comp = engine.sql(pipeline.companion_sql(policy)).to_pandas()

    onset = {c.key: int(c.onset_at.timestamp()) for c in cases}
    ev1 = score_evidence(ev1, onset, policy)
    s1 = summarise(ev1, policy)
    index_people = {c.person for c in cases}
    cls_of: dict[tuple[str, str], str] = {}
    for row in s1.itertuples(index=False):
        if is_close(float(row.close_minutes), bool(row.household), policy, score=float(row.score)):
            cls_of[(str(row.case_key), str(row.contact))] = "close"
    comp_pairs = {(str(k), str(c)) for k, c in zip(comp["case_key"], comp["contact"], strict=True)}
    for pair in comp_pairs:
        cls_of.setdefault(pair, "companion")
    contacts = _contacts(s1, cls_of, 1)
    known = {(c.case_key, c.contact) for c in contacts}
    spans = (
        comp.astype({"case_key": str, "contact": str}).groupby(["case_key", "contact"])
        .agg(start_s=("start_s", "min"), end_s=("end_s", "max"))
        .to_dict("index")
        if not comp.empty
        else {}
    )
    for case_key, contact in sorted(comp_pairs - known):
        if cls_of.get((case_key, contact)) == "companion":
            span = spans[(case_key, contact)]
            contacts.append(
                ContactResult(
                    case_key, contact, "companion", 1, 0.0, 0.0, int(span["start_s"]), int(span["end_s"]), {}
                )
            )
    evidence = [ev1.assign(via=None)]

    if secondary and policy.secondary_contact.enabled:
        close = [c for c in contacts if c.cls == "close"]
        if close:
            by_key = {c.key: c for c in cases}
            first = (
                ev1[ev1["distance"].isin(policy.close_contact.close_range)]
                .groupby(["case_key", "contact"])["start_s"]
                .min()
                .to_dict()
            )
            rows = []
            for c in close:
                case = by_key[c.case_key]
                start, end = case.window(policy)
                rows.append(
                    {
                        "case_key": f"{c.case_key}{SEP}{c.contact}",
                        "hop": 2,
                        "person": c.contact,
                        "onset_s": onset[c.case_key],
                        "start_s": max(start, int(first.get((c.case_key, c.contact), start))),
                        "end_s": end,
                    }
                )
            idx2 = pa.Table.from_pylist(rows, schema=pipeline.IDX_SCHEMA)
            # same-tower evidence ("coarse") can never make a secondary contact unless the policy counts
            # it as close range; skipping it keeps hop 2 small (thousands of index persons). The school
            # stand-in is not applied again at hop 2: a schoolmate's schoolmates are the case's own, and
            # on a 100,000-person world it made hop 2 tens of millions of rows. The class roster is (a
            # close contact's class is 40 pupils). Visits (one side's scan, the other's cell stay) are
            # not either: their tens of thousands of hop-2 index persons made the run exceed 20 GB
            hop2 = [s for s in pipeline.DETECTORS if s not in ("school", "venue_visit")]
            if "coarse" not in policy.close_contact.close_range:
                hop2.remove("cell")
            ev2 = pipeline.run_exposures(engine, policy, idx2, sources=hop2).to_pandas()
            if not ev2.empty:
                # "case<SEP>via" keys: a few thousand distinct values over up to millions of rows
                codes, keys = pd.factorize(ev2["case_key"])
                parts = [str(k).split(SEP, 1) for k in keys]
                ev2 = ev2.assign(
                    case_key=pd.Series([p[0] for p in parts], dtype=object).take(codes).to_numpy(),
                    via=pd.Series([p[1] for p in parts], dtype=object).take(codes).to_numpy(),
                )
                ev2 = score_evidence(ev2, onset, policy)
                close_pairs = {(c.case_key, c.contact) for c in close}
                ev2 = ev2[
                    [
                        (k, p) not in close_pairs and p not in index_people
                        for k, p in zip(ev2["case_key"], ev2["contact"], strict=True)
                    ]
                ]
                s2 = summarise(ev2.drop(columns=["via"]), policy)
                cls2 = {}
                for row in s2.itertuples(index=False):
                    key = (str(row.case_key), str(row.contact))
                    if is_close(
                        float(row.close_minutes),
                        bool(row.household),
                        policy,
                        policy.secondary_contact.min_minutes,
                        score=float(row.score),
                    ):
                        cls2[key] = "secondary"
                sec = _contacts(s2, cls2, 2)
                via = ev2.groupby(["case_key", "contact"])["via"].first().to_dict()
                contacts = [c for c in contacts if (c.case_key, c.contact) not in cls2] + sec
                for c in sec:
                    c.via = via.get((c.case_key, c.contact))
                evidence.append(ev2[ev2.set_index(["case_key", "contact"]).index.isin(list(cls2))])

    contacts.sort(key=lambda c: (c.case_key, -c.score, c.contact))
    ev = (
        pd.concat([e for e in evidence if not e.empty], ignore_index=True)
        if any(not e.empty for e in evidence)
        else evidence[0]
    )
    return TraceResult.from_contacts(
        contacts,
        ev,
        sources,
        without_trajectory=without,
        ranking=s1[["case_key", "contact", "score", "close_minutes"]] if not s1.empty else s1,
    )

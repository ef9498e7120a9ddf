"""Scoring tracing against a world's ground truth, for zhikong and two baselines used in practice.

Traced cases: every true case that was reported (index = the case, onset = onset or, for
asymptomatic cases, sampling; the window ends at the report). Truth per class:

* ``close`` — the simulator's true close contacts of those cases (same sub-zone ≥ 15 cumulative
  minutes in the infectious window, or same household).
* ``secondary`` — true close contacts of the case's *infected* true close contacts (the only people
  whose contacts the truth knows), minus the case's own close contacts; predictions are scored only
  where they run through such a person.
* ``companion`` — a companion alert is right when the person was truly a close contact.

When the world has class rosters (``rosters/school_rosters.csv``), they are imported into the
evaluation lake with the production import (``tracing.roster``), bad rows and all.

Baselines: ``grid`` (same 800 m cell for > 10 minutes; companions add the 30-hour rule) and
``tower`` (same cell tower at the same time); their secondary contacts are the same rule applied
again from their close contacts. The tower rule has no companion rule of its own: its whole alert
list is scored as its companion list too (that list is what an operator's same-tower companion
query returns), so its ``companion`` row repeats its ``close`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from zhikong.engine import QueryEngine
from zhikong.evaluation.world import World, world_lake
from zhikong.tracing import pipeline
from zhikong.tracing.policy import Policy
from zhikong.tracing.roster import import_roster, roster_path
from zhikong.tracing.trace import IndexCase, TraceResult, index_table, trace

METHODS = ("zhikong", "grid", "tower")
CLASSES = ("close", "secondary", "companion")
Pair = tuple[str, str]


def metrics(pred: set[Pair], truth: set[Pair]) -> dict[str, float | int]:
    tp = len(pred & truth)
    fp = len(pred - truth)
    fn = len(truth - pred)
    return {
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


@dataclass
class Truth:
    close: set[Pair]
    secondary: set[Pair]
    infected: set[str]
    #: (case, close contact) → that contact's own true close contacts
    contacts_of: dict[str, set[str]]


def world_cases(world: World) -> list[IndexCase]:
    c = world.truth("cases")
    c = c[c["reported_at"].notna()]
    out = []
    for row in c.itertuples(index=False):
        onset = row.onset_at if pd.notna(row.onset_at) else row.sampled_at
        if pd.isna(onset):
            continue
        key = world.hash_id(row.id_number)
        if key is None:
            continue
        out.append(
            IndexCase(
                key=key,
                person=key,
                onset_at=pd.Timestamp(onset).to_pydatetime(),
                end_at=pd.Timestamp(row.reported_at).to_pydatetime(),
            )
        )
    return out


def world_truth(world: World, cases: list[IndexCase]) -> Truth:
    cc = world.truth("close_contacts")
    h = {v: world.hash_id(v) for v in pd.unique(pd.concat([cc["case_id_number"], cc["contact_id_number"]]))}
    pairs = pd.DataFrame({"case": cc["case_id_number"].map(h), "contact": cc["contact_id_number"].map(h)})
    contacts_of: dict[str, set[str]] = {}
    for case, contact in zip(pairs["case"], pairs["contact"], strict=True):
        contacts_of.setdefault(case, set()).add(contact)
    infected = {world.hash_id(v) for v in world.truth("cases")["id_number"]} - {None}
    keys = {c.key for c in cases}
    close = {(k, c) for k in keys for c in contacts_of.get(k, set())}
    secondary: set[Pair] = set()
    for k in keys:
        own = contacts_of.get(k, set())
        for mid in own & set(contacts_of):
            secondary |= {(k, x) for x in contacts_of[mid] - own - {k}}
    return Truth(
        close=close, secondary=secondary, infected={str(i) for i in infected}, contacts_of=contacts_of
    )


def _baseline(
    engine: QueryEngine, policy: Policy, cases: list[IndexCase], kind: str, infected: set[str]
) -> dict[str, set[Pair]]:
    idx = index_table(cases, policy)
    pipeline.register_index(engine, idx)
    close_df = engine.sql(pipeline.baseline_sql(kind, policy)).to_pandas()
    close = {(str(a), str(b)) for a, b in zip(close_df["case_key"], close_df["contact"], strict=True)}
    if kind == "grid":
        comp_df = engine.sql(pipeline.companion_sql(policy)).to_pandas()
        companion = {(str(a), str(b)) for a, b in zip(comp_df["case_key"], comp_df["contact"], strict=True)}
    else:
        companion = set(close)
    # secondary: the rule again from close contacts who are infected (scored ones only)
    rows = []
    by_key = {c.key: c for c in cases}
    first = {
        (str(a), str(b)): int(s)
        for a, b, s in zip(close_df["case_key"], close_df["contact"], close_df["start_s"], strict=True)
    }
    for k, contact in sorted(close):
        if contact in infected:
            start, end = by_key[k].window(policy)
            rows.append(
                {
                    "case_key": f"{k}\x1f{contact}",
                    "hop": 2,
                    "person": contact,
                    "onset_s": int(by_key[k].onset_at.timestamp()),
                    "start_s": max(start, first[(k, contact)]),
                    "end_s": end,
                }
            )
    secondary: set[Pair] = set()
    if rows:
        pipeline.register_index(engine, pa.Table.from_pylist(rows, schema=pipeline.IDX_SCHEMA))
        sec = engine.sql(pipeline.baseline_sql(kind, policy)).to_pandas()
        for key, contact in zip(sec["case_key"], sec["contact"], strict=True):
            case_key = str(key).split("\x1f", 1)[0]
            if (case_key, contact) not in close and contact != case_key:
                secondary.add((case_key, str(contact)))
    return {
        "close": close,
        "secondary": secondary,
        "companion": companion - close if kind == "grid" else companion,
    }


def world_roster(world: World, lake: Path) -> bool:
    """Import the world's class rosters (``rosters/school_rosters.csv``, when the simulator wrote
    them) into its evaluation lake with the production import, once; return whether the lake has one."""
    target = roster_path(lake)
    src = world.root / "rosters" / "school_rosters.csv"
    if not target.is_file() and src.is_file():
        import_roster(src, lake, world.cipher)
    return target.is_file()


def _scored_secondary(pred: dict[Pair, str | None], truth: Truth) -> set[Pair]:
    return {p for p, via in pred.items() if via is not None and via in truth.contacts_of}


@dataclass
class Evaluation:
    table: dict[str, dict[str, dict[str, float | int]]]
    result: TraceResult
    truth: Truth
    cases: int


def evaluate_tracing(
    world: World,
    engine: QueryEngine,
    policy: Policy,
    methods: tuple[str, ...] = METHODS,
    lake: Path | None = None,
) -> Evaluation:
    cases = world_cases(world)
    if not cases:
        from zhikong.core.errors import InvalidInput

        raise InvalidInput(f"the world at {world.root} has no reported cases to trace", field="world")
    own = world_lake(world)
    world_roster(world, own)
    lake = lake or own
    now = max(c.end_at for c in cases).astimezone(UTC)
    result = trace(engine, lake, world.ledger(), cases, policy, now=max(now, datetime.now(UTC)))
    truth = world_truth(world, cases)
    table: dict[str, dict[str, dict[str, float | int]]] = {}
    if "zhikong" in methods:
        close = {(k, c) for k, c, _ in result.pairs("close")}
        comp = {(k, c) for k, c, _ in result.pairs("companion")}
        sec = {(k, c): via for k, c, via in result.pairs("secondary")}
        table["zhikong"] = _score(close, _scored_secondary(sec, truth), comp, truth)
    for kind in ("grid", "tower"):
        if kind in methods:
            b = _baseline(engine, policy, cases, kind, set(truth.contacts_of))
            table[kind] = _score(b["close"], b["secondary"], b["companion"], truth)
    return Evaluation(table=table, result=result, truth=truth, cases=len(cases))


def _score(
    close: set[Pair], secondary: set[Pair], companion: set[Pair], truth: Truth
) -> dict[str, dict[str, float | int]]:
    sec_truth = {
        p
        for p in truth.secondary
        if any(p[1] in truth.contacts_of.get(mid, set()) for mid in truth.contacts_of.get(p[0], set()))
    }
    return {
        "close": metrics(close, truth.close),
        "secondary": metrics(secondary, sec_truth),
        "companion": metrics(companion, truth.close),
    }


def pr_curve(ev: Evaluation, points: int = 20) -> list[dict[str, float]]:
    """Precision and recall of the top-k hop-1 pairs ranked by score, for k at ``points`` cut-offs."""
    r = ev.result.ranking
    if r.empty:
        return []
    r = r.sort_values("score", ascending=False).reset_index(drop=True)
    hit = [(str(a), str(b)) in ev.truth.close for a, b in zip(r["case_key"], r["contact"], strict=True)]
    total = len(ev.truth.close)
    out = []
    cum = 0
    step = max(1, len(hit) // points)
    for i, h in enumerate(hit, start=1):
        cum += int(h)
        if i % step == 0 or i == len(hit):
            out.append(
                {
                    "k": i,
                    "score": float(r["score"][i - 1]),
                    "precision": round(cum / i, 4),
                    "recall": round(cum / total, 4) if total else 0.0,
                }
            )
    return out

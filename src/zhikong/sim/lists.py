"""Noisy incoming lists with their true identities (``truth/lists``).

* ``arrivals_telecom.csv`` — the operators' list of numbers seen in the risk areas that are now in
  the district (name from real-name registration, phone, often no ID number). Noise: homophone
  name variants (同音字), typos, a changed phone number, missing or malformed ID numbers, and rows
  of people who are not in the ledger at all.
* ``self_declared.csv`` — travellers' own declarations (the concealers, 瞒报, are missing).
* ``netizen_reports.csv`` — citizens' reports of people back from risk areas: about concealers,
  and some unfounded ones, with partial phones and free-text addresses.

Each ``<name>.csv`` has ``truth/lists/<name>.identity.parquet`` (``row`` = 1-based data row →
``id_number`` of the ledger person, null when the row is nobody in the ledger).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zhikong.sim.params import CITIES, SimParams
from zhikong.sim.population import random_names, random_phones

#: same-sound (同音) character pairs, both directions
_HOMOPHONES = dict(pair for a, b in [
    ("张", "章"), ("王", "汪"), ("李", "黎"), ("刘", "柳"), ("陈", "晨"), ("杨", "阳"), ("黄", "皇"),
    ("赵", "照"), ("周", "舟"), ("吴", "伍"), ("徐", "许"), ("马", "玛"), ("朱", "珠"), ("胡", "湖"),
    ("林", "琳"), ("何", "和"), ("罗", "萝"), ("郑", "正"), ("梁", "良"), ("宋", "送"), ("唐", "堂"),
    ("邓", "登"), ("冯", "峰"), ("韩", "寒"), ("曹", "槽"), ("彭", "朋"), ("曾", "增"), ("伟", "玮"),
    ("丽", "莉"), ("华", "桦"), ("静", "靖"), ("军", "君"), ("磊", "蕾"), ("洋", "阳"), ("艳", "燕"),
    ("杰", "洁"), ("娟", "涓"), ("涛", "滔"), ("超", "潮"), ("霞", "夏"), ("平", "萍"), ("刚", "钢"),
    ("英", "鹰"), ("芳", "方"), ("红", "洪"), ("建", "健"), ("文", "雯"), ("国", "帼"), ("明", "铭"),
    ("敏", "闽"), ("强", "墙"), ("勇", "永"), ("秀", "绣"), ("梅", "媒"), ("林", "临"), ("婷", "亭"),
] for pair in ((a, b), (b, a)))
_TYPO_CHARS = "一丁七万三上下不与专且世丘业东丝两严丰串临丹为主丽举乃久么义之乌乐乔"


def homophone(name: str, rng: np.random.Generator) -> str:
    pos = [i for i, ch in enumerate(name) if ch in _HOMOPHONES]
    if not pos:
        return name
    i = pos[int(rng.integers(0, len(pos)))]
    return name[:i] + _HOMOPHONES[name[i]] + name[i + 1:]


def typo(name: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(0, len(name)))
    return name[:i] + _TYPO_CHARS[int(rng.integers(0, len(_TYPO_CHARS)))] + name[i + 1:]


def malformed_id(idn: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(0, 4))
    if kind == 0:   # one digit wrong (checksum fails)
        i = int(rng.integers(0, 17))
        return idn[:i] + str((int(idn[i]) + 1 + int(rng.integers(0, 8))) % 10) + idn[i + 1:]
    if kind == 1:   # old 15-digit form
        return idn[:6] + idn[8:17]
    if kind == 2:   # last digit dropped
        return idn[:17]
    return idn.lower().replace("x", "×") if idn.endswith("X") else " " + idn   # stray characters


def write_lists(out: Path, params: SimParams, persons: pd.DataFrame, trav: pd.DataFrame,
                start: date) -> dict[str, int]:
    """Write the lists and their identities; return rows per list."""
    rng = np.random.default_rng([params.seed, 7])
    lists = out / "lists"
    ident = out / "truth" / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    ident.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    taken = set(persons["phone"].dropna())

    def arrived(day: np.ndarray) -> list[str]:
        return [(start + timedelta(days=int(d))).isoformat() for d in day]

    # operators' arrivals list: risk-area travellers with a phone, plus outsiders
    t = trav[trav["from_risk_area"] & persons["phone"].iloc[trav["person"]].notna().to_numpy()]
    pr = persons.iloc[t["person"].to_numpy()]
    names = pr["name"].to_numpy().copy()
    phones = pr["phone"].to_numpy().copy()
    ids = pr["id_number"].to_numpy().copy()
    k = len(t)
    for i in range(k):
        if rng.random() < params.list_homophone_rate:
            names[i] = homophone(names[i], rng)
        if rng.random() < params.list_typo_rate:
            names[i] = typo(names[i], rng)
    changed = rng.random(k) < params.list_phone_changed_rate
    phones[changed] = random_phones(rng, int(changed.sum()), taken)
    id_out = ids.astype(object)
    miss = rng.random(k) < params.list_id_missing_rate
    bad = ~miss & (rng.random(k) < params.list_id_malformed_rate)
    for j in np.flatnonzero(bad).tolist():
        id_out[j] = malformed_id(ids[j], rng)
    id_out[miss] = ""
    n_out = round(k * params.list_outsider_share / max(1e-9, 1 - params.list_outsider_share))
    risk = params.risk_cities
    df = pd.DataFrame({
        "name": np.concatenate([names, random_names(rng, n_out)]),
        "phone": np.concatenate([phones, random_phones(rng, n_out, taken)]),
        "id_number": np.concatenate([id_out, np.full(n_out, "", dtype=object)]),
        "origin_city": np.concatenate([t["origin_city"].to_numpy(),
                                       np.array(risk, dtype=object)[rng.integers(0, len(risk), n_out)]]),
        "arrived_date": arrived(np.concatenate([t["arrival_day"].to_numpy(),
                                                rng.integers(0, params.days, n_out)])),
        "operator": rng.choice(["中国移动", "中国联通", "中国电信"], size=k + n_out, p=[0.6, 0.2, 0.2]),
    })
    truth = np.concatenate([ids.astype(object), np.full(n_out, None, dtype=object)])
    counts["arrivals_telecom"] = _write(lists, ident, "arrivals_telecom", df, truth, rng)

    # self-declarations: every traveller except the concealers
    d = trav[~trav["concealed"]]
    pr = persons.iloc[d["person"].to_numpy()]
    df = pd.DataFrame({"name": pr["name"].to_numpy(), "id_number": pr["id_number"].to_numpy(),
                       "phone": pr["phone"].fillna("").to_numpy(), "origin_city": d["origin_city"].to_numpy(),
                       "arrived_date": arrived(d["arrival_day"].to_numpy()), "mode": d["mode"].to_numpy()})
    counts["self_declared"] = _write(lists, ident, "self_declared", df, pr["id_number"].to_numpy(), rng)

    # netizen reports: about some concealers, plus unfounded ones about random residents
    c = trav[trav["concealed"]]
    c = c[rng.random(len(c)) < params.netizen_report_rate]
    n_false = round(len(c) * params.netizen_false_share / max(1e-9, 1 - params.netizen_false_share))
    subj = np.concatenate([c["person"].to_numpy(), rng.integers(0, len(persons), n_false)])
    pr = persons.iloc[subj]
    ph = pr["phone"].fillna("").to_numpy()
    partial = np.array([_partial(p, rng) for p in ph], dtype=object)
    origin = np.concatenate([c["origin_city"].to_numpy(),
                             np.array(list(CITIES), dtype=object)[rng.integers(0, len(CITIES), n_false)]])
    df = pd.DataFrame({
        "reported_at": arrived(rng.integers(0, params.days, len(subj))),
        "subject_name": [homophone(x, rng) if rng.random() < 0.2 else x for x in pr["name"]],
        "subject_phone": partial,
        "address": pr["address"].to_numpy(),
        "content": [f"此人疑似刚从{o}回来，未报告" for o in origin],
    })
    counts["netizen_reports"] = _write(lists, ident, "netizen_reports", df, pr["id_number"].to_numpy(), rng)
    return counts


def _partial(phone: str, rng: np.random.Generator) -> str:
    """What a reporter knows of a phone: masked (60%), nothing, or all of it."""
    if phone and rng.random() < 0.6:
        return phone[:3] + "****" + phone[-4:]
    return "" if rng.random() < 0.5 else phone


def _write(lists: Path, ident: Path, name: str, df: pd.DataFrame, truth: np.ndarray,
           rng: np.random.Generator) -> int:
    order = rng.permutation(len(df))
    df = df.iloc[order].reset_index(drop=True)
    df.to_csv(lists / f"{name}.csv", index=False)
    df.to_csv(ident / f"{name}.csv", index=False)   # the same list beside its identities
    pq.write_table(pa.table({"row": pa.array(np.arange(1, len(df) + 1, dtype=np.int64)),
                             "id_number": pa.array(truth[order].tolist(), pa.string())}),
                   ident / f"{name}.identity.parquet")
    return len(df)

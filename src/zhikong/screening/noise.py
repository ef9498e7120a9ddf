"""Synthetic residents and noisy copies of them, for linkage tests and benchmarks.

``synthetic_ledger`` makes plausible residents (valid ID numbers of the district, names from
common surnames and given-name characters, mobile numbers, village codes); ``noisy_list`` draws
rows from a ledger (plus people who are not in it) and damages them the way incoming lists are
damaged: homophone characters, one-character typos, fuzzy-pinyin confusions, ID typos and
transpositions, malformed or missing ID numbers, changed or mistyped phones, missing fields.
The true ledger id of every row is returned beside it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta

import pandas as pd
from pypinyin import Style, lazy_pinyin

from zhikong.screening.identifiers import _CHECK, _WEIGHTS

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
            "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺"
            "顾毛郝龚邵万钱严覃武戴莫孔向汤单解仇区朴查盖")
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕彬鹏辉建国志文"
         "斌宇浩凯婷欣怡雪梅琳丹晨阳光春生海峰波林成荣新永安宁福贵兴东山云飞龙凤清正德"
         "俊豪思雨佳琪子涵嘉欢晶颖丽萍庆渝川江巴南")
DISTRICT = "500113"


def _check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def make_id_number(region: str, birth: date, seq: int, female: bool) -> str:
    seq3 = (seq * 2 + (0 if female else 1)) % 1000
    first = f"{region}{birth:%Y%m%d}{seq3:03d}"
    return first + _check_digit(first)


def synthetic_ledger(n: int, *, seed: int = 1, villages: int = 60) -> pd.DataFrame:
    """``n`` residents with ``unique_id``, name, id_number, phone, birth_date, sex, village_code."""
    rng = random.Random(seed)
    towns = max(1, villages // 10)
    village_codes = [f"{DISTRICT}{1 + i % towns:03d}{200 + i:03d}" for i in range(villages)]
    rows = []
    used_ids: set[str] = set()
    used_phones: set[str] = set()
    for i in range(n):
        female = rng.random() < 0.5
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 80 * 365))
        region = DISTRICT if rng.random() < 0.85 else rng.choice(("500103", "510104", "420106"))
        idn = make_id_number(region, birth, rng.randrange(0, 500), female)
        while idn in used_ids:
            idn = make_id_number(region, birth, rng.randrange(0, 500), female)
        used_ids.add(idn)
        phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        while phone in used_phones:
            phone = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        used_phones.add(phone)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        rows.append({"unique_id": f"P{i:07d}", "name": name, "id_number": idn, "phone": phone,
                     "birth_date": birth.isoformat(), "sex": "female" if female else "male",
                     "village_code": rng.choice(village_codes)})
    return pd.DataFrame(rows)


def _homophones() -> dict[str, list[str]]:
    by_py: dict[str, list[str]] = defaultdict(list)
    for ch in dict.fromkeys(GIVEN):
        by_py[lazy_pinyin(ch, style=Style.NORMAL)[0]].append(ch)
    return {ch: [o for o in by_py[lazy_pinyin(ch, style=Style.NORMAL)[0]] if o != ch]
            for ch in dict.fromkeys(GIVEN)}


_FUZZY_SWAP = {"张": "章", "陈": "程", "沈": "森", "宁": "林", "黄": "方", "胡": "付", "曾": "甄",
               "晨": "岑", "成": "岑", "生": "森", "明": "民", "兰": "南", "林": "宁", "峰": "芬",
               "红": "冯", "洪": "冯", "刚": "干", "庆": "琴", "平": "频", "静": "进", "英": "音"}


def _damage_name(name: str, rng: random.Random, homo: dict[str, list[str]]) -> str:
    kind = rng.random()
    pos = rng.randrange(1, len(name)) if len(name) > 1 else 0
    ch = name[pos]
    if kind < 0.45 and homo.get(ch):
        return name[:pos] + rng.choice(homo[ch]) + name[pos + 1:]
    if kind < 0.7:
        for i, c in enumerate(name):
            if c in _FUZZY_SWAP:
                return name[:i] + _FUZZY_SWAP[c] + name[i + 1:]
    return name[:pos] + rng.choice(GIVEN) + name[pos + 1:]


def _damage_id(idn: str, rng: random.Random) -> str | None:
    kind = rng.random()
    if kind < 0.35:  # one digit mistyped
        pos = rng.randrange(0, 17)
        return idn[:pos] + rng.choice([d for d in "0123456789" if d != idn[pos]]) + idn[pos + 1:]
    if kind < 0.55:  # two adjacent digits swapped
        pos = rng.randrange(0, 16)
        return idn[:pos] + idn[pos + 1] + idn[pos] + idn[pos + 2:]
    if kind < 0.75:  # truncated / malformed
        return idn[: rng.choice((15, 16, 17))]
    return None  # missing


def noisy_list(
    ledger: pd.DataFrame,
    n: int,
    *,
    seed: int = 2,
    in_ledger: float = 0.8,
    noise: float = 0.35,
    duplicates: float = 0.0,
) -> tuple[pd.DataFrame, pd.Series]:
    """A list of ``n`` rows (``unique_id`` ``L…``) and the true ledger ``unique_id`` of each row
    (``None`` for people not in the ledger). ``noise`` is the share of rows with each kind of
    damage applied independently; ``duplicates`` the share of rows repeated with new noise."""
    rng = random.Random(seed)
    homo = _homophones()
    n_in = round(n * in_ledger)
    picks = ledger.sample(n=min(n_in, len(ledger)), random_state=seed).to_dict("records")
    outsiders = synthetic_ledger(n - len(picks), seed=seed + 1000, villages=60).to_dict("records")
    base: list[tuple[dict[str, object], str | None]] = [(r, str(r["unique_id"])) for r in picks]
    base += [(r, None) for r in outsiders]
    rng.shuffle(base)
    extra = [base[rng.randrange(len(base))] for _ in range(round(n * duplicates))]
    rows: list[dict[str, object]] = []
    truth: list[str | None] = []
    for i, (r, tid) in enumerate(base + extra):
        row = {k: r[k] for k in ("name", "id_number", "phone", "birth_date", "sex", "village_code")}
        if rng.random() < noise:
            row["name"] = _damage_name(str(row["name"]), rng, homo)
        if rng.random() < noise:
            row["id_number"] = _damage_id(str(row["id_number"]), rng)
        if rng.random() < noise * 0.6:
            p = str(row["phone"])
            if rng.random() < 0.5:
                row["phone"] = "1" + rng.choice("3456789") + "".join(
                    rng.choice("0123456789") for _ in range(9))
            else:
                pos = rng.randrange(3, 11)
                row["phone"] = p[:pos] + rng.choice("0123456789") + p[pos + 1:]
        if rng.random() < noise * 0.3:
            row["birth_date"] = None
        if rng.random() < noise * 0.3:
            row["village_code"] = None
        row["unique_id"] = f"L{i:06d}"
        rows.append(row)
        truth.append(tid)
    df = pd.DataFrame(rows)
    return df, pd.Series(truth, index=df["unique_id"], name="true_uid")

"""The simulated persons and households, as one DataFrame (one row per person).

The ledger columns (``id_number, name, sex, birth_date, phone, household_code, address,
village_code, residence_status``) come from the people domain's generator
(``zhikong.people.generate.generate_population``) when it is available; otherwise from the
minimal adapter below, which draws valid GB 11643 ID numbers and mobile numbers. The simulator adds
``age``, ``village_idx`` and ``household_idx``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from zhikong.sim.district import Village

LEDGER_COLUMNS = ["id_number", "name", "sex", "birth_date", "phone", "household_code", "address",
                  "village_code", "residence_status"]

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许邓冯韩曹曾彭萧"
                 "蔡潘田董袁于余叶蒋杜苏魏程吕丁沈任姚卢傅钟")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华文红建国玉兰琴"
              "春梅林云海波宇浩晨鑫佳欣怡婷雪琳")
_PREFIXES = ["134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182",
             "183", "187", "188", "130", "131", "132", "155", "156", "185", "186", "133", "153", "180",
             "181", "189", "177", "199"]
_OTHER_AREAS = ["420102", "420106", "510104", "500101", "500103", "500108", "522101", "430102"]
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_CHECK = np.array(list("10X98765432"))


def id_checksum(first17: np.ndarray) -> np.ndarray:
    """GB 11643 check characters for an ``(n, 17)`` array of digits."""
    return _CHECK[(first17 * _WEIGHTS).sum(axis=1) % 11]


def _ids(rng: np.random.Generator, areas: np.ndarray, births: np.ndarray, male: np.ndarray) -> np.ndarray:
    n = len(areas)
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)
    out = np.empty(n, dtype=object)
    for _ in range(20):
        first = np.char.add(np.char.add(areas.astype(str), births.astype(str)),
                            np.char.zfill(seq.astype(str), 3))
        digits = np.frombuffer(first.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
        full = np.char.add(first, id_checksum(digits.astype(np.int64)))
        _, first_idx = np.unique(full, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first_idx] = False
        out = full.astype(object)
        if not dup.any():
            return out
        seq[dup] = rng.integers(0, 500, int(dup.sum())) * 2 + np.where(male[dup], 1, 0)
    raise RuntimeError("could not draw unique ID numbers")


def random_phones(rng: np.random.Generator, n: int, taken: set[str] | None = None) -> np.ndarray:
    """``n`` distinct 11-digit mainland mobile numbers (not in ``taken``)."""
    taken = taken or set()
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        k = n - len(out)
        pre = np.array(_PREFIXES)[rng.integers(0, len(_PREFIXES), k)]
        body = np.char.zfill(rng.integers(0, 100_000_000, k).astype(str), 8)
        for p in np.char.add(pre, body).tolist():
            if p not in seen:
                seen.add(p)
                out.append(p)
    return np.array(out[:n], dtype=object)


def random_names(rng: np.random.Generator, n: int) -> np.ndarray:
    sur = np.array(_SURNAMES)[np.minimum(rng.geometric(0.08, n) - 1, len(_SURNAMES) - 1)]
    g1 = np.array(_GIVEN)[rng.integers(0, len(_GIVEN), n)]
    g2 = np.where(rng.random(n) < 0.7, np.array(_GIVEN)[rng.integers(0, len(_GIVEN), n)], "")
    return np.char.add(np.char.add(sur, g1), g2).astype(object)


def generate_population(villages: list[Village], n: int, seed: int, ref_day: date) -> pd.DataFrame:
    """``n`` persons in households spread over ``villages`` (urban ones three times as dense)."""
    rng = np.random.default_rng([seed, 1])
    sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.22, 0.3, 0.24, 0.14, 0.1])
    ends = np.cumsum(sizes)
    n_hh = int(np.searchsorted(ends, n) + 1)
    hh_of_person = np.repeat(np.arange(n_hh), sizes[:n_hh])[:n]
    w = np.array([3.0 if v.urban else 1.0 for v in villages])
    hh_village = rng.choice(len(villages), size=n_hh, p=w / w.sum())
    village_idx = hh_village[hh_of_person]
    # age pyramid of a Chongqing district in 2020 (roughly: 15% under 15, 18% over 65)
    age = np.clip(rng.choice(np.arange(0, 95), size=n, p=_age_weights()), 0, 94)
    male = rng.random(n) < 0.505
    birth = np.array([ref_day - timedelta(days=int(a * 365.25 + d)) for a, d in
                      zip(age, rng.integers(0, 365, n), strict=True)])
    births = np.array([b.strftime("%Y%m%d") for b in birth])
    floating = rng.random(n) < 0.08
    areas = np.where(floating, np.array(_OTHER_AREAS)[rng.integers(0, len(_OTHER_AREAS), n)], "500113")
    ids = _ids(rng, areas, births, male)
    phones = random_phones(rng, n)
    vcode = np.array([v.code for v in villages])
    vname = np.array([f"{v.town_name}{v.name}" for v in villages])
    hh_codes = np.array([f"{vcode[hh_village[h]]}{h:06d}" for h in range(n_hh)], dtype=object)
    addr_hh = np.char.add(np.char.add(vname[hh_village], (np.arange(n_hh) % 97 + 1).astype(str)), "号")
    return pd.DataFrame({
        "id_number": ids,
        "name": random_names(rng, n),
        "sex": np.where(male, "male", "female"),
        "birth_date": [b.isoformat() for b in birth],
        "phone": phones,
        "household_code": hh_codes[hh_of_person],
        "address": addr_hh[hh_of_person].astype(object),
        "village_code": vcode[village_idx].astype(object),
        "residence_status": np.where(floating, "floating", "resident"),
        "age": age.astype(np.int16),
        "village_idx": village_idx.astype(np.int32),
        "household_idx": hh_of_person.astype(np.int32),
    })


def _age_weights() -> np.ndarray:
    a = np.arange(0, 95)
    w = np.where(a < 15, 1.0, np.where(a < 65, 1.35, np.where(a < 80, 1.2, 0.5)))
    return w / w.sum()

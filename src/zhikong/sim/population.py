"""The simulated persons and households, as one DataFrame (one row per person).

The persons are the people domain's (``zhikong.people.generate.generate_population``); the
simulator adds ``age``, ``village_idx`` and ``household_idx``. The small helpers below draw extra
names and phone numbers for the noise of incoming lists (outsiders, changed numbers).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

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


def population_frame(villages: list[Village], n: int, seed: int,
                     ledger_csv: Path | None = None, as_of: date | None = None) -> pd.DataFrame:
    """The people domain's synthetic population (``people.generate``) as one DataFrame.

    The same villages (sorted by code), ``n`` and ``seed`` give the same persons as the people
    domain's demo ledger, so the world and the imported ledger describe the same people.
    ``ledger_csv``: also write the ledger file (the import format) there. ``age`` is in whole years
    on ``as_of`` (the world's first day), so roles (pupil, worker, retired) match the ages a tracer
    computes from the ledger's birth dates on the simulated days. Birth dates themselves come from
    the generator's own reference day, so the ledger is the same whatever the world's dates.
    """
    from zhikong.people.generate import VillageSpec, generate_population, write_ledger_csv

    specs = [VillageSpec(v.code, v.name, v.urban, v.town_name) for v in villages]
    chunks = list(generate_population(specs, n, seed))
    if ledger_csv is not None:
        write_ledger_csv(iter(chunks), ledger_csv)
    rows = [p for c in chunks for p in c.persons]
    df = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    df["phone"] = df["phone"].str.slice(3).where(df["phone"] != "", None)   # national form
    born = pd.to_datetime(df["birth_date"])
    ref = pd.Timestamp(as_of or date(2022, 3, 1))
    df["age"] = ((ref - born).dt.days // 365.25).clip(lower=0).astype(np.int16)
    code_idx = {v.code: i for i, v in enumerate(villages)}
    df["village_idx"] = df["village_code"].map(code_idx).astype(np.int32)
    df["household_idx"] = pd.factorize(df["household_code"])[0].astype(np.int32)
    return df

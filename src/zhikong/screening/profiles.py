"""Comparison profiles: the derived columns, comparisons and blocking rules of one kind of data.

* ``CHINESE``: residents of a Chinese district (ID number, name, phone, birth date, sex, village).
  Every comparison is written as plain SQL conditions on pre-computed columns, with only
  ``levenshtein`` and ``substr`` as functions, so DuckDB and Spark give the same comparison
  vectors (both measure edit distance in characters: DuckDB ≥ 2.0 on code points, Spark on
  UTF-16 units, which are the same for the CJK basic plane).
* ``LATIN``: people with Latin-script names and addresses (the FEBRL data sets), from Splink's
  comparison library.

Level order matters: Splink gives the first non-null level the highest comparison-vector value,
so ``labels`` lists the non-null levels top-down and ``gamma → label`` is ``labels[n-1-gamma]``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from zhikong.screening.identifiers import (
    id_birth_date,
    id_valid,
    normalise_date,
    normalise_id_number,
    normalise_phone,
    phone_mask_key,
)
from zhikong.screening.names import clean_name, fuzzy_pinyin, name_pinyin


@dataclass(frozen=True)
class Level:
    label: str
    sql: str
    m: float | None = None
    #: prior u for levels too rare to be seen in random sampling (kept unless sampling sees them)
    u: float | None = None


@dataclass(frozen=True)
class Comparison:
    """A comparison of one or more columns as an ordered list of SQL levels (null level first)."""

    name: str
    null_sql: str
    levels: tuple[Level, ...]

    @property
    def labels(self) -> list[str]:
        return [lv.label for lv in self.levels] + ["其他 / other"]

    @property
    def has_u_priors(self) -> bool:
        return all(lv.u is not None for lv in self.levels)

    def label_of(self, gamma: int) -> str:
        if gamma < 0:
            return "缺失 / missing"
        labels = self.labels
        return labels[len(labels) - 1 - gamma]

    def to_splink(self) -> dict[str, Any]:
        levels: list[dict[str, Any]] = [
            {"sql_condition": self.null_sql, "label_for_charts": "null", "is_null_level": True}
        ]
        for lv in self.levels:
            d: dict[str, Any] = {"sql_condition": lv.sql, "label_for_charts": lv.label}
            if lv.m is not None:
                d["m_probability"] = lv.m
            if lv.u is not None:
                d["u_probability"] = lv.u
            levels.append(d)
        rest = 1.0 - sum(lv.m for lv in self.levels if lv.m is not None)
        last: dict[str, Any] = {"sql_condition": "ELSE", "label_for_charts": "else",
                                "m_probability": max(rest, 0.001)}
        if self.has_u_priors:
            last["u_probability"] = max(1.0 - sum(lv.u or 0.0 for lv in self.levels), 0.001)
        levels.append(last)
        return {"output_column_name": self.name, "comparison_levels": levels}


def _null(*cols: str) -> str:
    return " OR ".join(f"{c}_l IS NULL OR {c}_r IS NULL" for c in cols)


def _str_or_none(values: pd.Series) -> list[str | None]:
    return [None if (v is None or (isinstance(v, float) and pd.isna(v))) else str(v)
            for v in values]


# ---- Chinese residents ---------------------------------------------------------------------------

CHINESE_COLUMNS = ("name", "id_number", "phone", "birth_date", "sex", "village_code", "address")


def clean_address(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    return text or None


def prepare_chinese(df: pd.DataFrame) -> pd.DataFrame:
    """Derived columns for the Chinese profile from raw columns (any of ``CHINESE_COLUMNS``;
    missing ones are treated as empty). ``unique_id`` must be present."""
    n = len(df)

    def col(name: str) -> list[str | None]:
        return _str_or_none(df[name]) if name in df.columns else [None] * n

    raw_names = col("name")
    uniq = {v: clean_name(v) for v in set(raw_names)}
    names = [uniq[v] for v in raw_names]
    py_of = {v: name_pinyin(v) for v in set(names)}
    py = [py_of[v] for v in names]
    ids = [normalise_id_number(v) for v in col("id_number")]
    raw_phones = col("phone")
    phones = [normalise_phone(v) for v in raw_phones]
    births = [normalise_date(v) for v in col("birth_date")]
    births = [b if b is not None else id_birth_date(i) for b, i in zip(births, ids, strict=True)]
    sexes = [{"男": "male", "女": "female", "m": "male", "f": "female"}.get(
        (s or "").strip().lower(), (s or "").strip().lower() or None) for s in col("sex")]
    villages = [v.strip() or None if v else None for v in col("village_code")]
    fz_of = {p: fuzzy_pinyin(p) for p in set(py)}
    fz = [fz_of[p] for p in py]
    out = pd.DataFrame({
        "unique_id": df["unique_id"].astype(str).to_numpy(),
        "name": names,
        "name_py": py,
        "name_fz": fz,
        "surname_fz": [f.split(" ")[0] if f else None for f in fz],
        "id_number": ids,
        "id_valid": [id_valid(i) for i in ids],
        "id_sorted": ["".join(sorted(i)) if i else None for i in ids],
        "id_region": [i[:6] if i and len(i) >= 14 else None for i in ids],
        "id_birth": [i[6:14] if i and len(i) >= 14 else None for i in ids],
        # three overlapping parts: any one mistyped character leaves one of them intact
        "id_k1": [i[:14] if i and len(i) >= 17 else None for i in ids],  # region + birth date
        "id_k2": [i[6:17] if i and len(i) >= 17 else None for i in ids],  # birth date + sequence
        "id_k3": [i[:6] + i[14:17] if i and len(i) >= 17 else None for i in ids],  # region + seq
        "phone": phones,
        "phone_last8": [p[-8:] if p and len(p) == 11 else None for p in phones],
        "phone_head7": [p[:7] if p and len(p) == 11 else None for p in phones],
        "phone_ends": [p[:3] + p[7:] if p and len(p) == 11 else None for p in phones],
        "phone_mask": [phone_mask_key(v) for v in raw_phones],
        "birth_date": births,
        "sex": sexes,
        "village_code": villages,
        "town_code": [v[:9] if v and len(v) >= 9 else None for v in villages],
        "address": [clean_address(a) for a in col("address")],
    })
    return out


CHINESE_COMPARISONS: tuple[Comparison, ...] = (
    Comparison("id_number", _null("id_number"), (
        Level("身份证号一致且有效 / ID exact, valid", "id_number_l = id_number_r AND id_valid_l", 0.80,
              1e-6),
        Level("身份证号一致 / ID exact", "id_number_l = id_number_r", 0.03, 1e-6),
        Level("身份证号差一位 / ID one edit",
              "levenshtein(id_number_l, id_number_r) <= 1 OR (id_sorted_l = id_sorted_r "
              "AND levenshtein(id_number_l, id_number_r) = 2)", 0.10, 1e-6),
        Level("同地区同生日 / same region and birth date",
              "id_region_l = id_region_r AND id_birth_l = id_birth_r", 0.03, 1e-4),
    )),
    Comparison("name", _null("name"), (
        Level("姓名一致 / name exact", "name_l = name_r", 0.85, 2e-4),
        Level("拼音一致 / same pinyin", "name_py_l = name_py_r", 0.06, 1e-4),
        Level("模糊拼音一致 / same fuzzy pinyin", "name_fz_l = name_fz_r", 0.03, 2e-4),
        Level("三字以上差一字 / one character of three or more",
              "levenshtein(name_l, name_r) <= 1 AND length(name_l) >= 3", 0.03, 2e-3),
        Level("姓名差一字 / one character", "levenshtein(name_l, name_r) <= 1", 0.02, 1e-2),
    )),
    Comparison("phone", "(phone_l IS NULL OR phone_r IS NULL) AND "
               "(phone_mask_l IS NULL OR phone_mask_r IS NULL)", (
        Level("手机号一致 / phone exact", "phone_l = phone_r", 0.75, 1e-6),
        Level("后8位一致 / last 8 digits", "phone_last8_l = phone_last8_r", 0.03, 1e-6),
        Level("手机号差一位 / phone one edit", "levenshtein(phone_l, phone_r) <= 1", 0.07, 1e-5),
        Level("前3后4位一致 / masked phone agrees", "phone_mask_l = phone_mask_r", 0.02, 1e-4),
    )),
    # the ID number already carries the birth date: when both ID numbers encode the same one,
    # the stated birth date adds nothing (counting it twice would overrate ID look-alikes)
    Comparison("birth_date", _null("birth_date") + " OR id_birth_l = id_birth_r", (
        Level("出生日期一致 / birth date exact", "birth_date_l = birth_date_r", 0.93, 4e-5),
        Level("出生日期差一位 / birth date one digit",
              "levenshtein(birth_date_l, birth_date_r) <= 1", 0.04, 1e-3),
    )),
    Comparison("sex", _null("sex"), (
        Level("性别一致 / sex exact", "sex_l = sex_r", 0.98, 0.5),
    )),
    Comparison("unit", "(village_code_l IS NULL OR village_code_r IS NULL) AND "
               "(address_l IS NULL OR address_r IS NULL)", (
        Level("同一地址 / same address", "address_l = address_r", 0.50, 1e-3),
        Level("同村居 / same village", "village_code_l = village_code_r", 0.35, 5e-3),
        Level("同镇街 / same town", "town_code_l = town_code_r", 0.10, 5e-2),
    )),
)

CHINESE_BLOCKING: tuple[str, ...] = (
    "l.id_number = r.id_number",
    "l.phone = r.phone",
    "l.id_k1 = r.id_k1",
    "l.id_k2 = r.id_k2",
    "l.id_k3 = r.id_k3 AND l.surname_fz = r.surname_fz",
    "l.name_fz = r.name_fz AND l.birth_date = r.birth_date",
    "l.name_fz = r.name_fz AND l.village_code = r.village_code",
    "l.phone_last8 = r.phone_last8",
    "l.phone_head7 = r.phone_head7",
    "l.phone_ends = r.phone_ends",
    "l.phone_mask = r.phone_mask AND l.surname_fz = r.surname_fz",
    "l.surname_fz = r.surname_fz AND l.birth_date = r.birth_date",
    "l.surname_fz = r.surname_fz AND l.address = r.address",
)


# ---- Latin names (FEBRL) -----------------------------------------------------------------------

LATIN_COLUMNS = ("given_name", "surname", "date_of_birth", "soc_sec_id", "street_number",
                 "address_1", "suburb", "postcode", "state")


def prepare_latin(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"unique_id": df["unique_id"].astype(str).to_numpy()})
    for c in LATIN_COLUMNS:
        vals = _str_or_none(df[c]) if c in df.columns else [None] * len(df)
        out[c] = [v.strip().lower() or None if v else None for v in vals]
    return out


def _latin_comparisons() -> tuple[Comparison, ...]:
    def lev(col: str, label: str, ks: tuple[int, ...], ms: tuple[float, ...]) -> Comparison:
        levels = [Level(f"{label} exact", f"{col}_l = {col}_r", ms[0])]
        levels += [Level(f"{label} edit<={k}", f"levenshtein({col}_l, {col}_r) <= {k}", m)
                   for k, m in zip(ks, ms[1:], strict=True)]
        return Comparison(col, _null(col), tuple(levels))

    return (
        lev("given_name", "given name", (1, 2), (0.80, 0.08, 0.04)),
        lev("surname", "surname", (1, 2), (0.80, 0.08, 0.04)),
        lev("date_of_birth", "birth date", (1, 2), (0.80, 0.10, 0.04)),
        lev("soc_sec_id", "social security id", (1, 2), (0.80, 0.10, 0.04)),
        lev("street_number", "street number", (1,), (0.85, 0.05)),
        lev("address_1", "address", (2, 5), (0.75, 0.10, 0.05)),
        lev("suburb", "suburb", (2,), (0.85, 0.08)),
        lev("postcode", "postcode", (1,), (0.85, 0.08)),
        Comparison("state", _null("state"), (Level("state exact", "state_l = state_r", 0.95),)),
    )


LATIN_BLOCKING: tuple[str, ...] = (
    "l.given_name = r.given_name AND l.surname = r.surname",
    "l.date_of_birth = r.date_of_birth",
    "l.soc_sec_id = r.soc_sec_id",
    "l.postcode = r.postcode AND l.street_number = r.street_number",
    "l.surname = r.surname AND l.suburb = r.suburb",
    "l.given_name = r.given_name AND l.postcode = r.postcode",
    "substr(l.surname, 1, 3) = substr(r.surname, 1, 3) AND l.address_1 = r.address_1",
)


@dataclass(frozen=True)
class Profile:
    name: str
    prepare: Callable[[pd.DataFrame], pd.DataFrame]
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[str, ...]
    #: rules for EM training sessions (each trains every comparison not in the rule)
    em_rules: tuple[str, ...] = field(default=())
    #: deterministic rules to estimate the prior match rate (dedupe) — high precision only
    deterministic_rules: tuple[str, ...] = field(default=())

    @property
    def has_u_priors(self) -> bool:
        return all(c.has_u_priors for c in self.comparisons)

    def comparison(self, name: str) -> Comparison:
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)


CHINESE = Profile(
    "chinese", prepare_chinese, CHINESE_COMPARISONS, CHINESE_BLOCKING,
    em_rules=("l.id_number = r.id_number", "l.name_fz = r.name_fz AND l.birth_date = r.birth_date"),
    deterministic_rules=("l.id_number = r.id_number AND l.id_valid",
                         "l.name = r.name AND l.phone = r.phone"),
)
LATIN = Profile(
    "latin", prepare_latin, _latin_comparisons(), LATIN_BLOCKING,
    em_rules=("l.date_of_birth = r.date_of_birth", "l.given_name = r.given_name AND l.surname = r.surname",
              "l.postcode = r.postcode AND l.street_number = r.street_number"),
    deterministic_rules=("l.soc_sec_id = r.soc_sec_id AND l.date_of_birth = r.date_of_birth",
                         "l.given_name = r.given_name AND l.surname = r.surname "
                         "AND l.date_of_birth = r.date_of_birth"),
)

PROFILES = {p.name: p for p in (CHINESE, LATIN)}

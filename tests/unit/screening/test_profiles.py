from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from zhikong.screening.linkage import Thresholds
from zhikong.screening.profiles import CHINESE, prepare_chinese


def _level(comparison: str, left: dict[str, object], right: dict[str, object]) -> str:
    """Evaluate one comparison of the Chinese profile on a pair with DuckDB, as Splink would."""
    df = prepare_chinese(pd.DataFrame([{"unique_id": "a", **left}, {"unique_id": "b", **right}]))
    cmp = CHINESE.comparison(comparison)
    cols = [c for c in df.columns if c != "unique_id"]
    sel = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in cols)
    cases = [f"WHEN {cmp.null_sql} THEN -1"]
    n = len(cmp.levels)
    cases += [f"WHEN {lv.sql} THEN {n - i}" for i, lv in enumerate(cmp.levels)]
    con = duckdb.connect()
    con.register("t", df)
    sql = (f"SELECT CASE {' '.join(cases)} ELSE 0 END FROM (SELECT {sel} FROM t l, t r "
           "WHERE l.unique_id = 'a' AND r.unique_id = 'b')")
    row = con.execute(sql).fetchone()
    assert row is not None
    return cmp.label_of(int(row[0]))


VALID = "11010519491231002X"


@pytest.mark.parametrize(("left", "right", "level"), [
    (VALID, VALID, "身份证号一致且有效 / ID exact, valid"),
    ("110105194912310021", "110105194912310021", "身份证号一致 / ID exact"),
    (VALID, "11010519491231003X", "身份证号差一位 / ID one edit"),
    (VALID, "11010519491231020X", "身份证号差一位 / ID one edit"),  # adjacent transposition
    (VALID, "11010519491231002", "身份证号差一位 / ID one edit"),  # truncated
    (VALID, "110105194912317654", "同地区同生日 / same region and birth date"),
    (VALID, "500113198001010012", "其他 / other"),
    (VALID, None, "缺失 / missing"),
])
def test_id_number_levels(left: str | None, right: str | None, level: str) -> None:
    assert _level("id_number", {"id_number": left}, {"id_number": right}) == level


@pytest.mark.parametrize(("left", "right", "level"), [
    ("张三", "张三", "姓名一致 / name exact"),
    ("单雄信", "善雄信", "拼音一致 / same pinyin"),
    ("陈宁", "程林", "模糊拼音一致 / same fuzzy pinyin"),
    ("王小明", "王晓红", "其他 / other"),
    ("王小明", "王大明", "三字以上差一字 / one character of three or more"),
    ("王明", "王亮", "姓名差一字 / one character"),
])
def test_name_levels(left: str, right: str, level: str) -> None:
    assert _level("name", {"name": left}, {"name": right}) == level


@pytest.mark.parametrize(("left", "right", "level"), [
    ("13800138000", "+86 13800138000", "手机号一致 / phone exact"),
    ("13800138000", "15900138000", "后8位一致 / last 8 digits"),
    ("13800138000", "13800138001", "手机号差一位 / phone one edit"),
    ("13800138000", "18912345678", "其他 / other"),
])
def test_phone_levels(left: str, right: str, level: str) -> None:
    assert _level("phone", {"phone": left}, {"phone": right}) == level


def test_unit_levels() -> None:
    a = {"village_code": "500113001201"}
    assert _level("unit", a, {"village_code": "500113001201"}) == "同村居 / same village"
    assert _level("unit", a, {"village_code": "500113001299"}) == "同镇街 / same town"
    assert _level("unit", a, {"village_code": "500113002201"}) == "其他 / other"


def test_birth_date_not_counted_twice_with_the_id_number() -> None:
    same = {"id_number": VALID, "birth_date": "1949-12-31"}
    assert _level("birth_date", same, same) == "缺失 / missing"
    assert _level("birth_date", {"birth_date": "1949-12-31"},
                  {"birth_date": "1949-12-21"}) == "出生日期差一位 / birth date one digit"


def test_thresholds() -> None:
    t = Thresholds(auto_link=0.9, review=0.4)
    assert [t.decide(p) for p in (0.95, 0.5, 0.1, None)] == [
        "auto_link", "review", "not_in_ledger", "not_in_ledger"]
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(auto_link=0.3, review=0.5)

from __future__ import annotations

import duckdb
import pytest

from zhikong.screening.identifiers import (
    id_birth_date,
    id_checksum_ok,
    id_valid,
    normalise_date,
    normalise_id_number,
    normalise_phone,
)
from zhikong.screening.names import clean_name, fuzzy_pinyin, fuzzy_syllable, name_pinyin, split_surname


@pytest.mark.parametrize(("name", "expected"), [
    ("单雄信", "shan xiong xin"),
    ("曾国藩", "zeng guo fan"),
    ("解缙", "xie jin"),
    ("仇英", "qiu ying"),
    ("区伟", "ou wei"),
    ("朴槿惠", "piao jin hui"),
    ("查良镛", "zha liang yong"),
    ("盖聂", "ge nie"),
    ("覃明", "qin ming"),
    ("尉迟恭", "yu chi gong"),
    ("欧阳修", "ou yang xiu"),
    ("张三", "zhang san"),
])
def test_surname_aware_pinyin(name: str, expected: str) -> None:
    assert name_pinyin(name) == expected


def test_polyphonic_surname_only_in_surname_position() -> None:
    # 单 in a given name keeps its ordinary reading
    assert name_pinyin("李单") == "li dan"
    assert split_surname("尉迟恭") == ("尉迟", "恭")
    assert split_surname("尉迟") == ("尉", "迟")


@pytest.mark.parametrize(("a", "b"), [
    ("zhang", "zang"), ("chen", "cen"), ("shi", "si"), ("nan", "lan"), ("hu", "fu"),
    ("wang", "wan"), ("feng", "fen"), ("ling", "lin"), ("ning", "lin"), ("huang", "fan"),
])
def test_fuzzy_pinyin_folds_confusions(a: str, b: str) -> None:
    assert fuzzy_syllable(a) == fuzzy_syllable(b)


def test_fuzzy_pinyin_keeps_distinct_syllables_apart() -> None:
    assert fuzzy_syllable("wang") != fuzzy_syllable("wen")
    assert fuzzy_syllable("li") != fuzzy_syllable("ma")
    assert fuzzy_pinyin(name_pinyin("陈宁")) == fuzzy_pinyin(name_pinyin("程林"))
    assert fuzzy_pinyin(None) is None


def test_clean_name() -> None:
    assert clean_name(" 张 三 ") == "张三"
    assert clean_name("阿依古丽·买买提") == "阿依古丽买买提"
    assert clean_name("  ") is None
    assert clean_name(None) is None


def test_duckdb_measures_cjk_edit_distance_in_characters() -> None:
    # DuckDB >= 2.0; earlier versions count UTF-8 bytes (3 per character)
    row = duckdb.execute("SELECT levenshtein('张三丰', '张四丰'), levenshtein('欧阳修', '欧修'),"
                     " damerau_levenshtein('张三', '三张')").fetchone()
    assert row == (1, 1, 1)


def test_id_number_parts() -> None:
    assert normalise_id_number(" 11010519491231002x ") == "11010519491231002X"
    assert normalise_id_number("") is None
    assert id_checksum_ok("11010519491231002X")
    assert not id_checksum_ok("110105194912310021")
    assert id_valid("11010519491231002X")
    assert not id_valid("11010519491331002X")  # month 13
    assert id_birth_date("11010519491231002X") == "1949-12-31"
    assert id_birth_date("1101051949") is None


def test_phone_and_date_normalisation() -> None:
    assert normalise_phone("+86 138-0013-8000") == "13800138000"
    assert normalise_phone("008613800138000") == "13800138000"
    assert normalise_phone("--") is None
    assert normalise_date("1990/1/2") == "1990-01-02"
    assert normalise_date("19900102") == "1990-01-02"
    assert normalise_date("1990年1月2日") == "1990-01-02"
    assert normalise_date("1990-02-30") is None

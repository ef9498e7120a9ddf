from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhikong.core.errors import InvalidInput
from zhikong.people import idcard

REGIONS = ["110105", "360426", "440113", "500113", "510122", "650102"]

valid_ids = st.builds(
    idcard.make_id_number,
    st.sampled_from(REGIONS),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(0, 499),
    st.sampled_from(["male", "female"]),
)


@pytest.mark.parametrize("raw", ["11010519491231002X", "360426199101010071", "44011320141005001X"])
def test_known_valid(raw: str) -> None:
    assert idcard.is_valid(raw)
    assert idcard.normalise(raw) == raw


@pytest.mark.parametrize("raw", ["110105194912310021", "36042619910102009X"])
def test_known_invalid_check_digit(raw: str) -> None:
    with pytest.raises(InvalidInput, match="校验码") as ei:
        idcard.parse(raw)
    assert ei.value.field == "id_number"


def test_parse_fields() -> None:
    p = idcard.parse("11010519491231002X")
    assert (p.region, p.birth_date, p.sex, p.province) == ("110105", date(1949, 12, 31), "female", "北京")
    assert idcard.parse("360426199101010071").sex == "male"


def test_folding() -> None:
    assert idcard.normalise(" 11010519491231002x\t") == "11010519491231002X"
    assert idcard.normalise("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"
    assert idcard.normalise("110105 19491231 002X") == "11010519491231002X"


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "为空"),
    ("1101051949123100", "长度 16"),
    ("11010519491232002X", "不存在"),
    ("110105204912310025", "未来"),
    (idcard.make_id_number("990105", date(1949, 12, 31), 1, "female"), "省级代码"),
    (idcard.make_id_number("500000", date(1949, 12, 31), 1, "female"), "县级"),
    ("1101051949123100A2", "17 位"),
    ("11010519491231002Y", "17 位"),
])
def test_invalid_reasons(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        idcard.parse(raw, today=date(2024, 1, 1))


def test_future_birth_date_relative_to_today() -> None:
    n = idcard.make_id_number("500113", date(2023, 5, 1), 3, "male")
    assert idcard.is_valid(n, today=date(2023, 5, 1))
    assert not idcard.is_valid(n, today=date(2023, 4, 30))


@given(valid_ids)
def test_generated_valid(n: str) -> None:
    p = idcard.parse(n, today=date(2024, 1, 1))
    assert p.number == n
    assert p.birth_date.strftime("%Y%m%d") == n[6:14]


@given(valid_ids, st.integers(0, 17), st.integers(1, 10))
def test_single_character_change_caught(n: str, pos: int, delta: int) -> None:
    chars = "0123456789X" if pos == 17 else "0123456789"
    old = chars.index(n[pos])
    new = chars[(old + delta) % len(chars)]
    if new == n[pos]:
        return
    mutated = n[:pos] + new + n[pos + 1:]
    assert not idcard.is_valid(mutated, today=date(2024, 1, 1))


@given(valid_ids)
def test_sex_from_sequence(n: str) -> None:
    assert idcard.parse(n, today=date(2024, 1, 1)).sex == ("male" if int(n[16]) % 2 else "female")


@given(st.sampled_from(REGIONS), st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
       st.integers(0, 499), st.sampled_from(["male", "female"]))
def test_15_to_18_round_trip(region: str, born: date, seq: int, sex: str) -> None:
    n18 = idcard.make_id_number(region, born, seq, sex)
    n15 = idcard.downgrade18(n18)
    assert len(n15) == 15
    assert idcard.upgrade15(n15) == n18
    assert idcard.normalise(n15) == n18


def test_make_id_number_rejects_bad_args() -> None:
    with pytest.raises(InvalidInput):
        idcard.make_id_number("5001", date(2000, 1, 1), 1, "male")
    with pytest.raises(InvalidInput):
        idcard.make_id_number("500113", date(2000, 1, 1), 500, "male")
    with pytest.raises(InvalidInput):
        idcard.make_id_number("500113", date(2000, 1, 1), 1, "x")

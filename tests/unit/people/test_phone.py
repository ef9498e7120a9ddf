from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhikong.core.errors import InvalidInput
from zhikong.people import phone

PREFIXES = ["130", "135", "138", "139", "150", "158", "166", "177", "186", "189", "199"]
mobiles = st.builds(lambda p, r: p + f"{r:08d}", st.sampled_from(PREFIXES), st.integers(0, 10**8 - 1))

FULLWIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@pytest.mark.parametrize("raw", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86-138-0013-8000", "+86 13800138000",
    "008613800138000", "8613800138000", "１３８００１３８０００", " 13800138000 ",
])
def test_accepted_spellings(raw: str) -> None:
    assert phone.normalise(raw) == "+8613800138000"


@pytest.mark.parametrize(("raw", "reason"), [
    ("023-66668888", "固定电话"),
    ("02366668888", "固定电话"),
    ("1380013800", "11 位"),
    ("12345678901", "号段"),
    ("+1 650 253 0000", "不是中国号码"),
    ("abc", "无法识别"),
    ("", "为空"),
])
def test_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as ei:
        phone.normalise(raw)
    assert ei.value.field == "phone"


def test_mask() -> None:
    assert phone.mask("+8613800138000") == "138****8000"
    assert phone.mask("13800138000") == "138****8000"


@given(mobiles, st.sampled_from(["{}", "+86{}", "0086{}", "+86-{}", "{0:.3} {1:.4} {2}"]),
       st.booleans())
def test_spellings_normalise(n: str, fmt: str, fullwidth: bool) -> None:
    raw = fmt.format(n[:3], n[3:7], n[7:]) if fmt.count("{") == 3 else fmt.format(n)
    if fullwidth:
        raw = raw.translate(FULLWIDTH)
    assert phone.normalise(raw) == "+86" + n


@given(mobiles, st.integers(0, 10))
def test_wrong_length_rejected(n: str, cut: int) -> None:
    with pytest.raises(InvalidInput):
        phone.normalise(n[:cut])
    with pytest.raises(InvalidInput):
        phone.normalise(n + "1")

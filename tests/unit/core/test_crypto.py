from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from zhikong.core.crypto import PiiCipher, mask_middle

CIPHER = PiiCipher(b"0123456789abcdef0123456789abcdef")


@given(st.text(min_size=0, max_size=40))
def test_round_trip(value: str) -> None:
    token = CIPHER.encrypt(value)
    assert CIPHER.decrypt(token) == value


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_plaintext_identifier_never_in_token(phone: str) -> None:
    assert phone not in CIPHER.encrypt(phone)


def test_encryption_is_randomised_but_hash_is_stable() -> None:
    a, b = CIPHER.encrypt("11010519491231002X"), CIPHER.encrypt("11010519491231002X")
    assert a != b
    assert CIPHER.keyed_hash("11010519491231002X") == CIPHER.keyed_hash("11010519491231002X")
    assert len(CIPHER.keyed_hash("x")) == 64


def test_other_key_cannot_decrypt_and_hashes_differ() -> None:
    other = PiiCipher(b"another-secret-key-0123456789")
    token = CIPHER.encrypt("13800138000")
    with pytest.raises(InvalidTag):
        other.decrypt(token)
    assert other.keyed_hash("13800138000") != CIPHER.keyed_hash("13800138000")


def test_mask() -> None:
    assert mask_middle("500113199001011234", 4, 4) == "5001**********1234"
    assert mask_middle("abc", 2, 2) == "***"

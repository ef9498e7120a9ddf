from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from zhikong.core.crypto import PiiCipher
from zhikong.people.service import Protector
from zhikong.people.validate import copy_text

CIPHER = PiiCipher(b"unit-test-secret-0123456789")


@given(st.text(max_size=40))
def test_protector_hash_is_the_keyed_hmac(s: str) -> None:
    p = Protector(CIPHER)
    assert p.hash(s) == CIPHER.keyed_hash(s) == hmac.new(CIPHER.hash_key(), s.encode(), "sha256").hexdigest()
    assert p.hashes(s, None) == (CIPHER.keyed_hash(s), None)
    assert p.hashes(s, "+8613800138000")[1] == CIPHER.keyed_hash("+8613800138000")


def test_copy_text_escapes() -> None:
    assert copy_text(None) == "\\N"
    assert copy_text(12) == "12"
    assert copy_text("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert copy_text("石岗村 1组") == "石岗村 1组"


@given(st.text())
def test_copy_text_has_no_raw_separators(s: str) -> None:
    out = copy_text(s)
    assert "\t" not in out and "\n" not in out and "\r" not in out
    # undoing the escapes gives the value back
    decoded, i = [], 0
    while i < len(out):
        if out[i] == "\\":
            decoded.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[out[i + 1]])
            i += 2
        else:
            decoded.append(out[i])
            i += 1
    assert "".join(decoded) == s

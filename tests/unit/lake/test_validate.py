"""Column checks of ingest."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from zhikong.lake import validate as v

LO = pa.scalar(datetime(2000, 1, 1, tzinfo=UTC), v.TS)
HI = pa.scalar(datetime(2030, 1, 1, tzinfo=UTC), v.TS)


def _reasons(chk: v.Checker) -> dict[int, str]:
    return {i: why for i, _f, why in chk.first_reasons()}


def test_timestamps() -> None:
    col = pa.chunked_array([["2020-03-01T08:00:00+08:00", "2020-03-01T00:00:00Z",
                             "2020-03-01 08:00:00.5+08:00",
                             "2020-03-01T08:00:00", "2020-03-01T08:00:00-05:00", "yesterday",
                             "1999-12-31T23:00:00+08:00", ""]])
    chk = v.Checker(len(col))
    out = v.timestamp(col, "ts", chk, LO, HI, ("+08:00", "+00:00"))
    assert out[0].as_py() == datetime(2020, 3, 1, 0, 0, tzinfo=UTC) == out[1].as_py()
    assert out[2].as_py() == datetime(2020, 3, 1, 0, 0, 0, 500000, tzinfo=UTC)
    r = _reasons(chk)
    assert set(r) == {3, 4, 5, 6, 7}
    assert "without UTC offset" in r[3]
    assert "wrong time zone" in r[4]
    assert "not an ISO-8601" in r[5]
    assert "out of range" in r[6]


def test_naive_parquet_timestamps_are_rejected() -> None:
    col = pa.chunked_array([pa.array([datetime(2020, 3, 1)], pa.timestamp("us"))])
    chk = v.Checker(1)
    v.timestamp(col, "ts", chk, LO, HI, ("+08:00",))
    assert _reasons(chk) == {0: "timestamp without time zone"}


def test_numbers() -> None:
    col = pa.chunked_array([["0.5", "abc", "", "1.5", " 0.9 "]])
    chk = v.Checker(5)
    out = v.number(col, "score", chk, pa.float32(), 0.0, 1.0)
    assert out[0].as_py() == 0.5 and out[4].as_py() == pytest.approx(0.9)
    r = _reasons(chk)
    assert r[1].startswith("not a number") and r[2] == "missing value" and r[3].startswith("out of range")


@pytest.mark.parametrize(("raw", "norm"), [("13800138000", "+8613800138000"),
                                           ("+86 138-0013-8000", "+8613800138000"),
                                           ("8613800138000", "+8613800138000")])
def test_phone_normalisation(raw: str, norm: str) -> None:
    assert v.normalise_phone(raw) == (norm, "")


def test_bad_phones_and_ids() -> None:
    assert v.normalise_phone("0231234567")[1].startswith("not a mainland mobile number")
    assert v.normalise_phone("")[1] == "missing phone number"
    assert v.normalise_phone("１３８００１３８０００") == ("+8613800138000", "")    # full-width digits
    assert v.normalise_id("11010519491231002x") == ("11010519491231002X", "")
    why = v.normalise_id("110105194912310021")[1]
    assert why.startswith("not a valid ID number") and "check digit" in why
    assert "110105194912310021" not in why                  # no identifier in a reject reason
    assert v.normalise_id("110105491231002") == ("11010519491231002X", "")   # old 15-digit form
    assert v.normalise_id("1101051949")[1].startswith("not a valid ID number")


KEY = b"k" * 32


def test_pseudonymise_hashes_the_normalised_value_with_the_ledger_key() -> None:
    from zhikong.core.crypto import PiiCipher

    cipher = PiiCipher(b"a test secret of enough bytes")
    col = pa.chunked_array([["13800138000", "13800138000", "bad", "+86 138-0013-8000", None,
                             "１３８００１３８０００"]])
    chk = v.Checker(6)
    out = v.pseudonymise(col, "phone", "phone", chk, cipher.hash_key())
    h = cipher.keyed_hash("+8613800138000")
    assert out.to_pylist() == [h, h, "", h, "", h]      # every spelling: the ledger's hash
    r = _reasons(chk)
    assert set(r) == {2, 4}
    assert r[2].startswith("not a mainland mobile number") and r[4] == "missing phone number"


def test_pseudonymise_id_numbers() -> None:
    good = ["11010519491231002X", "11010519491231002x", " 110105491231002 "]
    col = pa.chunked_array([[*good, "110105194912310021", "11010519491231002Y", "1101051949123100２X"]])
    chk = v.Checker(6)
    out = v.pseudonymise(col, "id_number", "id", chk, KEY)
    expect = hmac.new(KEY, b"11010519491231002X", hashlib.sha256).hexdigest()
    assert out.to_pylist()[:3] == [expect] * 3
    r = _reasons(chk)
    assert set(r) == {3, 4} and "check digit" in r[3]
    assert out[5].as_py() == expect                     # full-width digit: the ledger's normaliser


@pytest.mark.parametrize("key", [b"", b"short", b"k" * 64, b"k" * 65, bytes(range(256))])
def test_bulk_keyed_hash_is_hmac_sha256(key: bytes) -> None:
    vals = ["+8613800138000", "11010519491231002X", "", "汉字", "x" * 300]
    out = v.keyed_hashes(pa.array([*vals, None]), key)
    assert out.to_pylist() == [hmac.new(key, s.encode(), hashlib.sha256).hexdigest() for s in vals] + [None]
    assert v.keyed_hashes(pa.array([], pa.string()), key).to_pylist() == []


def test_pseudonyms_are_reused_between_batches_and_per_key() -> None:
    v._PIDS.clear()
    a = v.cached_keyed_hashes(pa.array(["+8613800138000", None]), KEY)
    assert a.to_pylist() == [hmac.new(KEY, b"+8613800138000", hashlib.sha256).hexdigest(), None]
    assert v._PIDS[KEY] == {"+8613800138000": a[0].as_py()}
    b = v.cached_keyed_hashes(pa.array(["+8613900139000", "+8613800138000"]), KEY)
    assert b.to_pylist() == [hmac.new(KEY, s.encode(), hashlib.sha256).hexdigest()
                             for s in ("+8613900139000", "+8613800138000")]
    other = v.cached_keyed_hashes(pa.array(["+8613800138000"]), b"another key")
    assert other[0].as_py() == hmac.new(b"another key", b"+8613800138000", hashlib.sha256).hexdigest()
    v.PID_CACHE_MAX, old = 2, v.PID_CACHE_MAX
    try:
        v.cached_keyed_hashes(pa.array(["+8613700137000"]), KEY)     # would exceed: cleared first
        assert list(v._PIDS[KEY]) == ["+8613700137000"]
    finally:
        v.PID_CACHE_MAX = old
        v._PIDS.clear()

"""Column checks of ingest."""

from __future__ import annotations

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
    assert v.normalise_phone("0231234567")[1] == "not a mainland mobile number"
    assert v.normalise_phone("")[1] == "missing phone number"
    assert v.normalise_id("11010519491231002x") == ("11010519491231002X", "")
    assert v.normalise_id("110105194912310021")[1] == "ID number checksum does not match"
    assert v.normalise_id("110105491231002")[1] == "not an 18-character ID number"


def test_pseudonymise_hashes_each_distinct_value_once() -> None:
    calls: list[str] = []

    def h(s: str) -> str:
        calls.append(s)
        return "h:" + s

    col = pa.chunked_array([["13800138000", "13800138000", "bad", "+8613800138000"]])
    chk = v.Checker(4)
    out = v.pseudonymise(col, "phone", "phone", chk, h)
    assert out.to_pylist() == ["h:+8613800138000", "h:+8613800138000", "", "h:+8613800138000"]
    assert sorted(calls) == ["+8613800138000", "+8613800138000"]   # two distinct raw spellings
    assert _reasons(chk) == {2: "not a mainland mobile number"}

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from zhikong.core.crypto import PiiCipher
from zhikong.core.errors import InvalidInput, RowErrors
from zhikong.people.ledger_io import detect_encoding, map_header, read_rows
from zhikong.people.service import Protector, mask_id
from zhikong.people.validate import Validator, parse_date


def test_detect_encoding(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("姓名\n王秀英\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("姓名\n王秀英\n", encoding="utf-8-sig")
    (tmp_path / "g.csv").write_text("姓名\n王秀英\n", encoding="gbk")
    assert detect_encoding(tmp_path / "u.csv") == "utf-8"
    assert detect_encoding(tmp_path / "b.csv") == "utf-8-sig"
    assert detect_encoding(tmp_path / "g.csv") == "gb18030"
    _enc, rows = read_rows(tmp_path / "g.csv")
    assert list(rows) == [["姓名"], ["王秀英"]]


def test_undecodable_and_unsupported_files(tmp_path: Path) -> None:
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"id_number\n\xff\xff\xff\xff\n")
    with pytest.raises(InvalidInput, match=r"bin\.csv"):
        detect_encoding(bad)
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InvalidInput, match=r"\.xls"):
        read_rows(xls)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="Excel"):
        next(read_rows(broken)[1])


def test_header_mapping() -> None:
    cols = map_header(["\ufeff身份证号", "姓名", "备注", "village_code"], "f.csv")
    assert cols == ["id_number", "name", None, "village_code"]
    with pytest.raises(RowErrors) as ei:
        map_header(["name", "phone"], "f.csv")
    assert [(e.row, e.field, e.file) for e in ei.value.errors] == [(1, "id_number", "f.csv"),
                                                                  (1, "village_code", "f.csv")]
    with pytest.raises(RowErrors, match="twice"):
        map_header(["id_number", "身份证号", "name", "village_code"], "f.csv")


def test_parse_date_formats() -> None:
    for s in ("1990-01-02", "1990/01/02", "19900102", "1990.01.02", "1990年1月2日"):
        assert parse_date(s) == date(1990, 1, 2)
    with pytest.raises(ValueError):
        parse_date("1990-02-30")


def test_validator_one_error_per_problem() -> None:
    v = Validator("f.csv", {"500113101001": 1}, date(2024, 1, 1))
    good, errs = v.check(2, ["11010519491231002x", "王秀英", "", "", "", "", "", "500113101001", ""])
    assert errs == [] and good is not None
    assert (good.number, good.sex, good.birth, good.status) == (
        "11010519491231002X", "female", date(1949, 12, 31), "resident")
    good, errs = v.check(3, ["110105194912310021", "", "x", "1990-13-01", "12", "", "", "9", "?"])
    assert good is None
    assert [e.field for e in errs] == ["id_number", "name", "sex", "birth_date", "phone",
                                       "village_code", "residence_status"]
    assert all(e.row == 3 and e.file == "f.csv" for e in errs)


def test_protector_hash_matches_cipher_keyed_hash() -> None:
    c = PiiCipher(b"0123456789abcdef-secret")
    p = Protector(c)
    assert p.hash("11010519491231002X") == c.keyed_hash("11010519491231002X")
    enc, masked = p.id_fields("11010519491231002X")
    assert c.decrypt(enc) == "11010519491231002X" and masked == mask_id("11010519491231002X")
    assert masked == "1101**********002X"
    assert p.phone_fields(None) == (None, None)


def test_seen_keys_across_merges() -> None:
    from zhikong.people.importer import SeenKeys

    seen = SeenKeys(merge_at=5)
    assert seen.add_all([3, 1, 3]) == [False, False, True]
    assert seen.add_all([7, 9, 11, 1]) == [False, False, False, True]  # merged into the array here
    assert len(seen.recent) == 0 and len(seen) == 5
    assert seen.add_all([11, 12, 3, 12, 10**16 * 9]) == [True, False, True, True, False]
    assert seen.add_all([]) == []
    assert len(seen) == 7

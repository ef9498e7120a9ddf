"""Class rosters: the import (bad rows named, a school's rows replaced) and the class detector."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.tracing.scenario import at
from tests.unit.tracing.test_structure import build
from zhikong.core.crypto import PiiCipher
from zhikong.core.errors import InvalidInput
from zhikong.engine import duckdb_engine
from zhikong.tracing.policy import load_policy
from zhikong.tracing.roster import ROSTER_SCHEMA, import_roster, roster_path
from zhikong.tracing.trace import IndexCase, TraceResult, trace

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def ident(first17: str) -> str:
    """An 18-digit ID number with its GB 11643 check digit."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _W, strict=True)) % 11]


def roster_lake(lake: Path, rows: list[tuple[str, str, str]]) -> None:
    """A roster in the lake keyed by the test's own pids (school, class, pid)."""
    roster_path(lake).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "school": [r[0] for r in rows],
                "class_name": [r[1] for r in rows],
                "pid": [r[2] for r in rows],
                "guardian_pid": [None] * len(rows),
            },
            schema=ROSTER_SCHEMA,
        ),
        roster_path(lake),
    )


def run(lake: Path, key: str, onset: tuple[int, int] = (11, 0)) -> TraceResult:
    led = build(lake)
    case = IndexCase(key, key, at(*onset), at(onset[0], 12))
    with duckdb_engine() as eng:
        return trace(eng, lake, led, [case], load_policy())


def test_rostered_pupil_has_its_class_not_its_school(tmp_path: Path) -> None:
    # S and O (no phone, another town: the stand-in cannot place O) share class 1; M and N are in class 2
    roster_lake(
        tmp_path, [("SCH", "1班", "S"), ("SCH", "1班", "O"), ("SCH", "2班", "M"), ("SCH", "2班", "N")]
    )
    res = run(tmp_path, "S")
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("O") == "close"
    assert "N" not in cls and cls.get("M") != "close"
    ev = res.evidence[(res.evidence["contact"] == "O")]
    assert set(zip(ev["source"], ev["place"], ev["distance"], strict=True)) == {
        ("ledger", "class:SCH/1班", "school")
    }
    # window Wed 9 00:00 .. Fri 11 12:00 with cell data on Wed and Thu: two school days of 8 h
    assert float(ev["minutes"].sum()) == pytest.approx(2 * 480.0)


def test_schoolmates_no_roster_lists_stay_contacts_of_a_rostered_pupil(tmp_path: Path) -> None:
    # M (at the school's tower in school hours) is on no roster: the roster may have missed M's class
    roster_lake(tmp_path, [("SCH", "1班", "S"), ("SCH", "1班", "O"), ("SCH", "2班", "N")])
    res = run(tmp_path, "S")
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("O") == "close" and cls.get("M") == "close"
    assert "N" not in cls  # rostered in another class
    ev = res.evidence[res.evidence["contact"] == "M"]
    assert ("ledger", "school:SCH") in set(zip(ev["source"], ev["place"], strict=True))


def test_pupil_no_roster_lists_falls_back_to_the_stand_in(tmp_path: Path) -> None:
    roster_lake(tmp_path, [("SCH", "2班", "M"), ("SCH", "2班", "N")])
    res = run(tmp_path, "S")
    cls = {c.contact: c.cls for c in res.contacts}
    assert cls.get("M") == "close" and cls.get("N") == "close"  # the school stand-in
    assert "O" not in cls


def test_no_class_contacts_without_a_school_day_in_the_window(tmp_path: Path) -> None:
    # onset Monday 14: window Sat 12 .. Mon 14 12:00, and the lake has no data after Thursday 10
    roster_lake(tmp_path, [("SCH", "1班", "S"), ("SCH", "1班", "O")])
    res = run(tmp_path, "S", onset=(14, 0))
    assert "O" not in {c.contact for c in res.contacts}


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_import_names_bad_rows_and_stores_the_good_ones(tmp_path: Path) -> None:
    a, b = ident("50011320120304123"), ident("50011320110506234")
    bad = a[:17] + ("0" if a[17] != "0" else "1")
    path = write_csv(
        tmp_path / "roster.csv",
        [
            {
                "school_code": "SCH",
                "class": "1班",
                "id_number": a,
                "name": "甲",
                "guardian_phone": "13800138000",
            },
            {"school_code": "SCH", "class": "1班", "id_number": "", "name": "乙", "guardian_phone": ""},
            {"school_code": "SCH", "class": "1班", "id_number": bad, "name": "丙", "guardian_phone": ""},
            {"school_code": "SCH", "class": "", "id_number": b, "name": "丁", "guardian_phone": ""},
            {
                "school_code": "SCH",
                "class": "2班",
                "id_number": a.lower(),
                "name": "甲",
                "guardian_phone": "",
            },
            {"school_code": "SCH", "class": "2班", "id_number": " " + b, "name": "丁", "guardian_phone": ""},
        ],
    )
    cipher = PiiCipher(b"test-secret-key-0123456789abcdef")
    r = import_roster(path, tmp_path / "lake", cipher)
    assert (r.rows, r.stored, r.schools) == (6, 2, 1)
    assert [(e.row, e.field) for e in r.errors] == [
        (2, "id_number"),
        (3, "id_number"),
        (4, "class"),
        (5, "id_number"),
    ]
    assert "blank" in r.errors[0].reason and "check digit" in r.errors[1].reason
    assert "row 1" in r.errors[3].reason  # the duplicate names the first row
    assert bad not in str(r.errors[1])  # the rejected ID number is masked
    t = pq.read_table(roster_path(tmp_path / "lake")).to_pylist()
    assert [(x["class_name"], x["pid"]) for x in t] == [
        ("1班", cipher.keyed_hash(a)),
        ("2班", cipher.keyed_hash(b)),
    ]
    assert t[0]["guardian_pid"] == cipher.keyed_hash("+8613800138000")


def test_import_replaces_a_schools_rows_and_rejects_unusable_files(tmp_path: Path) -> None:
    cipher = PiiCipher(b"test-secret-key-0123456789abcdef")
    lake = tmp_path / "lake"
    a, b, c = (ident(f"5001132012030412{i}") for i in (1, 2, 3))
    import_roster(
        write_csv(
            tmp_path / "x.csv",
            [
                {"school_code": "X", "class": "1班", "id_number": a},
                {"school_code": "Y", "class": "1班", "id_number": b},
            ],
        ),
        lake,
        cipher,
    )
    import_roster(
        write_csv(tmp_path / "x2.csv", [{"学校代码": "X", "班级": "3班", "身份证号": c}]), lake, cipher
    )
    t = pq.read_table(roster_path(lake)).to_pylist()
    assert sorted((x["school"], x["class_name"], x["pid"]) for x in t) == sorted(
        [("Y", "1班", cipher.keyed_hash(b)), ("X", "3班", cipher.keyed_hash(c))]
    )
    with pytest.raises(InvalidInput, match="missing column"):
        import_roster(write_csv(tmp_path / "m.csv", [{"school_code": "X", "id_number": a}]), lake, cipher)
    with pytest.raises(InvalidInput, match="no usable row"):
        import_roster(
            write_csv(tmp_path / "e.csv", [{"school_code": "X", "class": "1", "id_number": "123"}]),
            lake,
            cipher,
        )
    assert len(pq.read_table(roster_path(lake))) == 2  # nothing of a rejected file was stored

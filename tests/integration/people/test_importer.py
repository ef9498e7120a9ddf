from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.integration.people.conftest import VILLAGES, write_ledger
from zhikong.core.errors import InvalidInput, RowErrors
from zhikong.people import idcard, service
from zhikong.people.generate import LEDGER_COLUMNS
from zhikong.people.importer import import_ledger
from zhikong.people.models import Household, ImportBatch, Person

V1, V2 = VILLAGES[0].code, VILLAGES[1].code
HEADER = ",".join(LEDGER_COLUMNS)

def _id(seq: int, sex: str) -> str:
    return idcard.make_id_number("500113", date(1990, 1, 1), seq, sex)


ID1, ID2, ID3, ID4, ID5 = (_id(1, "male"), _id(2, "male"), _id(3, "male"), _id(4, "female"),
                           _id(5, "male"))
GOOD1 = f"11010519491231002X,王秀英,女,1949-12-31,138 0013 8000,H001,界石镇石岗村1组1号,{V1},常住"
GOOD2 = f"360426199101010071,李建国,男,1991-01-01,+86-139-0000-0001,H001,界石镇石岗村1组1号,{V1},resident"
GOOD3 = f"44011320141005001X,张小宇,male,2014-10-05,,H002,桂花社区3栋,{V2},流动"


def _write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def _snapshot(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    cols = [c for c in Person.__table__.c]
    return [tuple(r) for r in session.execute(select(*cols).order_by(Person.id)).all()]


@pytest.mark.parametrize("workers", [0, 1])
def test_import_and_reimport_changes_nothing(engine: Engine, session: Session, villages: object,
                                             tmp_path: Path, workers: int) -> None:
    f = write_ledger(tmp_path / "ledger.csv", 400, seed=3)
    r1 = import_ledger(f, engine=engine, chunk_size=150, workers=workers)
    assert r1.workers == workers
    assert (r1.rows_total, r1.inserted, r1.updated, r1.unchanged, r1.rejected) == (400, 400, 0, 0, 0)
    assert r1.reject_file is None
    before = _snapshot(session)
    households = session.scalar(select(Household.id).order_by(Household.id.desc()).limit(1))
    r2 = import_ledger(f, engine=engine, chunk_size=150, workers=workers)
    assert (r2.inserted, r2.updated, r2.unchanged, r2.rejected) == (0, 0, 400, 0)
    assert _snapshot(session) == before
    assert session.scalar(select(Household.id).order_by(Household.id.desc()).limit(1)) == households
    batches = session.scalars(select(ImportBatch).order_by(ImportBatch.id)).all()
    assert [(b.rows_inserted, b.rows_unchanged) for b in batches] == [(400, 0), (0, 400)]
    assert batches[0].sha256 == batches[1].sha256


def test_households_linked_and_values_stored(engine: Engine, session: Session, villages: object,
                                             tmp_path: Path) -> None:
    f = _write(tmp_path / "small.csv", HEADER, GOOD1, GOOD2, GOOD3)
    res = import_ledger(f, engine=engine)
    assert res.inserted == 3 and res.households_created == 2
    p1 = service.get_by_id_number(session, "11010519491231002x")
    p2 = service.get_by_id_number(session, "360426199101010071")
    assert p1.household_id == p2.household_id and p1.household is not None
    assert p1.household.code == "H001"
    assert (p1.name, str(p1.sex), p1.birth_date, str(p1.residence_status)) == (
        "王秀英", "female", date(1949, 12, 31), "resident")
    assert p1.id_number_masked == "1101**********002X"
    assert p1.phone_masked == "138****8000"
    shown = service.reveal(session, p1)
    assert (shown.id_number, shown.phone) == ("11010519491231002X", "+8613800138000")
    p3 = service.get_by_id_number(session, "44011320141005001X")
    assert p3.phone_hash is None and str(p3.residence_status) == "floating"
    assert [p.name for p in service.find_by_phone(session, "13800138000")] == ["王秀英"]


@pytest.mark.parametrize("workers", [0, 1])
def test_bad_rows_reported_and_skipped(engine: Engine, session: Session, villages: object,
                                       tmp_path: Path, workers: int) -> None:
    f = _write(
        tmp_path / "bad.csv", HEADER,
        GOOD1,                                                                    # row 2 good
        f"110105194912310021,甲,女,1949-12-31,13800138001,H9,x,{V1},常住",            # 3 check digit
        f"360426199101010071,乙,男,1991-01-01,023-66668888,H9,x,{V1},常住",           # 4 landline
        f"44011320141005001X,丙,女,2014-13-05,13800138002,H9,x,{V1},常住",            # 5 bad date
        f"{ID1},丁,男,1990-01-01,13800138003,H9,x,500113999999,常住",    # 6 village
        f"11010519491231002X,戊,女,1949-12-31,13800138004,H9,x,{V1},常住",            # 7 duplicate
        f"{ID2},己,男,1990-01-01,13800138005,H9,x,{V1},永久",            # 8 status
        f"{ID3},庚,M?,1990-01-01,13800138006,H9,x,{V1},常住",            # 9 sex
        f"{ID4},,男,1990-01-01,13800138007,H9,x,{V1},常住",              # 10 name, sex
        f"{ID5},辛,男,1990-01-01,13800138008,H9,x,{V1},常住",            # 11 good
    )
    res = import_ledger(f, engine=engine, chunk_size=4, workers=workers)
    assert (res.rows_total, res.inserted, res.rejected) == (10, 2, 8)
    got = {(e.row, e.field) for e in res.errors}
    assert {(3, "id_number"), (4, "phone"), (5, "birth_date"), (6, "village_code"), (7, "id_number"),
            (8, "residence_status"), (9, "sex"), (10, "name"), (10, "sex")} <= got
    assert all(e.file == "bad.csv" for e in res.errors)
    by_row = {e.row: e for e in res.errors}
    assert "校验码" in by_row[3].reason and "固定电话" in by_row[4].reason
    assert "重复" in by_row[7].reason and "500113999999" in by_row[6].reason
    assert "bad.csv: row 4, field phone" in str(by_row[4])
    assert res.reject_file is not None and res.reject_file.name == "bad.rejects.csv"
    rejected = list(csv.reader(res.reject_file.open(encoding="utf-8-sig")))
    assert rejected[0][-2:] == ["_row", "_errors"] and len(rejected) == 9
    assert [r[-2] for r in rejected[1:]] == ["3", "4", "5", "6", "7", "8", "9", "10"]
    assert rejected[5][:2] == ["11010519491231002X", "戊"]  # the duplicate, as it was in the file
    assert service.find_by_id_number(session, ID5) is not None
    assert service.find_by_id_number(session, "360426199101010071") is None


def test_bad_file_changes_nothing_stored(engine: Engine, session: Session, villages: object,
                                         tmp_path: Path) -> None:
    import_ledger(_write(tmp_path / "a.csv", HEADER, GOOD1, GOOD2, GOOD3), engine=engine)
    before = _snapshot(session)
    bad = _write(tmp_path / "b.csv", HEADER,
                 GOOD1.replace("138 0013 8000", "1380013"),          # bad phone for a stored person
                 GOOD2.replace("1991-01-01", "1991-01-02"),          # birth date contradicts the ID
                 GOOD3.replace(V2, "500113000000"))                  # unknown village
    res = import_ledger(bad, engine=engine)
    assert (res.inserted, res.updated, res.unchanged, res.rejected) == (0, 0, 0, 3)
    assert _snapshot(session) == before
    with pytest.raises(RowErrors) as ei:
        import_ledger(_write(tmp_path / "c.csv", "id_number,name,phone", "11010519491231002X,x,1"),
                      engine=engine)
    assert [(e.row, e.field) for e in ei.value.errors] == [(1, "village_code")]
    assert "c.csv" in str(ei.value)
    assert _snapshot(session) == before
    assert len(session.scalars(select(ImportBatch)).all()) == 2


def test_changed_rows_update(engine: Engine, session: Session, villages: object, tmp_path: Path) -> None:
    import_ledger(_write(tmp_path / "a.csv", HEADER, GOOD1, GOOD2, GOOD3), engine=engine)
    res = import_ledger(_write(tmp_path / "b.csv", HEADER,
                               GOOD1.replace("138 0013 8000", "13912345678"),
                               GOOD2.replace("常住", "外出").replace("resident", "外出"), GOOD3),
                        engine=engine)
    assert (res.inserted, res.updated, res.unchanged) == (0, 2, 1)
    session.expire_all()
    p1 = service.get_by_id_number(session, "11010519491231002X")
    assert service.reveal(session, p1).phone == "+8613912345678" and p1.phone_masked == "139****5678"
    assert service.find_by_phone(session, "13800138000") == []
    assert str(service.get_by_id_number(session, "360426199101010071").residence_status) == "away"


def test_gbk_and_bom_files(engine: Engine, session: Session, villages: object, tmp_path: Path) -> None:
    gbk = _write(tmp_path / "gbk.csv", "身份证号,姓名,性别,出生日期,手机号,户号,住址,村居代码,居住状态",
                 GOOD1, GOOD3, encoding="gbk")
    res = import_ledger(gbk, engine=engine)
    assert (res.encoding, res.inserted, res.rejected) == ("gb18030", 2, 0)
    assert service.get_by_id_number(session, "11010519491231002X").name == "王秀英"
    bom = _write(tmp_path / "bom.csv", HEADER, GOOD2, encoding="utf-8-sig")
    res = import_ledger(bom, engine=engine)
    assert (res.encoding, res.inserted) == ("utf-8-sig", 1)
    assert service.get_by_id_number(session, "360426199101010071").address == "界石镇石岗村1组1号"


def test_excel_file(engine: Engine, session: Session, villages: object, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(LEDGER_COLUMNS))
    ws.append(["11010519491231002X", "王秀英", "女", datetime(1949, 12, 31), 13800138000, "H001",
               "石岗村1组", V1, "常住"])
    ws.append(["360426199101010071", "李建国", "男", "1991/01/01", None, "H001", "石岗村1组", V1, None])
    ws.append(["36042619910102009X", "坏号码", "男", "1991-01-02", None, "H002", "x", V1, "常住"])
    f = tmp_path / "ledger.xlsx"
    wb.save(f)
    res = import_ledger(f, engine=engine)
    assert (res.encoding, res.inserted, res.rejected) == ("xlsx", 2, 1)
    assert [(e.row, e.field) for e in res.errors] == [(4, "id_number")]
    p = service.get_by_id_number(session, "11010519491231002X")
    assert service.reveal(session, p).phone == "+8613800138000"
    assert import_ledger(f, engine=engine).unchanged == 2


def test_no_plaintext_identifiers_in_sqlite_file(engine: Engine, session: Session, villages: object,
                                                 tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("reads the SQLite database file")
    f = write_ledger(tmp_path / "ledger.csv", 300, seed=11)
    import_ledger(f, engine=engine)
    rows = list(csv.DictReader(f.open(encoding="utf-8")))
    engine.dispose()  # checkpoint and close; then read every file of the database
    db = Path(str(engine.url.database))
    blob = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert len(blob) > 10_000
    assert rows[0]["name"].encode() in blob  # names are stored in plain text: the check can see text
    leaked = [r["id_number"] for r in rows if r["id_number"].encode() in blob]
    leaked += [r["phone"] for r in rows if r["phone"] and r["phone"].encode() in blob]
    leaked += [r["id_number"] for r in rows if r["id_number"][6:].encode() in blob]
    assert leaked == []


def test_bulk_rows_read_back_like_orm_rows(engine: Engine, session: Session, villages: object,
                                           tmp_path: Path) -> None:
    import_ledger(_write(tmp_path / "a.csv", HEADER, GOOD1), engine=engine)
    p = service.get_by_id_number(session, GOOD1.split(",")[0])
    assert p.created_at.tzinfo is not None and p.birth_date == date(1949, 12, 31)
    if engine.dialect.name == "sqlite":  # stored in the same text form SQLAlchemy writes
        with engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT birth_date, created_at FROM person").one()
            batch = conn.exec_driver_sql("SELECT created_at FROM import_batch").scalar_one()
        assert raw[0] == "1949-12-31"
        assert len(raw[1]) == len(batch) and "+" not in raw[1] and "T" not in raw[1]


def test_undecodable_bytes_mid_file_refuse_the_whole_file(engine: Engine, session: Session,
                                                          villages: object, tmp_path: Path) -> None:
    import_ledger(_write(tmp_path / "a.csv", HEADER, GOOD1), engine=engine)
    before = _snapshot(session)
    f = tmp_path / "mixed.csv"
    good2_changed = GOOD2.replace("李建国", "李建军")
    f.write_bytes(("\ufeff" + HEADER + "\n" + good2_changed + "\n" + "bad,row\n").encode()
                  + GOOD3.encode("gbk") + b"\n")
    with pytest.raises(InvalidInput, match=r"mixed\.csv"):
        import_ledger(f, engine=engine, chunk_size=1)
    assert _snapshot(session) == before
    assert not (tmp_path / "mixed.rejects.csv").exists()
    assert len(session.scalars(select(ImportBatch)).all()) == 1

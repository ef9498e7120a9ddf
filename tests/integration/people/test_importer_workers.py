"""The importer's worker processes: the same stored rows and rejects as in-process, and a worker that
fails or dies mid-file leaves the database as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tests.integration.people.conftest import VILLAGES, write_ledger
from zhikong.core.crypto import get_cipher
from zhikong.core.errors import EngineError
from zhikong.people import importer, validate
from zhikong.people.importer import import_ledger
from zhikong.people.models import Household, ImportBatch, Person
from zhikong.people.validate import Prepared, RawRow

V1, V2 = VILLAGES[0].code, VILLAGES[1].code


def _ledger(path: Path) -> Path:
    """300 generated people, then bad rows, duplicates and values that need escaping in COPY text."""
    write_ledger(path, 300, seed=11)
    lines = path.read_text(encoding="utf-8").splitlines()
    extra = [
        f"11010519491231002X,王秀英,女,1949-12-31,138 0013 8000,H-T1,\"石岗村\t1组\\2号\",{V1},常住",
        f"110105194912310021,坏号,女,1949-12-31,,H-T1,x,{V1},常住",          # bad check digit
        f"360426199101010071,李建国,男,1991-01-01,12345,H-T2,\"多行\n地址\",{V2},resident",  # bad phone
        f"360426199101010071,李建国,男,1991-01-01,,H-T2,\"多行\r\n地址\",{V2},resident",
        f"11010519491231002X,重复,女,1949-12-31,,H-DUP,x,{V1},常住",           # duplicate of above
        lines[5],                                                                  # duplicate
        f"44011320141005001X,张小宇,male,2014-10-05,,,,{V2},流动",               # no household
        "44011320141005001X,张小宇,male,2014-10-05,,,,999999,流动",             # unknown village
    ]
    # the extra rows in the middle, so that several chunks hold good and bad rows
    out = [*lines[:150], *extra, *lines[150:]]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    """Every person as stored, identifiers decrypted (ciphertexts differ: random nonces), household
    by code, without ids and timestamps."""
    c = get_cipher()
    with engine.connect() as conn:
        rows = conn.execute(select(
            Person.name, Person.sex, Person.birth_date, Person.id_number_enc, Person.id_number_hash,
            Person.id_number_masked, Person.phone_enc, Person.phone_hash, Person.phone_masked,
            Household.code, Household.address, Person.address, Person.village_id,
            Person.residence_status).outerjoin(Household, Person.household_id == Household.id)).all()
    out = [(*r[:3], c.decrypt(r[3]), *r[4:6], c.decrypt(r[6]) if r[6] else None, *r[7:]) for r in rows]
    return sorted(out, key=lambda r: r[4])


def _fresh(engine: Engine) -> None:
    with engine.begin() as conn:
        for t in ("person", "household", "import_batch"):
            conn.execute(text(f"DELETE FROM {t}"))


def test_workers_store_the_same_rows_and_rejects(engine: Engine, session: Session, villages: object,
                                                  tmp_path: Path) -> None:
    f = _ledger(tmp_path / "ledger.csv")
    results = []
    for workers in (0, 2, 1):
        _fresh(engine)
        res = import_ledger(f, engine=engine, chunk_size=40, workers=workers)
        assert res.reject_file is not None
        results.append((res.inserted, res.rejected, res.households_created,
                        [(e.row, e.field, e.reason, e.value) for e in res.errors],
                        res.reject_file.read_bytes(), _stored(engine)))
        again = import_ledger(f, engine=engine, chunk_size=40, workers=workers)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, res.inserted)
        assert _stored(engine) == results[-1][-1]
    assert results[0] == results[1] == results[2]
    inserted, rejected, _, errors, _, stored = results[0]
    assert (inserted, rejected) == (303, 5)
    assert {(r[3], r[11]) for r in stored if r[3] in ("11010519491231002X", "360426199101010071")} == {
        ("11010519491231002X", "石岗村\t1组\\2号"), ("360426199101010071", "多行\r\n地址")}
    assert [e[1] for e in errors if e[1] == "id_number"] == ["id_number"] * 3
    with engine.connect() as conn:  # a rejected duplicate creates no household
        assert conn.execute(select(Household.id).where(Household.code == "H-DUP")).first() is None


def _crash_on_row_200(chunk: list[RawRow]) -> Prepared:
    if any(n == 200 for n, _ in chunk):
        os._exit(3)  # a worker killed mid-file (out of memory, a signal)
    return validate.prepare_chunk(chunk)


def _raise_on_row_200(chunk: list[RawRow]) -> Prepared:
    if any(n == 200 for n, _ in chunk):
        raise RuntimeError("boom")
    return validate.prepare_chunk(chunk)


@pytest.mark.parametrize(("fn", "error"), [(_crash_on_row_200, EngineError),
                                           (_raise_on_row_200, RuntimeError)])
def test_a_failing_worker_mid_file_changes_nothing(engine: Engine, session: Session, villages: object,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   fn: Any, error: type[Exception]) -> None:
    f = _ledger(tmp_path / "ledger.csv")
    import_ledger(write_ledger(tmp_path / "first.csv", 50, seed=5), engine=engine)
    before = _stored(engine)
    monkeypatch.setattr(importer, "prepare_chunk", fn)
    with pytest.raises(error):
        import_ledger(f, engine=engine, chunk_size=40, workers=2)
    assert _stored(engine) == before
    assert len(session.scalars(select(ImportBatch)).all()) == 1
    assert not (tmp_path / "ledger.rejects.csv").exists()


def test_a_failing_write_mid_file_changes_nothing(engine: Engine, session: Session, villages: object,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import_ledger(write_ledger(tmp_path / "first.csv", 50, seed=5), engine=engine)
    before = _stored(engine)
    real = importer._Writer.write
    calls: list[int] = []

    def write(self: importer._Writer, prep: Prepared, keep: list[int] | None = None) -> tuple[int, int, int]:
        calls.append(1)
        if len(calls) == 4:  # the writer thread fails on the fourth chunk
            raise RuntimeError("disk full")
        return real(self, prep, keep)

    monkeypatch.setattr(importer._Writer, "write", write)
    with pytest.raises(RuntimeError, match="disk full"):
        import_ledger(_ledger(tmp_path / "ledger.csv"), engine=engine, chunk_size=40, workers=2)
    assert len(calls) >= 4
    assert _stored(engine) == before
    assert len(session.scalars(select(ImportBatch)).all()) == 1
    assert not (tmp_path / "ledger.rejects.csv").exists()

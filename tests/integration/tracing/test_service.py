"""Tracing through the operational database: resolve, trace, store atomically, export, bad input."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.unit.tracing.scenario import at, build_scenario
from zhikong.core.config import Settings
from zhikong.core.crypto import get_cipher
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.engine import duckdb_engine
from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
from zhikong.people.idcard import make_id_number
from zhikong.people.models import Household, Person
from zhikong.tracing import service
from zhikong.tracing.models import Case, Contact, ContactClass, Exposure, TraceRun
from zhikong.tracing.policy import load_policy

LETTERS = "ABCDEFGHIJKZ"
ID = {k: make_id_number("500113", date(1980, 1, 1), i, "male") for i, k in enumerate(LETTERS)}
PHONE = {k: f"+86138001380{i:02d}" for i, k in enumerate(LETTERS)}
HOUSEHOLD = {"A": "H1", "B": "H1", "C": "H2", "K": "H6"}


def _pid(name: str) -> str:
    kind, who = name[:2], name[2]
    return get_cipher().keyed_hash(ID[who] if kind == "id" else PHONE[who])


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Path:
    lake = settings.resolved_lake_dir
    build_scenario(lake, _pid)
    c = get_cipher()
    with unit_of_work(engine) as s:
        v = AdminUnit(
            code="500113001001",
            name="测试社区",
            level=UnitLevel.VILLAGE,
            kind=UnitKind.COMMUNITY,
            path="/500113/500113001/500113001001/",
            lat=29.4,
            lon=106.5,
        )
        s.add(v)
        s.flush()
        hh = {code: Household(code=code, village_id=v.id) for code in set(HOUSEHOLD.values())}
        s.add_all(hh.values())
        s.flush()
        for k in LETTERS:
            has_phone = k in "ABCEFJ"
            s.add(
                Person(
                    name=f"测试{k}",
                    village_id=v.id,
                    id_number_hash=c.keyed_hash(ID[k]),
                    id_number_enc=c.encrypt(ID[k]),
                    id_number_masked=ID[k][:4] + "*" * 10 + ID[k][-4:],
                    phone_hash=c.keyed_hash(PHONE[k]) if has_phone else None,
                    phone_masked="138****80" + PHONE[k][-2:] if has_phone else None,
                    household_id=hh[HOUSEHOLD[k]].id if k in HOUSEHOLD else None,
                )
            )
    return lake


def _trace(engine: Engine, lake: Path, ident: str) -> int:
    with unit_of_work(engine) as s, duckdb_engine() as eng:
        cases = service.register_cases(s, [service.CaseInput(ident, at(12, 0), at(13, 0))])
        run, _ = service.run_trace(s, eng, lake, cases, load_policy())
        return run.id


def test_trace_by_phone_stores_contacts_with_evidence(engine: Engine, session: Session, world: Path) -> None:
    run_id = _trace(engine, world, "138 0013 8000")  # A's phone, spelled as people type it
    run = session.get(TraceRun, run_id)
    assert run is not None and run.cases == 1 and run.contacts == 7
    contacts = session.scalars(select(Contact).where(Contact.run_id == run_id)).all()
    by_person = {session.get(Person, c.person_id).name: c for c in contacts if c.person_id}  # type: ignore[union-attr]
    assert {n: c.cls for n, c in by_person.items()} == {
        "测试B": ContactClass.CLOSE,
        "测试C": ContactClass.CLOSE,
        "测试D": ContactClass.CLOSE,  # 45 minutes at the market with A (markets count as close range)
        "测试E": ContactClass.CLOSE,
        "测试F": ContactClass.CLOSE,
        "测试G": ContactClass.CLOSE,
        "测试K": ContactClass.SECONDARY,
    }
    g = by_person["测试G"]
    assert (g.quarantine_central_days, g.quarantine_home_days) == (7, 3)
    assert g.explanation.startswith("score") and "travel" in g.contributions
    ex = session.scalars(select(Exposure).where(Exposure.contact_id == g.id)).all()
    assert [(e.source, e.distance, e.minutes) for e in ex] == [("travel", "close", 240.0)]
    case = session.scalars(select(Case)).one()
    assert case.traced_at is not None and case.person_key == _pid("idA")


def test_stored_contacts_are_the_results_objects(engine: Engine, session: Session, world: Path) -> None:
    # stored from the result's columns in bulk: the same as the contacts as objects say
    with unit_of_work(engine) as s, duckdb_engine() as eng:
        cases = service.register_cases(s, [service.CaseInput(ID["A"], at(12, 0), at(13, 0))])
        run, result = service.run_trace(s, eng, world, cases, load_policy())
        run_id, case_id = run.id, cases[0].id
    stored = session.scalars(select(Contact).where(Contact.run_id == run_id).order_by(Contact.id)).all()
    want = result.contacts
    assert len(stored) == len(want) == 7
    ev = result.evidence
    for row, c in zip(stored, want, strict=True):  # in the result's order
        assert (row.case_id, row.person_key, row.cls, row.hop, row.via_person_key) == (
            case_id, c.contact, ContactClass(c.cls), c.hop, c.via
        )
        assert (row.score, row.close_minutes) == (round(c.score, 3), round(c.close_minutes, 1))
        assert (row.first_at.timestamp(), row.last_at.timestamp()) == (c.first_s, c.last_s)
        assert json.loads(row.contributions) == c.contributions and row.explanation == c.explain()
        q = getattr(load_policy().quarantine, c.cls)
        assert (row.quarantine_central_days, row.quarantine_home_days) == (q.central_days, q.home_days)
        mine = ev[(ev["case_key"] == c.case_key) & (ev["contact"] == c.contact)]
        exposures = session.scalars(select(Exposure).where(Exposure.contact_id == row.id)).all()
        assert len(exposures) == len(mine) > 0
        got = sorted((e.source, e.start_at.timestamp(), e.minutes) for e in exposures)
        cols = zip(mine["source"], mine["start_s"], mine["minutes"], strict=True)
        assert got == sorted((s, t, round(m, 1)) for s, t, m in cols)


def test_a_failing_trace_writes_nothing(
    engine: Engine, session: Session, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the contacts are inserted by then: the exposures fail half-way
    real = service.exposure_row
    calls = {"n": 0}

    def flaky(contact_id: int, ev: dict[str, list[object]], i: int) -> dict[str, object]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(contact_id, ev, i)

    monkeypatch.setattr(service, "exposure_row", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        _trace(engine, world, ID["A"])
    for model in (TraceRun, Contact, Exposure, Case):
        assert session.scalar(select(func.count()).select_from(model)) == 0


def test_bad_cases(engine: Engine, world: Path) -> None:
    with pytest.raises(NotFound, match="in the ledger"):
        _trace(engine, world, make_id_number("500113", date(1990, 5, 5), 7, "female"))
    with pytest.raises(InvalidInput, match="neither a valid ID number nor a mobile number"):
        _trace(engine, world, "12345")
    with pytest.raises(InvalidInput, match="in the future"), unit_of_work(engine) as s:
        service.register_cases(s, [service.CaseInput(ID["A"], at(12, 0))], now=at(11, 0))
    with pytest.raises(InvalidInput, match="no trajectory records"):
        _trace(engine, world, ID["B"])  # B is only known through the ledger
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count()).select_from(TraceRun)) == 0


def test_cli_trace_and_export(engine: Engine, world: Path, tmp_path: Path) -> None:
    from zhikong.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["trace", f"{ID['A']}@2022-03-12T00:00", "--isolated", "2022-03-13T00:00", "--export", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out / "contacts-1.csv").open(encoding="utf-8-sig")))
    assert sorted(r["class"] for r in rows) == ["close"] * 6 + ["secondary"]
    text = (out / "contacts-1.csv").read_text(encoding="utf-8-sig") + (out / "graph-1.json").read_text()
    assert not any(ID[k] in text for k in LETTERS)  # identifiers only masked
    assert (out / "trace-1.xlsx").stat().st_size > 0 and (out / "graph-1.graphml").exists()
    again = CliRunner().invoke(app, ["trace", "--all-new"])
    assert again.exit_code != 0  # nothing new to trace

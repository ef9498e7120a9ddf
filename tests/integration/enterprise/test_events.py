"""End to end: a trace run that makes a registered employee a close contact turns them red and
notifies the enterprise and the employee — through the event hook, after the trace commits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.integration.tracing.test_service import ID, PHONE, world  # noqa: F401  (fixture)
from tests.unit.tracing.scenario import at
from zhikong.core.config import Settings
from zhikong.core.db import unit_of_work
from zhikong.engine import duckdb_engine
from zhikong.enterprise import service
from zhikong.enterprise.models import Audience, Employee, Enterprise, Level, Notification
from zhikong.geo.models import AdminUnit, UnitKind, UnitLevel
from zhikong.tasks.models import Task
from zhikong.tracing import service as tracing
from zhikong.tracing.policy import load_policy


def _enterprise(s: Session) -> Enterprise:
    """A town and one enterprise in it."""
    town = AdminUnit(code="500113001", name="测试街道", level=UnitLevel.TOWN, kind=UnitKind.TOWN,
                     path="/500113/500113001/", lat=29.4, lon=106.5)
    s.add(town)
    s.flush()
    ent = Enterprise(name="测试企业", town_id=town.id)
    s.add(ent)
    s.flush()
    return ent


def test_a_trace_turns_its_contacts_red_and_notifies(engine: Engine, session: Session,
                                                     world: Path) -> None:  # noqa: F811
    with unit_of_work(engine) as s:
        ent = _enterprise(s)
        for k in "ABJ":
            reg = service.validate_registration(f"员工{k}", ID[k], PHONE[k], True)
            service.register_employee(s, ent, reg)
    levels = {e.name: e.level for e in session.scalars(select(Employee))}
    assert set(levels.values()) == {Level.GREEN}
    session.rollback()

    now = at(14, 0)
    with unit_of_work(engine) as s, duckdb_engine() as eng:
        cases = tracing.register_cases(s, [tracing.CaseInput(ID["A"], at(12, 0), at(13, 0))], now=now)
        tracing.run_trace(s, eng, world, cases, load_policy(), now=now)
        # nothing recomputed before the trace commits
        assert s.scalar(select(func.count()).select_from(Notification)) == 0

    got = {e.name: (e.level, e.reasons) for e in session.scalars(select(Employee))}
    assert got == {"员工A": (Level.RED, ["case"]), "员工B": (Level.RED, ["close_contact"]),
                   "员工J": (Level.GREEN, [])}
    b = session.scalars(select(Employee).where(Employee.name == "员工B")).one()
    notes = session.scalars(select(Notification).where(Notification.employee_id == b.id)).all()
    assert {n.audience for n in notes} == {Audience.ENTERPRISE, Audience.EMPLOYEE}
    assert all("密切接触者" in n.message for n in notes)
    # red employees with a home village get one village task each
    assert session.scalar(select(func.count()).select_from(Task)) == 2


def test_a_risk_area_import_recomputes_travellers(session: Session, settings: Settings) -> None:
    """Importing a risk-area list (screening) turns an employee who came from that city within the
    lookback red, after the import commits; nobody else changes."""
    from datetime import date, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    from zhikong.core.crypto import get_cipher
    from zhikong.core.time import utcnow
    from zhikong.screening.service import import_risk_areas

    ent = _enterprise(session)
    for k in "CD":
        service.register_employee(session, ent, service.validate_registration(
            f"员工{k}", ID[k], PHONE[k], True))
    session.commit()
    now = utcnow()
    lake = settings.resolved_lake_dir / "travel" / "day=x"
    lake.mkdir(parents=True)
    ts = pa.timestamp("us", tz="UTC")
    pq.write_table(pa.table({
        "pid": [get_cipher().keyed_hash(ID["C"]), get_cipher().keyed_hash(ID["D"])],
        "origin_city": ["武汉市", "北京市"], "origin_code": ["420100", "110100"],
        "depart_ts": pa.array([now - timedelta(days=2)] * 2, ts),
        "ts": pa.array([now - timedelta(days=2)] * 2, ts)}), lake / "a.parquet")
    start = (date.today() - timedelta(days=10)).isoformat()
    csv = settings.resolved_lake_dir.parent / "risk.csv"
    csv.write_text("风险等级,省份,城市,区划代码,区县,街道,生效日期,解除日期\n"
                   f"高,湖北省,武汉市,420100,,,{start},\n", encoding="utf-8")
    import_risk_areas(session, csv)
    assert session.scalar(select(func.count()).select_from(Notification)) == 0  # not before commit
    session.commit()
    got = {e.name: (e.level, e.reasons) for e in session.scalars(select(Employee))}
    assert got == {"员工C": (Level.RED, ["high_risk_travel"]), "员工D": (Level.GREEN, [])}
    assert session.scalar(select(func.count()).select_from(Notification)) == 2

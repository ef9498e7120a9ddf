"""Registration, recompute, notifications, tasks and access on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied, RowErrors
from zhikong.core.time import utcnow
from zhikong.enterprise import service, town
from zhikong.enterprise.models import Audience, Employee, Level, Notification, RiskResult
from zhikong.enterprise.risk import recompute
from zhikong.screening.models import ControlMeasure, KeyCategory, KeyPerson, KeyStatus
from zhikong.tasks.models import Task
from zhikong.tracing.models import Case, Contact, ContactClass, RunStatus, TraceRun

from .conftest import PHONES, World


def _register(session: Session, world: World, i: int, ent: object | None = None,
              phone: str | None = None) -> service.RegistrationResult:
    reg = service.validate_registration(f"员工{i}", world.ids[i], phone or PHONES[i], True)
    assert not reg.errors
    res = service.register_employee(session, ent or world.ent_a, reg)  # type: ignore[arg-type]
    session.commit()
    return res


def test_register_links_and_double_submit(session: Session, world: World) -> None:
    first = _register(session, world, 0)
    assert first.created and first.link_token
    assert first.employee.person_id == world.persons[0].id
    assert first.employee.link_method == "id_exact"
    assert first.employee.home_village_id == world.village.id
    again = _register(session, world, 0)
    assert not again.created and again.employee.id == first.employee.id
    assert session.scalar(select(func.count()).select_from(Employee)) == 1
    # the first personal link was rotated by the repeat (same ID and phone)
    with pytest.raises(NotFound):
        service.employee_for_link(session, first.link_token)
    assert again.link_token and service.employee_for_link(session, again.link_token).id == first.employee.id
    # same ID, another phone: same employee, no new link handed out
    third = _register(session, world, 0, phone="13900139000")
    assert not third.created and third.link_token is None
    # a non-resident is registered, unlinked
    outsider = _register(session, world, 3)
    assert outsider.created and outsider.employee.person_id is None
    # the same person at another enterprise is a separate employee
    other = _register(session, world, 0, ent=world.ent_b)
    assert other.created and other.employee.enterprise_id == world.ent_b.id


def test_validation_messages_per_field() -> None:
    reg = service.validate_registration("", "50011319800304000", "12345", False)
    assert set(reg.errors) == {"name", "id_number", "phone", "consent"}
    assert "长度 17" in reg.errors["id_number"]


def test_qr_token_forged_and_expired(session: Session, world: World) -> None:
    tok = service.qr_token(world.ent_a.id)
    assert service.enterprise_for_token(session, tok).id == world.ent_a.id
    with pytest.raises(InvalidInput, match="无效"):
        service.enterprise_for_token(session, tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"))
    with pytest.raises(InvalidInput, match="过期"):
        service.enterprise_for_token(session, tok, now=utcnow() + timedelta(days=31))


def _contact(session: Session, world: World, person_idx: int, cls: ContactClass) -> None:
    now = utcnow()
    run = TraceRun(policy="t", policy_edition=1, engine="duckdb", status=RunStatus.COMPLETED)
    case = Case(person_key="case-key", label="病例1", onset_at=now - timedelta(days=2))
    session.add_all([run, case])
    session.flush()
    p = world.persons[person_idx]
    session.add(Contact(run_id=run.id, case_id=case.id, person_key=p.id_number_hash or "",
                        person_id=p.id, cls=cls, score=1.0, first_at=now - timedelta(days=2),
                        last_at=now - timedelta(days=1)))
    session.flush()


def test_recompute_levels_notifications_and_tasks(session: Session, world: World) -> None:
    for i in range(3):
        _register(session, world, i)
    _contact(session, world, 0, ContactClass.CLOSE)
    session.add(KeyPerson(person_id=world.persons[1].id, category=KeyCategory.COMPANION, source="t",
                          status=KeyStatus.ACTIVE, measure=ControlMeasure.HEALTH_MONITORING,
                          start_date=date.today() - timedelta(days=1),
                          end_date=date.today() + timedelta(days=5), policy_edition="p"))
    session.commit()
    out = recompute(session)
    session.commit()
    assert out.employees == 3 and out.changed == 2
    levels = {e.name: (e.level, e.reasons) for e in session.scalars(select(Employee))}
    assert levels["员工0"] == (Level.RED, ["close_contact"])
    assert levels["员工1"] == (Level.YELLOW, ["companion", "health_monitoring"])
    assert levels["员工2"] == (Level.GREEN, [])
    assert out.tasks == 1
    task = session.scalars(select(Task)).one()
    assert task.unit_id == world.village.id
    # idempotent: a second run changes nothing and makes no second task
    again = recompute(session)
    session.commit()
    assert again.changed == 0 and again.tasks == 0
    assert town.red_tasks(session) == 0
    assert session.scalar(select(func.count()).select_from(Task)) == 1
    assert session.scalar(select(func.count()).select_from(RiskResult)) == 2
    notes = session.scalars(select(Notification).where(Notification.audience == Audience.EMPLOYEE)).all()
    assert len(notes) == 2 and any("密切接触者" in n.message for n in notes)


def test_access_is_per_enterprise(session: Session, world: World) -> None:
    assert service.visible_enterprise(session, world.admin_a, world.ent_a.id).id == world.ent_a.id
    with pytest.raises(NotFound):
        service.visible_enterprise(session, world.admin_a, world.ent_b.id)
    with pytest.raises(NotFound):
        service.visible_enterprise(session, world.town_user, world.ent_b.id)
    assert [e.id for e in service.visible_enterprises(session, world.town_user)] == [world.ent_a.id]
    assert len(service.visible_enterprises(session, world.district_user)) == 2
    with pytest.raises(PermissionDenied):
        town.town_view(session, world.admin_a, world.town.id)
    view = town.town_view(session, world.town_user, world.town.id)
    assert [e["name"] for e in view["enterprises"]] == ["甲公司"]


def test_roster_not_registered_and_export(session: Session, world: World) -> None:
    _register(session, world, 0)
    csv = ("姓名,身份证号,部门\n员工0," + world.ids[0] + ",生产\n员工1," + world.ids[1] + ",行政\n").encode()
    assert town.import_roster(session, world.ent_a, csv, "roster.csv") == 2
    missing = service.not_registered(session, world.ent_a)
    assert [m["name"] for m in missing] == ["员工1"]
    bad = ("姓名,身份证号\n员工0,123\n,").encode()
    with pytest.raises(RowErrors) as ei:
        town.import_roster(session, world.ent_a, bad, "bad.csv")
    assert ei.value.errors[0].row == 2
    assert len(service.not_registered(session, world.ent_a)) == 1  # nothing half-written
    data = town.export_xlsx(session, world.ent_a)
    assert data[:2] == b"PK"


def test_recompute_from_lake_and_risk_areas(session: Session, world: World, tmp_path: object) -> None:
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from zhikong.core.crypto import get_cipher
    from zhikong.screening.models import RiskArea, RiskLevel

    for i in range(3):
        _register(session, world, i)
    now = utcnow()
    session.add_all([
        RiskArea(published_on=date.today() - timedelta(days=3), level=RiskLevel.HIGH, city="武汉市",
                 area_code="420106", effective_from=now - timedelta(days=10)),
        RiskArea(published_on=date.today() - timedelta(days=3), level=RiskLevel.MEDIUM, city="成都市",
                 area_code="510100", effective_from=now - timedelta(days=10)),
    ])
    session.commit()
    cipher = get_cipher()
    lake = Path(str(tmp_path)) / "lake"
    (lake / "travel" / "day=x").mkdir(parents=True)
    (lake / "roaming" / "day=x").mkdir(parents=True)
    ts = pa.timestamp("us", tz="UTC")
    pq.write_table(pa.table({
        "pid": [cipher.keyed_hash(world.ids[0]), cipher.keyed_hash(world.ids[2])],
        "origin_city": ["武汉市", "武汉市"], "origin_code": ["420100", "420100"],
        "depart_ts": pa.array([now - timedelta(days=2), now - timedelta(days=20)], ts),
        "ts": pa.array([now - timedelta(days=2), now - timedelta(days=20)], ts)}),
        lake / "travel" / "day=x" / "a.parquet")
    pq.write_table(pa.table({
        "pid": [cipher.keyed_hash("+86" + PHONES[1])], "city": ["成都市"], "city_code": ["510100"],
        "first_seen": pa.array([now - timedelta(days=3)], ts),
        "last_seen": pa.array([now - timedelta(days=2)], ts)}),
        lake / "roaming" / "day=x" / "b.parquet")
    out = recompute(session, lake_dir=lake, create_tasks=False)
    session.commit()
    levels = {e.name: (e.level, e.reasons) for e in session.scalars(select(Employee))}
    assert levels["员工0"] == (Level.RED, ["high_risk_travel"])
    assert levels["员工1"] == (Level.YELLOW, ["medium_risk_roaming"])
    assert levels["员工2"] == (Level.GREEN, [])  # travelled 20 days ago: outside the lookback
    assert out.changed == 2


def test_registration_reads_the_risk_marks_only(session: Session, world: World) -> None:
    """A registration looks up its own keys in the marks: a person already a contact when the marks
    were refreshed is red at once; one who became a contact after it is green until the next
    recompute (which picks them up and notifies)."""
    from zhikong.enterprise.models import RiskMark
    from zhikong.enterprise.risk import recompute_affected

    _contact(session, world, 0, ContactClass.CLOSE)
    session.commit()
    recompute(session)  # no employees yet: refreshes the marks for everybody
    session.commit()
    keys = set(session.scalars(select(RiskMark.pid)))
    assert f"p:{world.persons[0].id}" in keys
    first = _register(session, world, 0)
    assert (first.employee.level, first.employee.reasons) == (Level.RED, ["close_contact"])
    assert session.scalar(select(func.count()).select_from(Task)) == 1  # red at registration: a task
    # the same registration on another enterprise reads the same marks
    other = _register(session, world, 0, world.ent_b)
    assert other.employee.level == Level.RED
    case, run = session.scalars(select(Case)).one(), session.scalars(select(TraceRun)).one()
    p1 = world.persons[1]
    session.add(Contact(run_id=run.id, case_id=case.id, person_key=p1.id_number_hash or "",
                        person_id=p1.id, cls=ContactClass.SECONDARY, score=1.0,
                        first_at=utcnow() - timedelta(days=2), last_at=utcnow() - timedelta(days=1)))
    session.commit()
    late = _register(session, world, 1)
    assert late.employee.level == Level.GREEN  # marks not refreshed yet
    out = recompute_affected(session)
    session.commit()
    assert out.changed == 1 and out.marks_changed >= 1
    session.refresh(late.employee)
    assert (late.employee.level, late.employee.reasons) == (Level.YELLOW, ["secondary_contact"])
    note = session.scalars(select(Notification).where(
        Notification.employee_id == late.employee.id,
        Notification.audience == Audience.EMPLOYEE)).one()
    assert "次密切接触者" in note.message
    # nothing changed: nothing recomputed
    assert recompute_affected(session).changed == 0


def test_registering_a_key_person_recomputes_the_employee(session: Session, world: World) -> None:
    """screening's key-person registry publishes one event per transaction; enterprise recomputes
    after the commit, so a newly quarantined resident's employee changes level and is notified."""
    from zhikong.screening.keypersons import add_key_person, release_due

    for i in range(2):
        _register(session, world, i)
    session.commit()
    recompute(session)
    session.commit()
    # two registrations in one transaction: one recompute after the commit, none before
    add_key_person(session, category=KeyCategory.COMPANION, person=world.persons[1], source="t",
                   start=date.today())
    add_key_person(session, category=KeyCategory.COMPANION, person=world.persons[0], source="t",
                   start=date.today())
    assert {e.level for e in session.scalars(select(Employee))} == {Level.GREEN}
    session.commit()
    session.expire_all()
    levels = {e.name: (e.level, e.reasons) for e in session.scalars(select(Employee))}
    assert levels["员工0"][0] != Level.GREEN and "companion" in levels["员工0"][1]
    assert levels["员工1"][0] != Level.GREEN and "companion" in levels["员工1"][1]
    assert session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.audience == Audience.EMPLOYEE)) >= 2
    # released at the end of the measure: back to green, again without an explicit recompute
    assert release_due(session, date.today() + timedelta(days=60)) == 2
    session.commit()
    session.expire_all()
    assert {e.level for e in session.scalars(select(Employee))} == {Level.GREEN}

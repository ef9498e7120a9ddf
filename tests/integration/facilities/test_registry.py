"""Key persons from the screening registry: admission, registry kept in step, village follow-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.facilities.conftest import World
from zhikong.core.errors import InvalidInput
from zhikong.core.time import local_day, utcnow
from zhikong.facilities import registry
from zhikong.facilities.models import Measure
from zhikong.screening.keypersons import add_key_person
from zhikong.screening.models import ControlMeasure, KeyCategory, KeyStatus


def test_admit_and_release_a_close_contact(world: World) -> None:
    s = world.session
    p = world.persons[0]
    kp = add_key_person(s, category=KeyCategory.CLOSE_CONTACT, person=p, source="test",
                        start=local_day(utcnow()) - timedelta(days=7))
    assert kp is not None and kp.measure == ControlMeasure.CENTRAL_QUARANTINE
    fu, _ = registry.admit_key_person(s, "test", kp.id, facility_id=world.points[0].id,
                                      at=utcnow() - timedelta(days=7))
    s.commit()
    assert fu.key_person_id == kp.id and fu.person_id == p.id
    r = registry.release_key_person(s, "test", fu.id)
    s.commit()
    assert r.next_followup is not None and r.next_followup.key_person_id == kp.id
    s.refresh(kp)
    assert kp.measure == ControlMeasure.HEALTH_MONITORING and kp.status == KeyStatus.ACTIVE
    assert kp.end_date == local_day(r.next_followup.planned_end_at)


def test_unlinked_or_released_key_person_cannot_be_admitted(world: World) -> None:
    s = world.session
    kp = add_key_person(s, category=KeyCategory.CLOSE_CONTACT, person=world.persons[1], source="test",
                        start=local_day(utcnow()))
    assert kp is not None
    kp.status = KeyStatus.RELEASED
    s.flush()
    with pytest.raises(InvalidInput, match="released"):
        registry.admit_key_person(s, "test", kp.id, facility_id=world.points[0].id)


def test_follow_registry_opens_village_followups_once(world: World) -> None:
    s = world.session
    today = local_day(utcnow())
    a = add_key_person(s, category=KeyCategory.RISK_AREA_ARRIVAL, person=world.persons[2], source="t",
                       start=today - timedelta(days=1))
    b = add_key_person(s, category=KeyCategory.COMPANION, person=world.persons[3], source="t", start=today)
    add_key_person(s, category=KeyCategory.CLOSE_CONTACT, person=world.persons[4], source="t", start=today)
    s.commit()
    assert registry.follow_registry(s) == 2
    s.commit()
    assert registry.follow_registry(s) == 0
    from sqlalchemy import select

    from zhikong.facilities.models import Followup

    fus = {f.key_person_id: f for f in s.scalars(select(Followup))}
    assert a is not None and b is not None
    assert fus[a.id].measure == Measure.HOME and fus[b.id].measure == Measure.MONITORING
    assert fus[a.id].unit_id == world.persons[2].village_id
    assert local_day(fus[a.id].planned_end_at) == a.end_date

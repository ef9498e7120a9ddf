"""Isolation points: admission, bed conflicts (service and database), transfers, release, hand-back,
capacity and free beds; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.integration.facilities.conftest import World
from zhikong.core.errors import Conflict, InvalidInput, NotFound
from zhikong.core.time import local_day, utcnow
from zhikong.facilities import service
from zhikong.facilities.models import Bed, Followup, FollowupState, Measure, Stay
from zhikong.tasks.models import Task, TaskKind


def _beds(w: World, k: int) -> list[Bed]:
    return list(w.session.scalars(select(Bed).where(Bed.facility_id == w.points[k].id).order_by(Bed.id)))


def test_admit_sets_plan_from_policy(world: World) -> None:
    s = world.session
    at = utcnow() - timedelta(hours=3)
    fu, stay = service.admit(s, "test", world.persons[0].id, facility_id=world.points[0].id, at=at)
    s.commit()
    assert fu.measure == Measure.CENTRAL and fu.state == FollowupState.ACTIVE
    assert fu.planned_end_at == at + timedelta(days=7)
    days = [d for d, _ in service.sample_dates(fu.started_at, (1, 2, 3, 5, 7))]
    assert fu.test_days == "1,2,3,5,7" and days == [1, 2, 3, 5, 7]
    assert stay.bed_id == _beds(world, 0)[0].id and fu.unit_id == world.points[0].unit_id


def test_a_bed_cannot_be_given_to_two_people(world: World) -> None:
    s = world.session
    bed = _beds(world, 0)[0]
    service.admit(s, "test", world.persons[0].id, bed_id=bed.id)
    s.commit()
    with pytest.raises(Conflict, match="already occupied"):
        service.admit(s, "test", world.persons[1].id, bed_id=bed.id)
    s.rollback()
    # the same person twice
    with pytest.raises(Conflict, match="already under"):
        service.admit(s, "test", world.persons[0].id, bed_id=_beds(world, 0)[1].id)
    s.rollback()
    assert s.scalar(select(func.count()).select_from(Stay)) == 1


def test_database_refuses_a_second_active_stay_in_a_bed(world: World) -> None:
    s = world.session
    bed = _beds(world, 1)[0]
    fu, _ = service.admit(s, "test", world.persons[0].id, bed_id=bed.id)
    s.commit()
    other = Followup(
        person_id=world.persons[1].id,
        measure=Measure.CENTRAL,
        state=FollowupState.ACTIVE,
        unit_id=fu.unit_id,
        facility_id=fu.facility_id,
        started_at=utcnow(),
        planned_end_at=utcnow() + timedelta(days=7),
        test_days="",
    )
    s.add(other)
    s.flush()
    s.add(
        Stay(
            followup_id=other.id,
            bed_id=bed.id,
            room_id=bed.room_id,
            facility_id=bed.facility_id,
            started_at=utcnow(),
        )
    )
    with pytest.raises(IntegrityError):
        s.flush()
    s.rollback()


def test_release_before_admission_is_invalid_and_changes_nothing(world: World) -> None:
    s = world.session
    fu, _ = service.admit(
        s, "test", world.persons[2].id, facility_id=world.points[0].id, at=utcnow() - timedelta(days=1)
    )
    s.commit()
    with pytest.raises(InvalidInput, match="before admission") as e:
        service.release(s, "test", fu.id, at=fu.started_at - timedelta(minutes=1))
    assert e.value.field == "at"
    s.rollback()
    s.refresh(fu)
    assert fu.state == FollowupState.ACTIVE and service.current_stay(s, fu.id) is not None


def test_release_hands_back_to_the_village_with_home_monitoring(world: World) -> None:
    s = world.session
    person = world.persons[3]
    fu, stay = service.admit(
        s, "test", person.id, facility_id=world.points[1].id, at=utcnow() - timedelta(days=7, hours=1)
    )
    s.commit()
    r = service.release(s, "test", fu.id)
    s.commit()
    assert fu.state == FollowupState.RELEASED and stay.ended_at is not None
    assert r.next_followup is not None and r.next_followup.measure == Measure.MONITORING
    assert r.next_followup.unit_id == person.village_id and r.next_followup.previous_id == fu.id
    assert r.next_followup.planned_end_at - r.next_followup.started_at == timedelta(days=3)
    task = s.get(Task, r.task_id)
    assert task is not None and task.unit_id == person.village_id and task.kind == TaskKind.CONTACT_QUARANTINE
    assert task.subject_id == person.id
    # the bed is free again; releasing twice is a conflict
    assert service.current_stay(s, fu.id) is None
    with pytest.raises(Conflict):
        service.release(s, "test", fu.id)


def test_transfer_moves_bed_and_keeps_history(world: World) -> None:
    s = world.session
    fu, first = service.admit(s, "test", world.persons[0].id, facility_id=world.points[0].id)
    s.commit()
    target = _beds(world, 2)[0]
    new = service.transfer(s, "test", fu.id, target.id)
    s.commit()
    assert first.ended_at is not None and first.end_reason == "moved"
    assert new.bed_id == target.id and fu.facility_id == world.points[2].id
    service.admit(s, "test", world.persons[1].id, bed_id=first.bed_id)  # the old bed is free
    with pytest.raises(Conflict):
        service.transfer(s, "test", fu.id, first.bed_id)


def test_capacity_and_nearest_free_bed(world: World) -> None:
    s = world.session
    for p in world.persons[:4]:
        service.admit(s, "test", p.id, facility_id=world.points[0].id)
    s.commit()
    rows = {r.facility_id: r for r in service.capacity(s)}
    assert rows[world.points[0].id].occupied == 4 and rows[world.points[0].id].free == 0
    assert rows[world.points[1].id].free == 4
    with pytest.raises(Conflict, match="no free bed"):
        service.admit(s, "test", world.persons[4].id, facility_id=world.points[0].id)
    s.rollback()
    # nearest to the unit of point 1 → point 1
    fb = service.find_free_bed(s, near_unit_id=world.points[1].unit_id)
    assert fb.facility_id == world.points[1].id and fb.distance_km is not None and fb.distance_km < 2
    assert fb.facility_id != world.points[0].id


def test_no_free_bed_anywhere(world: World) -> None:
    s = world.session
    for b in s.scalars(select(Bed)):
        b.usable = False
    s.flush()
    with pytest.raises(NotFound):
        service.find_free_bed(s)


def test_home_followup_for_village(world: World) -> None:
    s = world.session
    p = world.persons[5]
    fu = service.start_followup(s, "test", p.id, Measure.HOME)
    s.commit()
    assert fu.unit_id == p.village_id and fu.facility_id is None
    assert local_day(fu.planned_end_at) == local_day(fu.started_at) + timedelta(days=7)
    with pytest.raises(Conflict):
        service.admit(s, "test", p.id, facility_id=world.points[0].id)

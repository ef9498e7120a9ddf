"""Isolation points: structure, admission to a bed, transfers, release and hand-back to the village,
capacity across all points and the nearest free bed.

A bed holds at most one active stay: checked here (``Conflict``) and enforced by a unique partial
index on ``facility_stay(bed_id) WHERE ended_at IS NULL``, so two concurrent admissions cannot both
win. A person is under at most one active measure (same technique on ``followup``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.auth.models import User
from zhikong.auth.service import jurisdiction_clause, require_unit, restrict
from zhikong.core.errors import Conflict, InvalidInput, NotFound
from zhikong.core.time import as_utc, local_day, utcnow
from zhikong.facilities.models import (
    Bed,
    Building,
    Facility,
    FacilityKind,
    Followup,
    FollowupState,
    Measure,
    Room,
    Stay,
)
from zhikong.facilities.policy import Policy, builtin_policy
from zhikong.geo.models import AdminUnit, Place, PlaceKind
from zhikong.people.models import Person
from zhikong.tasks.models import Priority, SubjectType, TaskKind
from zhikong.tasks.service import create_task

Actor = User | str | None


def _check_unit(session: Session, actor: Actor, unit_id: int, field: str) -> None:
    if isinstance(actor, User):
        require_unit(session, actor, unit_id, field=field)


# ---- structure --------------------------------------------------------------------------------
def ensure_facility(session: Session, place: Place, kind: FacilityKind | None = None) -> Facility:
    """The facility of ``place`` (created on first use)."""
    fac = session.scalar(select(Facility).where(Facility.place_id == place.id))
    if fac is not None:
        return fac
    if kind is None:
        if place.kind == PlaceKind.ISOLATION_POINT:
            kind = FacilityKind.ISOLATION_POINT
        elif place.kind == PlaceKind.ADMIN_CENTRE:
            kind = FacilityKind.SCREENING_POINT
        else:
            raise InvalidInput(
                f"place {place.code} is a {place.kind.value}; give the facility kind", field="kind"
            )
    fac = Facility(place_id=place.id, kind=kind, name=place.name, unit_id=place.unit_id, active=True)
    session.add(fac)
    session.flush()
    return fac


def add_building(
    session: Session, facility: Facility, name: str, floors: int, rooms_per_floor: int, beds_per_room: int = 1
) -> Building:
    """A building with ``floors`` × ``rooms_per_floor`` rooms (numbered 101, 102, … 201, …)."""
    if not (1 <= floors <= 60 and 1 <= rooms_per_floor <= 99 and 1 <= beds_per_room <= 8):
        raise InvalidInput("floors 1..60, rooms per floor 1..99, beds per room 1..8", field="floors")
    name = name.strip()
    if not name or len(name) > 32:
        raise InvalidInput("a building name of 1 to 32 characters is required", field="name")
    if session.scalar(select(Building).where(Building.facility_id == facility.id, Building.name == name)):
        raise Conflict(f"{facility.name} already has a building {name!r}", field="name")
    b = Building(facility_id=facility.id, name=name, floors=floors)
    session.add(b)
    session.flush()
    for f in range(1, floors + 1):
        for r in range(1, rooms_per_floor + 1):
            room = Room(building_id=b.id, facility_id=facility.id, floor=f, number=f"{f}{r:02d}")
            session.add(room)
            session.flush()
            session.add_all(
                Bed(room_id=room.id, facility_id=facility.id, label=chr(ord("A") + k), usable=True)
                for k in range(beds_per_room)
            )
    session.flush()
    return b


def get_facility(session: Session, facility_id: int, user: User | None = None) -> Facility:
    stmt = select(Facility).where(Facility.id == facility_id)
    if user is not None:
        stmt = restrict(stmt, user, Facility.unit_id)
    fac = session.scalar(stmt)
    if fac is None:
        raise NotFound(
            f"no facility {facility_id}" + (" in your jurisdiction" if user else ""), field="facility_id"
        )
    return fac


def bed_label(session: Session, bed: Bed) -> str:
    room = bed.room
    building = session.get(Building, room.building_id)
    return f"{building.name if building else '?'}-{room.number}-{bed.label}"


# ---- admission, transfer, release ------------------------------------------------------------------
def _active_stay_of_bed(session: Session, bed_id: int) -> Stay | None:
    return session.scalar(select(Stay).where(Stay.bed_id == bed_id, Stay.ended_at.is_(None)))


def _free_beds(facility_id: int | None = None):  # type: ignore[no-untyped-def]
    occupied = select(Stay.bed_id).where(Stay.ended_at.is_(None))
    stmt = select(Bed).where(Bed.usable.is_(True), Bed.id.not_in(occupied))
    if facility_id is not None:
        stmt = stmt.where(Bed.facility_id == facility_id)
    return stmt.order_by(Bed.id)


def _flush_unique(session: Session, what: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as e:
        raise Conflict(f"{what} (someone else was faster); reload and retry") from e


def sample_dates(start: datetime, days: tuple[int, ...]) -> list[tuple[int, date]]:
    first = local_day(start)
    return [(d, first + timedelta(days=d - 1)) for d in days]


def day_number(followup: Followup, at: datetime) -> int:
    return (local_day(at) - local_day(followup.started_at)).days + 1


def start_followup(
    session: Session,
    actor: Actor,
    person_id: int,
    measure: Measure,
    *,
    at: datetime | None = None,
    key_person_id: int | None = None,
    days: int | None = None,
    previous_id: int | None = None,
    policy: Policy | None = None,
) -> Followup:
    """Put a person under home quarantine or health monitoring in their village."""
    if measure == Measure.CENTRAL:
        raise InvalidInput("central quarantine starts with admit()", field="measure")
    pol = policy or builtin_policy()
    person = session.get(Person, person_id)
    if person is None:
        raise InvalidInput(f"unknown person {person_id}", field="person_id")
    _check_unit(session, actor, person.village_id, "person_id")
    start = as_utc(at) if at else utcnow()
    rule = pol.rules[measure]
    n = days if days is not None else rule.days
    fu = Followup(
        person_id=person.id,
        key_person_id=key_person_id,
        measure=measure,
        state=FollowupState.ACTIVE,
        unit_id=person.village_id,
        facility_id=None,
        started_at=start,
        planned_end_at=start + timedelta(days=n),
        test_days=",".join(str(d) for d in rule.test_days if d <= n),
        previous_id=previous_id,
    )
    _require_no_active(session, person.id)
    session.add(fu)
    _flush_unique(session, f"person {person.id} is already under an active measure")
    audit.record(
        session,
        actor,
        "facilities.followup.start",
        "followup",
        fu.id,
        {"person_id": person.id, "measure": measure.value, "days": n},
    )
    return fu


def _require_no_active(session: Session, person_id: int) -> None:
    other = session.scalar(
        select(Followup).where(Followup.person_id == person_id, Followup.state == FollowupState.ACTIVE)
    )
    if other is not None:
        raise Conflict(
            f"person {person_id} is already under {other.measure.value} (follow-up {other.id}); "
            "release or transfer it first",
            field="person_id",
        )


def admit(
    session: Session,
    actor: Actor,
    person_id: int,
    *,
    bed_id: int | None = None,
    facility_id: int | None = None,
    at: datetime | None = None,
    key_person_id: int | None = None,
    policy: Policy | None = None,
) -> tuple[Followup, Stay]:
    """Admit a person to a bed (or the first free bed of ``facility_id``) for central quarantine."""
    pol = policy or builtin_policy()
    person = session.get(Person, person_id)
    if person is None:
        raise InvalidInput(f"unknown person {person_id}", field="person_id")
    if bed_id is not None:
        bed = session.get(Bed, bed_id)
        if bed is None:
            raise InvalidInput(f"unknown bed {bed_id}", field="bed_id")
        if facility_id is not None and bed.facility_id != facility_id:
            raise InvalidInput(f"bed {bed_id} is not in facility {facility_id}", field="bed_id")
    elif facility_id is not None:
        bed = session.scalars(_free_beds(facility_id).limit(1)).first()
        if bed is None:
            raise Conflict(f"facility {facility_id} has no free bed", field="facility_id")
    else:
        raise InvalidInput("give a bed or a facility", field="bed_id")
    fac = session.get(Facility, bed.facility_id)
    assert fac is not None
    if fac.kind != FacilityKind.ISOLATION_POINT:
        raise InvalidInput(f"{fac.name} is not an isolation point", field="bed_id")
    _check_unit(session, actor, fac.unit_id, "bed_id")
    if not bed.usable:
        raise Conflict(f"bed {bed_label(session, bed)} is out of service", field="bed_id")
    holder = _active_stay_of_bed(session, bed.id)
    if holder is not None:
        raise Conflict(
            f"bed {bed_label(session, bed)} is already occupied (follow-up {holder.followup_id})",
            field="bed_id",
        )
    _require_no_active(session, person.id)
    start = as_utc(at) if at else utcnow()
    if start > utcnow() + timedelta(minutes=5):
        raise InvalidInput("admission time is in the future", field="at")
    rule = pol.rules[Measure.CENTRAL]
    fu = Followup(
        person_id=person.id,
        key_person_id=key_person_id,
        measure=Measure.CENTRAL,
        state=FollowupState.ACTIVE,
        unit_id=fac.unit_id,
        facility_id=fac.id,
        started_at=start,
        planned_end_at=start + timedelta(days=rule.days),
        test_days=",".join(str(d) for d in rule.test_days),
    )
    session.add(fu)
    _flush_unique(session, f"person {person.id} is already under an active measure")
    stay = Stay(followup_id=fu.id, bed_id=bed.id, room_id=bed.room_id, facility_id=fac.id, started_at=start)
    session.add(stay)
    _flush_unique(session, f"bed {bed.id} was just given to someone else")
    audit.record(
        session,
        actor,
        "facilities.admit",
        "followup",
        fu.id,
        {
            "person_id": person.id,
            "bed_id": bed.id,
            "facility_id": fac.id,
            "planned_end_at": fu.planned_end_at,
        },
    )
    return fu, stay


def get_followup(session: Session, followup_id: int, user: User | None = None) -> Followup:
    stmt = select(Followup).where(Followup.id == followup_id)
    if user is not None:
        stmt = restrict(stmt, user, Followup.unit_id)
    fu = session.scalar(stmt)
    if fu is None:
        raise NotFound(
            f"no follow-up {followup_id}" + (" in your jurisdiction" if user else ""), field="followup_id"
        )
    return fu


def current_stay(session: Session, followup_id: int) -> Stay | None:
    return session.scalar(select(Stay).where(Stay.followup_id == followup_id, Stay.ended_at.is_(None)))


def transfer(
    session: Session, actor: Actor, followup_id: int, to_bed_id: int, at: datetime | None = None
) -> Stay:
    """Move an occupant to another bed (same or another isolation point)."""
    fu = get_followup(session, followup_id, actor if isinstance(actor, User) else None)
    stay = current_stay(session, fu.id)
    if fu.state != FollowupState.ACTIVE or stay is None:
        raise Conflict(f"follow-up {fu.id} has no active stay to transfer", field="followup_id")
    bed = session.get(Bed, to_bed_id)
    if bed is None:
        raise InvalidInput(f"unknown bed {to_bed_id}", field="to_bed_id")
    if bed.id == stay.bed_id:
        raise InvalidInput("the occupant is already in that bed", field="to_bed_id")
    fac = session.get(Facility, bed.facility_id)
    assert fac is not None
    if fac.kind != FacilityKind.ISOLATION_POINT:
        raise InvalidInput(f"{fac.name} is not an isolation point", field="to_bed_id")
    _check_unit(session, actor, fac.unit_id, "to_bed_id")
    if not bed.usable or _active_stay_of_bed(session, bed.id) is not None:
        raise Conflict(f"bed {bed_label(session, bed)} is not free", field="to_bed_id")
    when = as_utc(at) if at else utcnow()
    if when < stay.started_at:
        raise InvalidInput("the transfer is before the current stay began", field="at")
    stay.ended_at = when
    stay.end_reason = "moved"
    session.flush()
    new = Stay(followup_id=fu.id, bed_id=bed.id, room_id=bed.room_id, facility_id=fac.id, started_at=when)
    session.add(new)
    fu.facility_id = fac.id
    fu.unit_id = fac.unit_id
    _flush_unique(session, f"bed {bed.id} was just given to someone else")
    audit.record(
        session,
        actor,
        "facilities.transfer",
        "followup",
        fu.id,
        {"from_bed_id": stay.bed_id, "to_bed_id": bed.id},
    )
    return new


@dataclass
class ReleaseResult:
    followup: Followup
    next_followup: Followup | None
    task_id: int | None


def release(
    session: Session,
    actor: Actor,
    followup_id: int,
    *,
    at: datetime | None = None,
    reason: str = "期满解除",
    policy: Policy | None = None,
) -> ReleaseResult:
    """Release a follow-up. After central quarantine the person goes on to home monitoring in the home
    village (policy ``home_after_central``) and the village gets a task to take over control."""
    pol = policy or builtin_policy()
    fu = get_followup(session, followup_id, actor if isinstance(actor, User) else None)
    if fu.state != FollowupState.ACTIVE:
        raise Conflict(f"follow-up {fu.id} is already {fu.state.value}", field="followup_id")
    when = as_utc(at) if at else utcnow()
    if when < fu.started_at:
        raise InvalidInput(
            f"release at {when.isoformat()} is before admission at {fu.started_at.isoformat()}", field="at"
        )
    if when > utcnow() + timedelta(minutes=5):
        raise InvalidInput("release time is in the future", field="at")
    stay = current_stay(session, fu.id)
    if stay is not None:
        stay.ended_at = when
        stay.end_reason = "released"
    fu.state = FollowupState.RELEASED
    fu.ended_at = when
    fu.end_reason = (reason or "").strip()[:200] or None
    session.flush()
    audit.record(
        session,
        actor,
        "facilities.release",
        "followup",
        fu.id,
        {"person_id": fu.person_id, "measure": fu.measure.value, "reason": fu.end_reason},
    )
    nxt: Followup | None = None
    task_id: int | None = None
    if fu.measure == Measure.CENTRAL and pol.after_central is not None and pol.after_central_days > 0:
        person = session.get(Person, fu.person_id)
        assert person is not None
        nxt = start_followup(
            session,
            "facilities",
            person.id,
            pol.after_central,
            at=when,
            key_person_id=fu.key_person_id,
            days=pol.after_central_days,
            previous_id=fu.id,
            policy=pol,
        )
        fac = session.get(Facility, fu.facility_id) if fu.facility_id else None
        what = "居家健康监测" if pol.after_central == Measure.MONITORING else "居家隔离"
        task = create_task(
            session,
            kind=TaskKind.CONTACT_QUARANTINE,
            unit_id=person.village_id,
            title=f"接回管控：{person.name} 解除集中隔离，{what}{pol.after_central_days}天",
            description=(
                f"{person.name}（{person.id_number_masked or '—'}）于 {local_day(when)} 从"
                f"{fac.name if fac else '集中隔离点'}解除集中隔离，请村居落实{what}"
                f"至 {local_day(nxt.planned_end_at)}，每日两次体温与症状随访。"
            ),
            priority=Priority.HIGH,
            subject_type=SubjectType.PERSON,
            subject_id=person.id,
            source="facilities",
            actor="facilities",
        )
        task_id = task.id
    return ReleaseResult(fu, nxt, task_id)


# ---- capacity and free beds ----------------------------------------------------------------------
@dataclass
class CapacityRow:
    facility_id: int
    name: str
    unit_id: int
    lat: float
    lon: float
    beds: int
    usable: int
    occupied: int

    @property
    def free(self) -> int:
        return max(self.usable - self.occupied, 0)


def capacity(session: Session, user: User | None = None) -> list[CapacityRow]:
    """Beds, usable beds and occupied beds per isolation point (in the user's jurisdiction)."""
    stmt = (
        select(Facility, Place)
        .join(Place, Place.id == Facility.place_id)
        .where(Facility.kind == FacilityKind.ISOLATION_POINT, Facility.active.is_(True))
    )
    clause = jurisdiction_clause(user, Facility.unit_id) if user is not None else None
    if clause is not None:
        stmt = stmt.where(clause)
    facs = session.execute(stmt.order_by(Facility.id)).all()
    beds = dict(session.execute(select(Bed.facility_id, func.count()).group_by(Bed.facility_id)).all())
    usable = dict(
        session.execute(
            select(Bed.facility_id, func.count()).where(Bed.usable.is_(True)).group_by(Bed.facility_id)
        ).all()
    )
    occ = dict(
        session.execute(
            select(Stay.facility_id, func.count()).where(Stay.ended_at.is_(None)).group_by(Stay.facility_id)
        ).all()
    )
    return [
        CapacityRow(
            f.id, f.name, f.unit_id, p.lat, p.lon, beds.get(f.id, 0), usable.get(f.id, 0), occ.get(f.id, 0)
        )
        for f, p in facs
    ]


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat1 - lat2) * 111.2
    dx = (lon1 - lon2) * 111.2 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


@dataclass
class FreeBed:
    facility_id: int
    facility_name: str
    bed_id: int
    label: str
    distance_km: float | None
    free_beds: int


def find_free_bed(session: Session, user: User | None = None, near_unit_id: int | None = None) -> FreeBed:
    """A free bed district-wide (or in the user's jurisdiction): at the point nearest to
    ``near_unit_id`` when given, else at the point with the most free beds."""
    rows = [r for r in capacity(session, user) if r.free > 0]
    if not rows:
        raise NotFound("no free bed in any isolation point", field="near_unit_id")
    dist: dict[int, float] = {}
    if near_unit_id is not None:
        unit = session.get(AdminUnit, near_unit_id)
        if unit is None:
            raise InvalidInput(f"unknown administrative unit {near_unit_id}", field="near_unit_id")
        dist = {r.facility_id: _km(unit.lat, unit.lon, r.lat, r.lon) for r in rows}
        rows.sort(key=lambda r: (dist[r.facility_id], -r.free))
    else:
        rows.sort(key=lambda r: -r.free)
    best = rows[0]
    bed = session.scalars(_free_beds(best.facility_id).limit(1)).first()
    assert bed is not None
    return FreeBed(
        best.facility_id,
        best.name,
        bed.id,
        bed_label(session, bed),
        round(dist[best.facility_id], 2) if dist else None,
        best.free,
    )


def occupants(session: Session, facility_id: int) -> list[tuple[Followup, Stay, Person]]:
    stmt = (
        select(Followup, Stay, Person)
        .join(Stay, Stay.followup_id == Followup.id)
        .join(Person, Person.id == Followup.person_id)
        .where(Stay.facility_id == facility_id, Stay.ended_at.is_(None))
        .order_by(Stay.bed_id)
    )
    return [(f, s, p) for f, s, p in session.execute(stmt)]

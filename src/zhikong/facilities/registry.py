"""The key-person registry (``screening.KeyPerson``) and the facilities: admit a registered key person,
keep the registry's measure in step on admission and release, and open a village follow-up for every
active key person under home quarantine or health monitoring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.core.time import day_bounds_utc, local_day, utcnow
from zhikong.facilities import service
from zhikong.facilities.models import Followup, FollowupState, Measure, Stay
from zhikong.facilities.policy import Policy
from zhikong.screening.models import ControlMeasure, KeyPerson, KeyStatus

TO_REGISTRY = {
    Measure.CENTRAL: ControlMeasure.CENTRAL_QUARANTINE,
    Measure.HOME: ControlMeasure.HOME_QUARANTINE,
    Measure.MONITORING: ControlMeasure.HEALTH_MONITORING,
}
FROM_REGISTRY = {v: k for k, v in TO_REGISTRY.items()}


def _key_person(session: Session, key_person_id: int) -> KeyPerson:
    kp = session.get(KeyPerson, key_person_id)
    if kp is None:
        raise NotFound(f"no key person {key_person_id}", field="key_person_id")
    if kp.status != KeyStatus.ACTIVE:
        raise InvalidInput(
            f"key person {kp.id} is {kp.status.value}, not under control", field="key_person_id"
        )
    if kp.person_id is None:
        raise InvalidInput(
            f"key person {kp.id} is not linked to the resident ledger; link them first", field="key_person_id"
        )
    return kp


def admit_key_person(
    session: Session,
    actor: service.Actor,
    key_person_id: int,
    *,
    bed_id: int | None = None,
    facility_id: int | None = None,
    at: datetime | None = None,
    policy: Policy | None = None,
) -> tuple[Followup, Stay]:
    """Admit a registered key person to central quarantine; the registry's measure follows."""
    kp = _key_person(session, key_person_id)
    assert kp.person_id is not None
    fu, stay = service.admit(
        session,
        actor,
        kp.person_id,
        bed_id=bed_id,
        facility_id=facility_id,
        at=at,
        key_person_id=kp.id,
        policy=policy,
    )
    sync_registry(session, fu)
    return fu, stay


def sync_registry(session: Session, fu: Followup, nxt: Followup | None = None) -> None:
    """Bring the key person of ``fu`` in line with the follow-up (measure, end date, status)."""
    if fu.key_person_id is None:
        return
    kp = session.get(KeyPerson, fu.key_person_id)
    if kp is None:
        return
    before = (kp.measure.value, kp.status.value, kp.end_date)
    current = nxt if nxt is not None else fu
    if current.state == FollowupState.ACTIVE:
        kp.measure = TO_REGISTRY[current.measure]
        kp.end_date = local_day(current.planned_end_at)
        kp.status = KeyStatus.ACTIVE
    else:
        kp.status = KeyStatus.RELEASED
        kp.end_date = local_day(current.ended_at or utcnow())
    session.flush()
    audit.record(
        session,
        "facilities",
        "facilities.registry_sync",
        "key_person",
        kp.id,
        {"before": before, "measure": kp.measure.value, "status": kp.status.value, "end_date": kp.end_date},
    )


def release_key_person(
    session: Session,
    actor: service.Actor,
    followup_id: int,
    *,
    at: datetime | None = None,
    reason: str = "期满解除",
    policy: Policy | None = None,
) -> service.ReleaseResult:
    """``service.release`` and the registry kept in step (the continued follow-up carries the key person)."""
    r = service.release(session, actor, followup_id, at=at, reason=reason, policy=policy)
    sync_registry(session, r.followup, r.next_followup)
    return r


def follow_registry(
    session: Session, actor: service.Actor = "facilities", policy: Policy | None = None
) -> int:
    """Open a village follow-up for each active key person under home quarantine or health monitoring
    (linked to the ledger) who has none yet, over the registry's dates. Returns how many were opened."""
    opened = 0
    active = select(Followup.person_id).where(Followup.state == FollowupState.ACTIVE)
    rows = session.scalars(
        select(KeyPerson)
        .where(
            KeyPerson.status == KeyStatus.ACTIVE,
            KeyPerson.person_id.is_not(None),
            KeyPerson.person_id.not_in(active),
            KeyPerson.measure.in_([ControlMeasure.HOME_QUARANTINE, ControlMeasure.HEALTH_MONITORING]),
        )
        .order_by(KeyPerson.id)
    ).all()
    today = local_day(utcnow())
    for kp in rows:
        if kp.end_date < today:
            continue
        assert kp.person_id is not None
        start = day_bounds_utc(kp.start_date)[0]
        days = max((kp.end_date - kp.start_date).days, 1)
        service.start_followup(
            session,
            actor,
            kp.person_id,
            FROM_REGISTRY[kp.measure],
            at=min(start, utcnow()),
            key_person_id=kp.id,
            days=days,
            policy=policy,
        )
        opened += 1
    return opened

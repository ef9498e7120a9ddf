"""Daily follow-up of everyone under a measure: twice-daily temperature and symptoms (staff entry,
self-report through a signed personal link, or a village visit), test results, and alerts for fever,
symptoms and missing checks (through ``alerts.service.intake`` with stable idempotency keys, so a
rerun of the sweep never raises the same alert twice)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.alerts.models import AlertKind, Severity
from zhikong.alerts.service import AlertIn, intake
from zhikong.auth.models import User
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, PermissionDenied
from zhikong.core.time import CHINA_TZ, as_utc, local_day, utcnow
from zhikong.facilities.models import (
    CheckSource,
    Facility,
    Followup,
    FollowupState,
    HealthCheck,
    LabOutcome,
    Measure,
    TestResult,
)
from zhikong.facilities.policy import Policy, builtin_policy
from zhikong.facilities.service import day_number, get_followup
from zhikong.people.models import Person

SYMPTOMS = {
    "fever": "发热",
    "cough": "咳嗽",
    "sore_throat": "咽痛",
    "fatigue": "乏力",
    "diarrhoea": "腹泻",
    "loss_of_smell": "嗅味觉减退",
    "short_breath": "呼吸困难",
    "muscle_ache": "肌肉酸痛",
}
MEASURE_ZH = {Measure.CENTRAL: "集中隔离", Measure.HOME: "居家隔离", Measure.MONITORING: "居家健康监测"}
_SALT = "zhikong.facilities.self-report"


def _alert_target(session: Session, fu: Followup) -> tuple[int | None, int | None]:
    """``(place_id, unit_id)`` to route an alert: the facility's place, else the village."""
    if fu.facility_id is not None:
        fac = session.get(Facility, fu.facility_id)
        if fac is not None:
            return fac.place_id, None
    return None, fu.unit_id


def slot_of(at: datetime, policy: Policy) -> str:
    """``am`` before the am deadline (local), else ``pm``."""
    t = as_utc(at).astimezone(CHINA_TZ).time()
    return "am" if t < policy.slots["am"] else "pm"


def _symptoms(values: list[str] | str | None) -> list[str]:
    items = values.split(",") if isinstance(values, str) else list(values or [])
    out: list[str] = []
    for s in (x.strip() for x in items):
        if not s:
            continue
        if s not in SYMPTOMS:
            raise InvalidInput(f"unknown symptom {s!r}; one of {', '.join(SYMPTOMS)}", field="symptoms")
        if s not in out:
            out.append(s)
    return out


@dataclass
class CheckResult:
    check: HealthCheck
    alert_id: int | None


def record_check(
    session: Session,
    actor: User | str | None,
    followup_id: int,
    *,
    temperature: float,
    symptoms: list[str] | str | None = None,
    source: CheckSource = CheckSource.STAFF,
    measured_at: datetime | None = None,
    slot: str | None = None,
    note: str | None = None,
    policy: Policy | None = None,
) -> CheckResult:
    """Record one check; fever (≥ threshold) or symptoms raise an alert for the responsible unit."""
    pol = policy or builtin_policy()
    fu = get_followup(session, followup_id, actor if isinstance(actor, User) else None)
    if fu.state != FollowupState.ACTIVE:
        raise Conflict(f"follow-up {fu.id} is {fu.state.value}; no more checks", field="followup_id")
    if not isinstance(temperature, int | float) or temperature != temperature:
        raise InvalidInput("temperature must be a number", field="temperature")
    lo, hi = pol.temperature_range
    if not 34.0 <= temperature <= 43.0 or not lo <= temperature <= hi:
        raise InvalidInput(
            f"temperature {temperature} °C is not a plausible body temperature (34–43)", field="temperature"
        )
    now = utcnow()
    when = as_utc(measured_at) if measured_at else now
    if when > now + timedelta(minutes=5):
        raise InvalidInput("measured_at is in the future", field="measured_at")
    if when < fu.started_at - timedelta(hours=1):
        raise InvalidInput("measured_at is before the measure began", field="measured_at")
    slot = slot or slot_of(when, pol)
    if slot not in ("am", "pm"):
        raise InvalidInput("slot must be am or pm", field="slot")
    day = local_day(when)
    syms = _symptoms(symptoms)
    abnormal = temperature >= pol.fever_threshold or bool(syms)
    if session.scalar(
        select(HealthCheck.id).where(
            HealthCheck.followup_id == fu.id, HealthCheck.day == day, HealthCheck.slot == slot
        )
    ):
        raise Conflict(f"the {slot} check of {day} is already recorded for follow-up {fu.id}", field="slot")
    chk = HealthCheck(
        followup_id=fu.id,
        day=day,
        slot=slot,
        temperature=round(float(temperature), 1),
        symptoms=",".join(syms),
        abnormal=abnormal,
        source=source,
        recorded_by_id=actor.id if isinstance(actor, User) else None,
        measured_at=when,
        note=(note or "").strip()[:500] or None,
    )
    session.add(chk)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as e:  # the unique (followup, day, slot) raced
        raise Conflict(f"the {slot} check of {day} was just recorded by someone else", field="slot") from e
    alert_id = None
    if abnormal:
        person = session.get(Person, fu.person_id)
        fever = temperature >= pol.fever_threshold
        what = f"体温 {temperature:.1f}℃" + (
            "，症状：" + "、".join(SYMPTOMS[s] for s in syms) if syms else ""
        )
        target = _alert_target(session, fu)
        alert, _ = intake(
            session,
            AlertIn(
                idempotency_key=f"hc:{chk.id}",
                kind=AlertKind.FEVER if fever else AlertKind.OTHER,
                occurred_at=when,
                severity=Severity.CRITICAL if fever else Severity.WARNING,
                title=f"{MEASURE_ZH[fu.measure]}人员异常：{person.name if person else fu.person_id} {what}"[
                    :200
                ],
                description=f"follow-up {fu.id}, {day} {slot}, source {source.value}",
                source="facilities.checks",
                place_id=target[0],
                unit_id=target[1],
            ),
        )
        alert_id = alert.id
    audit.record(
        session,
        actor or "self-report",
        "facilities.check",
        "followup",
        fu.id,
        {"day": day, "slot": slot, "abnormal": abnormal, "source": source.value},
    )
    return CheckResult(chk, alert_id)


def record_test(
    session: Session,
    actor: User | str | None,
    followup_id: int,
    *,
    outcome: LabOutcome,
    sampled_at: datetime | None = None,
    day: int | None = None,
) -> TestResult:
    fu = get_followup(session, followup_id, actor if isinstance(actor, User) else None)
    when = as_utc(sampled_at) if sampled_at else utcnow()
    if when < fu.started_at - timedelta(hours=1):
        raise InvalidInput("the sample is from before the measure began", field="sampled_at")
    if when > utcnow() + timedelta(minutes=5):
        raise InvalidInput("sampled_at is in the future", field="sampled_at")
    n = day if day is not None else day_number(fu, when)
    existing = session.scalar(
        select(TestResult).where(TestResult.followup_id == fu.id, TestResult.day_number == n)
    )
    if existing is not None:
        if existing.outcome != LabOutcome.PENDING:
            raise Conflict(
                f"the day-{n} test of follow-up {fu.id} is already {existing.outcome.value}", field="day"
            )
        existing.outcome = outcome
        existing.sampled_at = when
        res = existing
    else:
        res = TestResult(
            followup_id=fu.id,
            day_number=n,
            sampled_at=when,
            outcome=outcome,
            recorded_by_id=actor.id if isinstance(actor, User) else None,
        )
        session.add(res)
    session.flush()
    if outcome == LabOutcome.POSITIVE:
        person = session.get(Person, fu.person_id)
        target = _alert_target(session, fu)
        intake(
            session,
            AlertIn(
                idempotency_key=f"test:{res.id}:positive",
                kind=AlertKind.OTHER,
                occurred_at=when,
                severity=Severity.CRITICAL,
                title=f"核酸阳性：{person.name if person else fu.person_id}"
                f"（{MEASURE_ZH[fu.measure]}第{n}天）",
                source="facilities.tests",
                place_id=target[0],
                unit_id=target[1],
            ),
        )
    audit.record(session, actor, "facilities.test", "followup", fu.id, {"day": n, "outcome": outcome.value})
    return res


def _slot_deadline(day: date, slot: str, pol: Policy) -> datetime:
    return datetime.combine(day, pol.slots[slot], tzinfo=CHINA_TZ).astimezone(UTC)


def sweep_missing(session: Session, now: datetime | None = None, policy: Policy | None = None) -> int:
    """Raise an alert for every slot of an active follow-up whose deadline passed without a check
    (since the follow-up began). Returns the number of alerts raised now (reruns raise none)."""
    pol = policy or builtin_policy()
    now = as_utc(now) if now else utcnow()
    raised = 0
    for fu in session.scalars(select(Followup).where(Followup.state == FollowupState.ACTIVE)):
        have = {
            (d, s)
            for d, s in session.execute(
                select(HealthCheck.day, HealthCheck.slot).where(HealthCheck.followup_id == fu.id)
            )
        }
        day = local_day(fu.started_at)
        end = min(local_day(now), local_day(fu.planned_end_at))
        while day <= end:
            for slot in ("am", "pm"):
                deadline = _slot_deadline(day, slot, pol)
                if deadline <= fu.started_at or deadline > now or (day, slot) in have:
                    continue
                person = session.get(Person, fu.person_id)
                target = _alert_target(session, fu)
                _, outcome = intake(
                    session,
                    AlertIn(
                        idempotency_key=f"hc-missing:{fu.id}:{day}:{slot}",
                        kind=AlertKind.OTHER,
                        occurred_at=deadline,
                        severity=Severity.WARNING,
                        title=f"未按时测温：{person.name if person else fu.person_id} {day} "
                        f"{'上午' if slot == 'am' else '下午'}（{MEASURE_ZH[fu.measure]}）",
                        description=f"follow-up {fu.id}",
                        source="facilities.checks",
                        place_id=target[0],
                        unit_id=target[1],
                    ),
                )
                raised += outcome != "replayed"
            day += timedelta(days=1)
    return raised


def schedule(fu: Followup) -> list[tuple[int, date]]:
    first = local_day(fu.started_at)
    return [(int(d), first + timedelta(days=int(d) - 1)) for d in fu.test_days.split(",") if d]


# ---- self-report links ------------------------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_bytes(), salt=_SALT)


def self_report_token(fu: Followup) -> str:
    return _serializer().dumps({"f": fu.id, "p": fu.person_id})


def followup_for_token(session: Session, token: str, policy: Policy | None = None) -> Followup:
    """The follow-up of a personal link; ``PermissionDenied`` when forged, expired or ended."""
    pol = policy or builtin_policy()
    ser = _serializer()
    try:
        data, signed_at = ser.loads(token, return_timestamp=True)
    except SignatureExpired as e:
        raise PermissionDenied("this self-report link has expired") from e
    except BadSignature as e:
        raise PermissionDenied("this self-report link is not valid") from e
    fu = session.get(Followup, int(data.get("f", 0))) if isinstance(data, dict) else None
    if fu is None or fu.person_id != data.get("p"):
        raise PermissionDenied("this self-report link is not valid")
    expires = fu.planned_end_at + timedelta(days=pol.link_days_after_end)
    if fu.state != FollowupState.ACTIVE or utcnow() > expires:
        raise PermissionDenied("this self-report link has expired (the measure has ended)")
    if as_utc(signed_at) < fu.started_at - timedelta(minutes=5):
        raise PermissionDenied("this self-report link is not valid")
    return fu

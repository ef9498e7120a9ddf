"""Enterprise rules: registration of enterprises and employees, access, QR tokens, dashboards, the
town view and village tasks for red employees. No web or CLI imports."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhikong.auth.models import Role, User
from zhikong.auth.service import unit_in_jurisdiction
from zhikong.core.config import get_settings
from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from zhikong.core.time import utcnow
from zhikong.enterprise.models import (
    Audience,
    Employee,
    Enterprise,
    EnterpriseAdmin,
    Level,
    Notification,
    RiskResult,
    RosterEntry,
)
from zhikong.enterprise.policy import load_policy
from zhikong.geo.models import AdminUnit
from zhikong.people import idcard
from zhikong.people import phone as phones
from zhikong.people.models import Person

#: the consent text shown on the registration page; its version is stored with each registration
CONSENT_VERSION = "2026-11-v1"
CONSENT_TEXT = (
    "我同意本企业和属地疫情防控指挥部使用我填写的姓名、身份证号和手机号，"
    "结合行程、通信大数据、密切接触和隔离管控记录，判定我的疫情风险等级，仅用于疫情防控。"
    "企业只能看到风险等级和原因类别，看不到我的行程。"
)
QR_SALT = "zhikong-enterprise-qr"


# ---- enterprises and admins ----------------------------------------------------------------------

def create_enterprise(session: Session, *, name: str, town_code: str, address: str = "",
                      credit_code: str | None = None, village_code: str | None = None,
                      contact_name: str | None = None, contact_phone: str | None = None,
                      actor: User | None = None) -> Enterprise:
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidInput("企业名称为空或过长 / name is empty or longer than 128", field="name")
    town = session.scalar(select(AdminUnit).where(AdminUnit.code == town_code))
    if town is None:
        raise InvalidInput(f"未知镇街编码 {town_code} / unknown town code", field="town_code")
    village_id = None
    if village_code:
        village = session.scalar(select(AdminUnit).where(AdminUnit.code == village_code))
        if village is None or not village.code.startswith(town.code.rstrip("0")[:9]):
            raise InvalidInput(f"村居编码 {village_code} 不在该镇街 / village not in town",
                               field="village_code")
        village_id = village.id
    if actor is not None and not unit_in_jurisdiction(session, actor, village_id or town.id):
        raise PermissionDenied("该镇街不在您的辖区 / town outside your jurisdiction", field="town_code")
    if session.scalar(select(Enterprise.id).where(Enterprise.town_id == town.id,
                                                  Enterprise.name == name)) is not None:
        raise Conflict(f"企业 {name} 已登记 / enterprise already registered", field="name")
    ent = Enterprise(name=name, town_id=town.id, village_id=village_id, address=address.strip(),
                     credit_code=(credit_code or None), contact_name=contact_name,
                     contact_phone=contact_phone)
    session.add(ent)
    session.flush()
    return ent


def bind_admin(session: Session, enterprise_id: int, user: User) -> EnterpriseAdmin:
    if user.role != Role.ENTERPRISE_ADMIN:
        raise InvalidInput("只有企业管理员角色可绑定企业 / user must have the enterprise_admin role",
                           field="username")
    if session.scalar(select(EnterpriseAdmin).where(EnterpriseAdmin.user_id == user.id)) is not None:
        raise Conflict("该用户已绑定企业 / user already bound to an enterprise", field="username")
    get_enterprise(session, enterprise_id)
    row = EnterpriseAdmin(enterprise_id=enterprise_id, user_id=user.id)
    session.add(row)
    session.flush()
    return row


def get_enterprise(session: Session, enterprise_id: int) -> Enterprise:
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        raise NotFound(f"企业 {enterprise_id} 不存在 / no such enterprise")
    return ent


def admin_enterprise_id(session: Session, user: User) -> int | None:
    return session.scalar(select(EnterpriseAdmin.enterprise_id).where(EnterpriseAdmin.user_id == user.id))


def visible_enterprise(session: Session, user: User, enterprise_id: int) -> Enterprise:
    """The enterprise if ``user`` may see it, else :class:`NotFound` (never says it exists).

    Enterprise admins see their own enterprise only; staff see the enterprises in their jurisdiction."""
    ent = session.get(Enterprise, enterprise_id)
    if ent is None:
        raise NotFound("企业不存在或无权查看 / no such enterprise")
    if user.role == Role.ENTERPRISE_ADMIN:
        if admin_enterprise_id(session, user) != ent.id:
            raise NotFound("企业不存在或无权查看 / no such enterprise")
        return ent
    if not unit_in_jurisdiction(session, user, ent.village_id or ent.town_id):
        raise NotFound("企业不存在或无权查看 / no such enterprise")
    return ent


def visible_enterprises(session: Session, user: User) -> list[Enterprise]:
    if user.role == Role.ENTERPRISE_ADMIN:
        eid = admin_enterprise_id(session, user)
        return [] if eid is None else [get_enterprise(session, eid)]
    ents = session.scalars(select(Enterprise).order_by(Enterprise.id)).all()
    return [e for e in ents if unit_in_jurisdiction(session, user, e.village_id or e.town_id)]


# ---- QR tokens -----------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_bytes(), salt=QR_SALT)


def qr_token(enterprise_id: int) -> str:
    return _serializer().dumps({"e": enterprise_id})


def registration_url(enterprise_id: int) -> str:
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/enterprise/r/{qr_token(enterprise_id)}"


def enterprise_for_token(session: Session, token: str, *, now: datetime | None = None) -> Enterprise:
    """The enterprise of a QR token; forged, damaged or expired tokens say so."""
    max_age = get_settings().enterprise_qr_days * 86400
    ser = _serializer()
    try:
        if now is None:
            data = ser.loads(token, max_age=max_age)
        else:
            data, signed_at = ser.loads(token, max_age=None, return_timestamp=True)
            if (now - signed_at).total_seconds() > max_age:
                raise SignatureExpired("expired")
    except SignatureExpired as e:
        raise InvalidInput("二维码已过期，请向企业索取新的二维码 / this QR code has expired",
                           field="token") from e
    except BadSignature as e:
        raise InvalidInput("二维码无效（不是本平台签发的）/ this QR code is not valid",
                           field="token") from e
    eid = data.get("e") if isinstance(data, dict) else None
    ent = session.get(Enterprise, eid) if isinstance(eid, int) else None
    if ent is None:
        raise InvalidInput("二维码对应的企业不存在 / the enterprise of this code no longer exists",
                           field="token")
    return ent


# ---- employee self-registration -------------------------------------------------------------------

@dataclass
class Registration:
    name: str = ""
    id_number: str = ""
    phone: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def validate_registration(name: str | None, id_number: str | None, phone: str | None,
                          consent: bool) -> Registration:
    """Every field checked; ``errors`` maps field → message (all of them at once, for the form)."""
    reg = Registration()
    clean = " ".join((name or "").split())
    if not clean:
        reg.errors["name"] = "请填写姓名 / name is empty"
    elif len(clean) > 64:
        reg.errors["name"] = "姓名过长（最多 64 字）/ name is longer than 64 characters"
    reg.name = clean
    try:
        reg.id_number = idcard.normalise(id_number or "")
    except InvalidInput as e:
        reg.errors["id_number"] = str(e)
    try:
        reg.phone = phones.normalise(phone or "")
    except InvalidInput as e:
        reg.errors["phone"] = str(e)
    if not consent:
        reg.errors["consent"] = "须同意上述数据使用说明才能登记 / consent is required to register"
    return reg


def link_person(session: Session, id_hash: str, phone_hash: str, name: str) -> tuple[Person | None, str]:
    """Link to the ledger with the screening linkage's deterministic top levels: an exact valid ID
    number (keyed hash), else the same phone and the same name. Anything weaker stays unlinked
    (a non-resident employee is still registered)."""
    person = session.scalar(select(Person).where(Person.id_number_hash == id_hash))
    if person is not None:
        return person, "id_exact"
    cands = session.scalars(select(Person).where(Person.phone_hash == phone_hash, Person.name == name)
                            .limit(2)).all()
    if len(cands) == 1:
        return cands[0], "phone_name"
    return None, "none"


@dataclass
class RegistrationResult:
    employee: Employee
    created: bool
    #: the personal link token (only handed out on creation or when ID and phone both match)
    link_token: str | None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_employee(session: Session, enterprise: Enterprise, reg: Registration,
                      *, recompute_now: bool = True) -> RegistrationResult:
    """Register a validated employee once per (enterprise, ID number); a repeat is the same row."""
    if reg.errors:
        first = next(iter(reg.errors))
        raise InvalidInput(reg.errors[first], field=first)
    cipher = get_cipher()
    id_hash = cipher.keyed_hash(reg.id_number)
    phone_hash = cipher.keyed_hash(reg.phone)
    existing = session.scalar(select(Employee).where(Employee.enterprise_id == enterprise.id,
                                                     Employee.id_number_hash == id_hash))
    if existing is not None:
        return _repeat(session, existing, phone_hash)
    person, method = link_person(session, id_hash, phone_hash, reg.name)
    token = secrets.token_urlsafe(24)
    now = utcnow()
    level, version, computed = Level.GREEN, "", None
    reasons: list[str] = []
    if recompute_now:
        # the result from the risk marks of this person's own keys (no lake scan per request);
        # someone without marks yet is picked up by the next recompute
        from zhikong.enterprise.risk import categories_for, employee_keys

        policy = load_policy()
        reasons = policy.reasons(categories_for(
            session, employee_keys(id_hash, phone_hash, person.id if person else None), now))
        level, version, computed = policy.level_of(reasons), policy.version, now
    emp = Employee(enterprise_id=enterprise.id, person_id=person.id if person else None,
                   link_method=method, name=reg.name,
                   id_number_enc=cipher.encrypt(reg.id_number), id_number_hash=id_hash,
                   id_number_masked=mask_middle(reg.id_number, 4, 4),
                   phone_enc=cipher.encrypt(reg.phone), phone_hash=phone_hash,
                   phone_masked=phones.mask(reg.phone),
                   home_village_id=person.village_id if person else None,
                   consent_version=CONSENT_VERSION, consent_at=now,
                   link_token_hash=_token_hash(token), level=level, reasons=reasons,
                   policy_version=version, computed_at=computed, registered_at=now)
    try:
        with session.begin_nested():
            session.add(emp)
            session.flush()
    except IntegrityError:
        # a concurrent double submit won the race: the same employee
        existing = session.scalar(select(Employee).where(Employee.enterprise_id == enterprise.id,
                                                         Employee.id_number_hash == id_hash))
        if existing is None:
            raise
        return _repeat(session, existing, phone_hash)
    if level != Level.GREEN:  # rare: history from the first result, a village task when red
        session.add(RiskResult(employee_id=emp.id, enterprise_id=enterprise.id, level=level,
                               previous_level=None, reasons=reasons, policy_version=version,
                               computed_at=now))
        emp.level_changed_at = now
        session.flush()
        if level == Level.RED:
            from zhikong.enterprise.town import red_tasks

            red_tasks(session, [emp.id])
    return RegistrationResult(emp, True, token)


def _repeat(session: Session, emp: Employee, phone_hash: str) -> RegistrationResult:
    token = None
    if emp.phone_hash == phone_hash:
        token = secrets.token_urlsafe(24)
        emp.link_token_hash = _token_hash(token)
        session.flush()
    return RegistrationResult(emp, False, token)


def employee_for_link(session: Session, token: str) -> Employee:
    emp = session.scalar(select(Employee).where(Employee.link_token_hash == _token_hash(token)))
    if emp is None:
        raise NotFound("链接无效或已更新，请重新扫码登记 / this personal link is not valid")
    return emp


def notifications(session: Session, enterprise_id: int, audience: Audience,
                  employee_id: int | None = None, limit: int = 50) -> list[Notification]:
    stmt = select(Notification).where(Notification.enterprise_id == enterprise_id,
                                      Notification.audience == audience)
    if employee_id is not None:
        stmt = stmt.where(Notification.employee_id == employee_id)
    return list(session.scalars(stmt.order_by(Notification.id.desc()).limit(limit)))


# ---- dashboard -----------------------------------------------------------------------------------

def employee_view(emp: Employee, locale: str = "zh_CN") -> dict[str, Any]:
    """What an enterprise may see of an employee: masked identifiers, level, reason categories."""
    policy = load_policy()
    return {"id": emp.id, "name": emp.name, "id_number": emp.id_number_masked,
            "phone": emp.phone_masked, "level": emp.level.value,
            "reasons": list(emp.reasons or []),
            "reason_labels": [policy.label(c, locale) for c in emp.reasons or []],
            "registered_at": emp.registered_at.isoformat(),
            "level_changed_at": emp.level_changed_at.isoformat() if emp.level_changed_at else None}


def summary(session: Session, enterprise: Enterprise, now: datetime | None = None,
            locale: str = "zh_CN") -> dict[str, Any]:
    now = now or utcnow()
    counts = {lv.value: 0 for lv in Level}
    for lv, n in session.execute(select(Employee.level, func.count()).where(
            Employee.enterprise_id == enterprise.id).group_by(Employee.level)):
        counts[str(lv)] = int(n)
    since = now - timedelta(days=1)
    changes = session.execute(
        select(RiskResult, Employee.name).join(Employee, Employee.id == RiskResult.employee_id)
        .where(RiskResult.enterprise_id == enterprise.id, RiskResult.computed_at >= since)
        .order_by(RiskResult.id.desc()).limit(200)).all()
    policy = load_policy()
    return {"enterprise": {"id": enterprise.id, "name": enterprise.name},
            "counts": counts, "total": sum(counts.values()),
            "changes": [{"employee_id": r.employee_id, "name": name,
                         "from": r.previous_level.value if r.previous_level else None,
                         "to": r.level.value, "reasons": r.reasons,
                         "reason_labels": [policy.label(c, locale) for c in r.reasons],
                         "at": r.computed_at.isoformat()} for r, name in changes],
            "not_registered": not_registered(session, enterprise)}


def employees(session: Session, enterprise: Enterprise, level: Level | None = None) -> list[Employee]:
    stmt = select(Employee).where(Employee.enterprise_id == enterprise.id)
    if level is not None:
        stmt = stmt.where(Employee.level == level)
    return list(session.scalars(stmt.order_by(Employee.id)))


def not_registered(session: Session, enterprise: Enterprise) -> list[dict[str, Any]]:
    registered = select(Employee.id_number_hash).where(Employee.enterprise_id == enterprise.id)
    rows = session.scalars(select(RosterEntry).where(
        RosterEntry.enterprise_id == enterprise.id,
        RosterEntry.id_number_hash.not_in(registered)).order_by(RosterEntry.id)).all()
    return [{"name": r.name, "id_number": r.id_number_masked, "department": r.department}
            for r in rows]

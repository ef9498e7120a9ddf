"""Netizen reports 网民举报: public submission with abuse protection, 12345 hotline CSV import, the
district's triage (link to a person or place, hand to a unit as a task) and the published answer.

Abuse protection: a signed arithmetic challenge (HMAC with the installation secret, 10-minute expiry,
each challenge accepted once), a per-IP sliding-window rate limit (both kept in the database, so
several server processes share them), text/photo size limits, photos
checked by magic bytes (``tasks.files``), and the same text+place within a day refused as a duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhikong import audit
from zhikong.auth.models import User
from zhikong.auth.service import require_unit
from zhikong.core.config import get_settings
from zhikong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RowError, RowErrors
from zhikong.core.time import as_utc, utcnow
from zhikong.geo.models import AdminUnit, Place, UnitLevel
from zhikong.geo.service import try_locate
from zhikong.people.models import Person
from zhikong.reporting.models import NetizenGuard, NetizenPhoto, NetizenReport, NetizenStatus
from zhikong.tasks.files import store_image
from zhikong.tasks.models import Priority, SubjectType, TaskKind
from zhikong.tasks.service import create_task

MAX_TEXT = 2000
MIN_TEXT = 5
MAX_PHOTOS = 3
CHALLENGE_TTL = 600
RATE_LIMIT = 5  # submissions per IP per window
RATE_WINDOW = 600.0  # seconds
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class RateLimited(PermissionDenied):
    http_status = 429


# ---- abuse protection -----------------------------------------------------------------------
# Both marks live in the database (``NetizenGuard``), so every server process shares them: a
# challenge used in one process is refused in another, and the rate limit counts all attempts.
def _digest(text: str) -> str:
    return hmac.new(get_settings().secret_bytes(), text.encode(), hashlib.sha256).hexdigest()


def _prune(session: Session, now: datetime) -> None:
    session.execute(delete(NetizenGuard).where(NetizenGuard.expires_at < now))


def hit(session: Session, ip: str, now: datetime | None = None, *, limit: int = RATE_LIMIT,
        window: float = RATE_WINDOW) -> None:
    """Count one submission attempt from ``ip``; ``RateLimited`` (429) past ``limit`` in ``window``
    seconds. Concurrent attempts from one address in several processes may overshoot by the
    number in flight at once."""
    now = now or utcnow()
    key = _digest("ip:" + ip)
    since = now - timedelta(seconds=window)
    times = list(session.scalars(
        select(NetizenGuard.at)
        .where(NetizenGuard.kind == "hit", NetizenGuard.key == key, NetizenGuard.at > since)
        .order_by(NetizenGuard.at)
    ))
    if len(times) >= limit:
        wait = int((as_utc(times[-limit]) + timedelta(seconds=window) - now).total_seconds()) + 1
        raise RateLimited(f"too many reports from this address; try again in {wait} s / 提交过于频繁",
                          field="rate")
    session.add(NetizenGuard(kind="hit", key=key, nonce=secrets.token_hex(8), at=now,
                             expires_at=now + timedelta(seconds=window)))
    session.flush()


def _sign(payload: str) -> str:
    return hmac.new(get_settings().secret_bytes(), payload.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Challenge:
    question: str
    token: str


def new_challenge(now: float | None = None) -> Challenge:
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    expires = int((now or time.time()) + CHALLENGE_TTL)
    nonce = secrets.token_hex(6)
    payload = f"{a + b}.{expires}.{nonce}"
    return Challenge(question=f"{a} + {b} = ?", token=f"{expires}.{nonce}.{_sign(payload)}")


def check_challenge(session: Session, token: str, answer: str, now: float | None = None) -> None:
    """Accept a correct, unexpired, unused answer once; else ``InvalidInput`` (field ``challenge``)."""
    now = now or time.time()
    try:
        expires_s, nonce, sig = token.split(".")
        expires = int(expires_s)
        value = int(answer.strip())
    except (ValueError, AttributeError) as e:
        raise InvalidInput("answer the arithmetic question / 请填写算术题答案", field="challenge") from e
    if expires < now:
        raise InvalidInput("the question expired; reload the page / 验证题已过期", field="challenge")
    if not hmac.compare_digest(sig, _sign(f"{value}.{expires}.{nonce}")):
        raise InvalidInput("wrong answer to the arithmetic question / 算术题答案错误", field="challenge")
    used = "this question was already used; reload the page / 验证题已使用"
    key = _digest("challenge:" + token)
    if session.scalar(select(NetizenGuard.id).where(NetizenGuard.kind == "challenge",
                                                    NetizenGuard.key == key)):
        raise InvalidInput(used, field="challenge")
    at = datetime.fromtimestamp(now, UTC)
    session.add(NetizenGuard(kind="challenge", key=key, nonce="", at=at,
                             expires_at=datetime.fromtimestamp(expires, UTC)))
    try:
        session.flush()
    except IntegrityError as e:  # the same token in another process at the same moment
        raise InvalidInput(used, field="challenge") from e


def count_attempt(session: Session, ip: str) -> None:
    """The public form's first check, committed on its own: an attempt counts even when its
    challenge or the report is then refused. (Then ``check_challenge``, also on its own.)"""
    _prune(session, utcnow())
    hit(session, ip)


# ---- submission -----------------------------------------------------------------------------
def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        if session.scalar(select(NetizenReport.id).where(NetizenReport.code == code)) is None:
            return code


def _content_hash(text: str, address: str | None, lat: float | None, lon: float | None) -> str:
    norm = " ".join(text.split()) + "|" + (address or "").strip() + f"|{lat or ''}|{lon or ''}"
    return hashlib.sha256(norm.encode()).hexdigest()


def _resolve_unit(session: Session, address: str | None, lat: float | None, lon: float | None) -> int | None:
    if lat is not None and lon is not None:
        unit = try_locate(session, lat, lon)
        if unit is not None:
            return unit.id
    if address:
        for uid, name in session.execute(
            select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == UnitLevel.VILLAGE)
        ):
            if len(name) >= 2 and name in address:
                return int(uid)
        for uid, name in session.execute(
            select(AdminUnit.id, AdminUnit.name).where(AdminUnit.level == UnitLevel.TOWN)
        ):
            if len(name) >= 2 and name in address:
                return int(uid)
    return None


def submit(
    session: Session,
    *,
    text: str,
    address: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    photos: list[bytes] | None = None,
    ip: str | None = None,
    source: str = "web",
    external_no: str | None = None,
    created_at: datetime | None = None,
) -> NetizenReport:
    """Store one report (and its photos) or nothing; returns it with its follow-up ``code``."""
    now = created_at or utcnow()
    text = (text or "").strip()
    if len(text) < MIN_TEXT:
        raise InvalidInput(
            f"describe the problem in at least {MIN_TEXT} characters / 请描述问题", field="text"
        )
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters / 内容过长", field="text")
    address = (address or "").strip()[:255] or None
    if (lat is None) != (lon is None):
        raise InvalidInput("give both latitude and longitude", field="lat")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("the map position is out of range", field="lat")
    if address is None and lat is None:
        raise InvalidInput(
            "give an address or pick the place on the map / 请填写地址或在地图上选点", field="address"
        )
    photos = photos or []
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos", field="photos")
    digest = _content_hash(text, address, lat, lon)
    if session.scalar(
        select(NetizenReport.id).where(
            NetizenReport.content_hash == digest, NetizenReport.created_at >= now - timedelta(days=1)
        )
    ):
        raise Conflict("this report was already received / 该举报已提交，请勿重复提交", field="text")
    if external_no and session.scalar(
        select(NetizenReport.id).where(NetizenReport.external_no == external_no)
    ):
        raise Conflict(f"hotline ticket {external_no} was already imported", field="external_no")
    stored = [store_image(p, "netizen", field="photos") for p in photos]  # validates every photo first
    report = NetizenReport(
        code=_new_code(session),
        source=source,
        external_no=external_no,
        content_hash=digest,
        text=text,
        address=address,
        lat=lat,
        lon=lon,
        unit_id=_resolve_unit(session, address, lat, lon),
        status=NetizenStatus.NEW,
        ip_hash=hashlib.sha256((ip or "").encode()).hexdigest() if ip else None,
        created_at=now,
    )
    session.add(report)
    session.flush()
    for (path, ctype, sha), data in zip(stored, photos, strict=True):
        session.add(
            NetizenPhoto(report_id=report.id, content_type=ctype, size=len(data), sha256=sha, path=path)
        )
    audit.record(
        session,
        f"public:{source}",
        "netizen.submit",
        "netizen_report",
        report.id,
        {"unit_id": report.unit_id, "photos": len(photos)},
    )
    return report


def status_by_code(session: Session, code: str) -> NetizenReport:
    """What the reporter may see: status and the published answer (nothing about others)."""
    report = session.scalar(select(NetizenReport).where(NetizenReport.code == code.strip().upper()[:16]))
    if report is None:
        raise NotFound("no report with this follow-up code / 查询码不存在", field="code")
    return report


# ---- 12345 hotline import -------------------------------------------------------------------
HOTLINE_COLUMNS = ["工单编号", "受理时间", "诉求内容", "地址"]


def import_hotline_csv(session: Session, data: bytes, file_name: str) -> list[NetizenReport]:
    """Import a 12345 export (UTF-8 or GB18030 CSV, columns 工单编号,受理时间,诉求内容,地址): all or none."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030", errors="strict")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in HOTLINE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(
            f"{file_name}: missing column(s) {', '.join(missing)} (need {', '.join(HOTLINE_COLUMNS)})",
            field="file",
        )
    out: list[NetizenReport] = []
    errors: list[RowError] = []
    for n, row in enumerate(reader, start=2):
        try:
            at = as_utc(datetime.fromisoformat((row["受理时间"] or "").strip()))
        except ValueError:
            errors.append(
                RowError(n, "受理时间", "应为 ISO 时间，如 2026-11-20 09:30", row["受理时间"], file_name)
            )
            continue
        try:
            with session.begin_nested():
                out.append(
                    submit(
                        session,
                        text=row["诉求内容"] or "",
                        address=row["地址"],
                        source="hotline",
                        external_no=(row["工单编号"] or "").strip()[:32] or None,
                        created_at=at,
                    )
                )
        except (InvalidInput, Conflict) as e:
            errors.append(RowError(n, e.field or "row", e.message, None, file_name))
    if errors:
        raise RowErrors(errors=errors, file=file_name)
    return out


# ---- triage ---------------------------------------------------------------------------------
def queue(
    session: Session, status: NetizenStatus | None = NetizenStatus.NEW, limit: int = 200
) -> list[NetizenReport]:
    stmt = select(NetizenReport).order_by(NetizenReport.created_at.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(NetizenReport.status == status)
    return list(session.scalars(stmt))


def triage(
    session: Session,
    user: User,
    report_id: int,
    *,
    unit_id: int | None = None,
    person_id: int | None = None,
    place_code: str | None = None,
    priority: Priority | str = Priority.HIGH,
) -> NetizenReport:
    """Link the report to a person or place if known and hand it to a unit as a task."""
    if not user.sees_all:
        raise PermissionDenied("netizen reports are triaged at the district")
    report = session.get(NetizenReport, report_id)
    if report is None:
        raise NotFound(f"no netizen report {report_id}")
    if report.status != NetizenStatus.NEW:
        raise Conflict(f"report {report_id} was already triaged ({report.status.value})", field="status")
    subject: tuple[SubjectType, int | None] = (SubjectType.NONE, None)
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is None:
            raise InvalidInput(f"no person {person_id} in the ledger", field="person_id")
        report.person_id = person.id
        subject = (SubjectType.PERSON, person.id)
        unit_id = unit_id or person.village_id
    if place_code:
        place = session.scalar(select(Place).where(Place.code == place_code.strip()))
        if place is None:
            raise InvalidInput(f"no place {place_code!r}", field="place_code")
        report.place_id = place.id
        if subject[0] == SubjectType.NONE:
            subject = (SubjectType.PLACE, place.id)
        unit_id = unit_id or place.unit_id
    unit_id = unit_id or report.unit_id
    if unit_id is None:
        raise InvalidInput("choose the unit to hand this report to", field="unit_id")
    require_unit(session, user, unit_id)
    task = create_task(
        session,
        kind=TaskKind.CITIZEN_REPORT,
        unit_id=unit_id,
        priority=priority,
        subject_type=subject[0],
        subject_id=subject[1],
        source="netizen",
        actor=user,
        title=f"网民举报核查：{report.text[:40]}",
        description=f"{report.text}\n地址：{report.address or '-'}\n查询码：{report.code}",
    )
    report.unit_id, report.task_id, report.status = unit_id, task.id, NetizenStatus.ASSIGNED
    audit.record(session, user, "netizen.triage", "netizen_report", report.id, {"task_id": task.id})
    return report


def answer(session: Session, user: User, report_id: int, text: str, reject: bool = False) -> NetizenReport:
    """Publish the answer the reporter sees with their code."""
    if not user.sees_all:
        raise PermissionDenied("answers are published by the district")
    report = session.get(NetizenReport, report_id)
    if report is None:
        raise NotFound(f"no netizen report {report_id}")
    text = (text or "").strip()
    if not text:
        raise InvalidInput("the answer must not be empty", field="answer")
    report.answer = text[:MAX_TEXT]
    report.answered_at = utcnow()
    report.status = NetizenStatus.REJECTED if reject else NetizenStatus.ANSWERED
    audit.record(
        session, user, "netizen.answer", "netizen_report", report.id, {"status": report.status.value}
    )
    return report

"""HTML pages of the facilities (inside the command centre's layout): the capacity dashboard with the
free-bed finder, a point's occupants, the phone-friendly check form, and the public self-report page
behind a personal signed link. Templates live in ``facilities/templates`` and extend the web layout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from zhikong.auth.models import User
from zhikong.core.errors import ZhikongError
from zhikong.core.time import CHINA_TZ, local_day, utcnow
from zhikong.facilities import followup, service
from zhikong.facilities.mapdata import facilities_geojson
from zhikong.facilities.models import CheckSource, HealthCheck
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.web.deps import OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages.common import NAV, login_redirect, viewer
from zhikong.web.pages.templating import render

router = APIRouter(include_in_schema=False)
#: symptom codes with English message ids (translated when rendered; zh_CN as followup.SYMPTOMS)
SYMPTOM_LABELS = {
    "fever": N_("Fever"), "cough": N_("Cough"), "sore_throat": N_("Sore throat"),
    "fatigue": N_("Fatigue"), "diarrhoea": N_("Diarrhoea"), "loss_of_smell": N_("Loss of smell or taste"),
    "short_breath": N_("Shortness of breath"), "muscle_ache": N_("Muscle ache"),
}

def _render(
    request: Request, template: str, ctx: Mapping[str, Any], user: User | None, status_code: int = 200
) -> HTMLResponse:
    """Render a facilities page in the command centre's layout (templates in ``facilities/templates``)."""
    full: dict[str, Any] = {
        "me": viewer(user) if user else None,
        "nav": NAV,
        "symptoms": SYMPTOM_LABELS,
        "measures": followup.MEASURE_ZH,
        "local": lambda dt: dt.astimezone(CHINA_TZ).strftime("%m-%d %H:%M") if dt else "—",
    }
    full.update(ctx)
    return render(request, template, full, status_code=status_code)


@router.get("/facilities")
def dashboard(request: Request, session: SessionDep, user: OptionalUser, near: str | None = None) -> Response:
    """Capacity across all isolation points, device status and open alarms; the free-bed finder."""
    if user is None:
        return login_redirect(request)
    geo = facilities_geojson(session, user)
    rows = [f["properties"] for f in geo["features"]]
    towns = session.execute(
        select(AdminUnit.code, AdminUnit.name)
        .where(AdminUnit.level == UnitLevel.TOWN)
        .order_by(AdminUnit.code)
    ).all()
    free: service.FreeBed | None = None
    error = None
    if near:
        unit = session.scalar(select(AdminUnit).where(AdminUnit.code == near))
        try:
            free = service.find_free_bed(session, user, unit.id if unit else None)
        except ZhikongError as e:
            error = e.message
    return _render(
        request,
        "facilities_dashboard.html",
        {"rows": rows, "towns": towns, "near": near, "free": free, "error": error},
        user,
    )


@router.get("/facilities/{facility_id}")
def facility_page(request: Request, facility_id: int, session: SessionDep, user: OptionalUser) -> Response:
    """Occupants of one point with today's checks."""
    if user is None:
        return login_redirect(request)
    try:
        fac = service.get_facility(session, facility_id, user)
    except ZhikongError as e:
        return _render(
            request, "error.html", {"status": e.http_status, "message": e.message}, user, e.http_status
        )
    today = local_day(utcnow())
    occ = []
    for fu, stay, person in service.occupants(session, fac.id):
        checks = {
            c.slot: c
            for c in session.scalars(
                select(HealthCheck).where(HealthCheck.followup_id == fu.id, HealthCheck.day == today)
            )
        }
        bed = session.get(service.Bed, stay.bed_id)
        occ.append(
            {
                "fu": fu,
                "person": person,
                "bed": service.bed_label(session, bed) if bed else "?",
                "day": service.day_number(fu, utcnow()),
                "am": checks.get("am"),
                "pm": checks.get("pm"),
            }
        )
    return _render(request, "facilities_point.html", {"fac": fac, "occupants": occ}, user)


def _check_form(
    request: Request,
    session: Any,
    user: User | None,
    fu_id: int,
    *,
    token: str | None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    done: followup.CheckResult | None = None,
    status: int = 200,
) -> HTMLResponse:
    template = "facilities_self_report.html" if token else "facilities_check.html"
    return _render(
        request,
        template,
        {"fu_id": fu_id, "token": token, "errors": errors or {}, "form": form or {}, "done": done},
        user,
        status,
    )


async def _read_check(request: Request) -> tuple[dict[str, Any], float | None, list[str]]:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    syms = [str(v) for v in form.getlist("symptoms")]
    try:
        temp = float(values.get("temperature", "").replace("，", "."))
    except ValueError:
        temp = None
    return values, temp, syms


@router.get("/facilities/checks/{followup_id}")
def check_form(request: Request, followup_id: int, session: SessionDep, user: OptionalUser) -> Response:
    """The phone-friendly form for staff or village visits."""
    if user is None:
        return login_redirect(request)
    service.get_followup(session, followup_id, user)
    return _check_form(request, session, user, followup_id, token=None)


@router.post("/facilities/checks/{followup_id}")
async def check_submit(
    request: Request, followup_id: int, session: SessionDep, user: OptionalUser
) -> Response:
    if user is None:
        return login_redirect(request)
    values, temp, syms = await _read_check(request)
    if temp is None:
        return _check_form(
            request,
            session,
            user,
            followup_id,
            token=None,
            form=values,
            status=400,
            errors={"temperature": "请输入体温（数字）/ enter the temperature as a number"},
        )
    source = CheckSource.VISIT if values.get("source") == "visit" else CheckSource.STAFF
    try:
        res = followup.record_check(
            session, user, followup_id, temperature=temp, symptoms=syms, source=source
        )
    except ZhikongError as e:
        session.rollback()
        return _check_form(
            request,
            session,
            user,
            followup_id,
            token=None,
            form=values,
            errors={e.field or "temperature": e.message},
            status=min(e.http_status, 499),
        )
    return _check_form(request, session, user, followup_id, token=None, done=res)


def _invalid_link(request: Request, token: str, error: ZhikongError) -> HTMLResponse:
    """A forged, expired or closed self-report link: say so, with the error's status."""
    return _render(request, "facilities_self_report.html", {"invalid": error.message, "token": token},
                   None, error.http_status)


@router.get("/r/{token}")
def self_report_form(request: Request, token: str, session: SessionDep) -> Response:
    """The personal self-report page (no login: the signed link is the credential)."""
    try:
        fu = followup.followup_for_token(session, token)
    except ZhikongError as e:
        return _invalid_link(request, token, e)
    return _check_form(request, session, None, fu.id, token=token)


@router.post("/r/{token}")
async def self_report_submit(request: Request, token: str, session: SessionDep) -> Response:
    try:
        fu = followup.followup_for_token(session, token)
    except ZhikongError as e:
        return _invalid_link(request, token, e)
    values, temp, syms = await _read_check(request)
    if temp is None:
        return _check_form(
            request,
            session,
            None,
            fu.id,
            token=token,
            form=values,
            status=400,
            errors={"temperature": "请输入体温（数字）/ enter the temperature as a number"},
        )
    try:
        res = followup.record_check(
            session, None, fu.id, temperature=temp, symptoms=syms, source=CheckSource.SELF
        )
    except ZhikongError as e:
        session.rollback()
        return _check_form(
            request,
            session,
            None,
            fu.id,
            token=token,
            form=values,
            errors={e.field or "temperature": e.message},
            status=min(e.http_status, 499),
        )
    return _check_form(request, session, None, fu.id, token=token, done=res)

"""HTTP: the public registration page and personal result page (no login), the enterprise dashboard
and the town view (HTML), and the JSON/file API under ``/api/enterprise``.

Every endpoint with an enterprise id resolves it through ``service.visible_enterprise`` (404 for an
enterprise the user may not see); enterprise admins see level and reason categories only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from zhikong.auth.models import DISTRICT_ROLES, Role, User
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied
from zhikong.enterprise import service, town
from zhikong.enterprise.models import Audience, Employee, Enterprise, Level, Notification
from zhikong.enterprise.policy import load_policy
from zhikong.enterprise.poster import poster_pdf, qr_png
from zhikong.web.deps import CurrentUser, IdPath, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages.templating import gettext_for, render, request_locale

router = APIRouter()
#: level names (English message ids, translated when rendered)
LEVEL_LABEL = {"green": N_("Green"), "yellow": N_("Yellow"), "red": N_("Red")}
#: the consent statement shown on the registration page (its version: service.CONSENT_VERSION;
#: the Chinese text is the zh_CN translation, identical to service.CONSENT_TEXT)
CONSENT_TEXT = N_(
    "I agree that this enterprise and the local epidemic prevention and control command may use the "
    "name, ID number and mobile number I enter, together with travel records, mobile-network big data, "
    "close-contact and quarantine records, to determine my epidemic risk level, for epidemic control "
    "only. The enterprise sees only the risk level and the reason categories, never my travel.")
MAX_UPLOAD = 5 * 1024 * 1024


def _gettext(request: Request) -> Callable[..., str]:
    return gettext_for(request_locale(request))[0]


def bilingual(text: str, locale: str) -> str:
    """The half of a ``中文 / English`` service message that fits the locale."""
    parts = re.split(r" ?/ ", text, maxsplit=1)
    if len(parts) < 2 or not parts[1]:
        return text
    return parts[1] if locale == "en" else parts[0]


def _html(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    locale = request_locale(request)
    ctx.setdefault("level_label", LEVEL_LABEL)
    ctx.setdefault("sep", "、" if locale == "zh_CN" else ", ")
    resp = render(request, template, ctx, status_code=status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _message(request: Request, title: str, message: str, status: int) -> HTMLResponse:
    return _html(request, "ent_message.html", status, title=title,
                 message=bilingual(message, request_locale(request)))


def _register_page(request: Request, ent: Enterprise, status: int = 200, *,
                   form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                   message: str | None = None) -> HTMLResponse:
    _ = _gettext(request)
    locale = request_locale(request)
    return _html(request, "ent_register.html", status, title=_("Employee epidemic risk self-check"),
                 enterprise=ent, form=form or {}, message=message,
                 errors={k: bilingual(v, locale) for k, v in (errors or {}).items()},
                 consent_text=CONSENT_TEXT, consent_version=service.CONSENT_VERSION)


def note_text(request: Request, note: Notification) -> str:
    """A change notification in the reader's language (from its stored detail)."""
    _ = _gettext(request)
    locale = request_locale(request)
    d = note.detail or {}
    if "level" not in d:
        return note.message
    policy = load_policy()
    sep = "、" if locale == "zh_CN" else ", "
    reasons = sep.join(policy.label(c, locale) for c in d.get("reasons", [])) or _("no risk found")
    return _("Risk level changed from %(old)s to %(new)s: %(reasons)s",
             old=_(LEVEL_LABEL.get(str(d.get("previous")), "—")), new=_(LEVEL_LABEL[str(d["level"])]),
             reasons=reasons)


# ---- public: self-registration and the personal result ------------------------------------------

@router.get("/enterprise/r/{token}", include_in_schema=False)
def registration_form(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    _ = _gettext(request)
    try:
        ent = service.enterprise_for_token(session, token[:400])
    except InvalidInput as e:
        return _message(request, _("This QR code cannot be used"), e.message, 400)
    return _register_page(request, ent)


@router.post("/enterprise/r/{token}", include_in_schema=False)
async def registration_submit(token: str, request: Request, session: SessionDep) -> Response:
    _ = _gettext(request)
    try:
        ent = await run_in_threadpool(service.enterprise_for_token, session, token[:400])
    except InvalidInput as e:
        return _message(request, _("This QR code cannot be used"), e.message, 400)
    form = await request.form()

    def text(key: str) -> str:
        v = form.get(key)
        return v[:200] if isinstance(v, str) else ""

    consent = text("consent") == "yes"
    values: dict[str, Any] = {"name": text("name"), "id_number": text("id_number"),
                              "phone": text("phone"), "consent": consent}
    reg = service.validate_registration(text("name"), text("id_number"), text("phone"), consent)
    if reg.errors:
        return _register_page(request, ent, 422, form=values, errors=reg.errors)
    # in a worker thread: a double tap waits on the other request's row lock, and that request's
    # commit needs the event loop — blocking the loop here would deadlock
    result = await run_in_threadpool(service.register_employee, session, ent, reg)
    if result.created:
        assert result.link_token is not None
        return RedirectResponse(f"/enterprise/me/{quote(result.link_token)}?new=1", status_code=303)
    if result.link_token is not None:
        return RedirectResponse(f"/enterprise/me/{quote(result.link_token)}?again=1", status_code=303)
    return _register_page(request, ent, 409, message=_(
        "This ID number is already registered with this enterprise; no need to register again. The "
        "mobile number differs from the one registered: to see your result, submit again with the "
        "registered mobile number, or ask the enterprise's administrator."))


@router.get("/enterprise/me/{link}", include_in_schema=False)
def my_result(link: str, request: Request, session: SessionDep, new: int = 0,
              again: int = 0) -> HTMLResponse:
    _ = _gettext(request)
    try:
        emp = service.employee_for_link(session, link[:200])
    except NotFound as e:
        return _message(request, _("This link is not valid"), e.message, 404)
    ent = session.get(Enterprise, emp.enterprise_id)
    policy = load_policy()
    locale = request_locale(request)
    msg = (_("You are already registered with this enterprise. This is your latest result; bookmark "
             "this page (the old link no longer works).") if again
           else _("Registered. Bookmark this page and open it any time to see your latest result.")
           if new else None)
    notes = [{"at": n.created_at.strftime("%Y-%m-%d %H:%M"), "text": note_text(request, n)}
             for n in service.notifications(session, emp.enterprise_id, Audience.EMPLOYEE, emp.id, 20)]
    return _html(request, "ent_me.html", title=_("My risk level"), employee=emp, enterprise=ent,
                 message=msg, reasons=[policy.label(c, locale) for c in emp.reasons or []],
                 notes=notes)


# ---- staff and enterprise admins: HTML --------------------------------------------------------------

def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _dashboard(request: Request, session: Session, user: User, ent: Enterprise,
               roster_error: str | None = None, status: int = 200) -> HTMLResponse:
    _ = _gettext(request)
    locale = request_locale(request)
    s = service.summary(session, ent, locale=locale)
    rank = {"red": 0, "yellow": 1, "green": 2}
    emps: list[Employee] = service.employees(session, ent)
    rows = sorted((service.employee_view(e, locale) for e in emps),
                  key=lambda r: (rank[r["level"]], r["id"]))
    return _html(request, "ent_dashboard.html", status,
                 title=_("Employee risk · %(name)s", name=ent.name), s=s, rows=rows[:2000],
                 csrf=getattr(request.state, "csrf_token", "") or "",
                 roster_error=bilingual(roster_error, locale) if roster_error else None)


@router.get("/enterprise", include_in_schema=False)
def enterprise_index(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    _ = _gettext(request)
    ents = service.visible_enterprises(session, user)
    if user.role == Role.ENTERPRISE_ADMIN and len(ents) == 1:
        return RedirectResponse(f"/enterprise/{ents[0].id}", status_code=303)
    return _html(request, "ent_list.html", title=_("Employee risk"), ents=ents)


@router.get("/enterprise/{enterprise_id}", include_in_schema=False)
def enterprise_page(enterprise_id: IdPath, request: Request, session: SessionDep,
                    user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    try:
        ent = service.visible_enterprise(session, user, enterprise_id)
    except NotFound as e:
        return _message(request, _gettext(request)("Cannot be shown"), e.message, 404)
    return _dashboard(request, session, user, ent)


@router.post("/enterprise/{enterprise_id}/roster", include_in_schema=False)
async def roster_form(enterprise_id: IdPath, request: Request, session: SessionDep, user: CurrentUser,
                      file: Annotated[UploadFile, File()]) -> Response:
    ent = service.visible_enterprise(session, user, enterprise_id)
    data = await file.read(MAX_UPLOAD + 1)
    try:
        if len(data) > MAX_UPLOAD:
            raise InvalidInput("文件超过 5 MB / file larger than 5 MB", field="file")
        def load() -> None:
            with session.begin_nested():
                town.import_roster(session, ent, data, file.filename or "roster.csv")

        await run_in_threadpool(load)
    except InvalidInput as e:
        return _dashboard(request, session, user, ent, roster_error=e.message, status=422)
    return RedirectResponse(f"/enterprise/{ent.id}", status_code=303)


@router.get("/enterprise/town/{town_id}", include_in_schema=False)
def town_page(town_id: IdPath, request: Request, session: SessionDep, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    _ = _gettext(request)
    try:
        view = town.town_view(session, user, town_id)
    except (NotFound, PermissionDenied) as e:
        return _message(request, _("Cannot be shown"), e.message,
                        404 if isinstance(e, NotFound) else 403)
    return _html(request, "ent_town.html",
                 title=_("Employee risk in the town · %(name)s", name=view["town"]["name"]), v=view)


# ---- JSON / files ----------------------------------------------------------------------------------

class EnterpriseIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    town_code: str = Field(min_length=9, max_length=12)
    address: str = Field(default="", max_length=255)
    credit_code: str | None = Field(default=None, max_length=18)
    village_code: str | None = Field(default=None, max_length=12)
    contact_name: str | None = Field(default=None, max_length=64)
    contact_phone: str | None = Field(default=None, max_length=20)


@router.post("/api/enterprise", status_code=201, tags=["enterprise"])
def api_create(body: EnterpriseIn, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Register an enterprise in a town of your jurisdiction (town staff and above)."""
    if user.role not in DISTRICT_ROLES | {Role.TOWN_OPERATOR}:
        raise PermissionDenied("只有镇街或区级人员可登记企业 / town or district staff only")
    ent = service.create_enterprise(session, actor=user, **body.model_dump())
    return {"id": ent.id, "name": ent.name, "registration_url": service.registration_url(ent.id)}


@router.get("/api/enterprise/{enterprise_id}/summary", tags=["enterprise"])
def api_summary(enterprise_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Counts by level, changes in the last 24 hours, roster entries not yet registered."""
    return service.summary(session, service.visible_enterprise(session, user, enterprise_id))


@router.get("/api/enterprise/{enterprise_id}/employees", tags=["enterprise"])
def api_employees(enterprise_id: IdPath, session: SessionDep, user: CurrentUser,
                  level: Annotated[Level | None, Query()] = None) -> list[dict[str, Any]]:
    """Employees with masked identifiers, level and reason categories (never trajectories)."""
    ent = service.visible_enterprise(session, user, enterprise_id)
    return [service.employee_view(e) for e in service.employees(session, ent, level)]


@router.get("/api/enterprise/{enterprise_id}/notifications", tags=["enterprise"])
def api_notifications(enterprise_id: IdPath, session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    ent = service.visible_enterprise(session, user, enterprise_id)
    return [{"id": n.id, "employee_id": n.employee_id, "message": n.message, "detail": n.detail,
             "created_at": n.created_at.isoformat()}
            for n in service.notifications(session, ent.id, Audience.ENTERPRISE)]


@router.get("/api/enterprise/{enterprise_id}/export.xlsx", tags=["enterprise"])
def api_export(enterprise_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    ent = service.visible_enterprise(session, user, enterprise_id)
    return Response(town.export_xlsx(session, ent),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=enterprise-{ent.id}.xlsx"})


@router.post("/api/enterprise/{enterprise_id}/roster", tags=["enterprise"])
async def api_roster(enterprise_id: IdPath, session: SessionDep, user: CurrentUser,
                     file: Annotated[UploadFile, File()]) -> dict[str, int]:
    """Replace the staff roster (CSV or Excel: 姓名, 身份证号[, 部门])."""
    ent = service.visible_enterprise(session, user, enterprise_id)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("文件超过 5 MB / file larger than 5 MB", field="file")
    rows = await run_in_threadpool(town.import_roster, session, ent, data, file.filename or "roster.csv")
    return {"rows": rows}


@router.get("/api/enterprise/{enterprise_id}/poster.png", tags=["enterprise"])
def api_poster_png(enterprise_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    ent = service.visible_enterprise(session, user, enterprise_id)
    return Response(qr_png(service.registration_url(ent.id)), media_type="image/png")


@router.get("/api/enterprise/{enterprise_id}/poster.pdf", tags=["enterprise"])
def api_poster_pdf(enterprise_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    ent = service.visible_enterprise(session, user, enterprise_id)
    return Response(poster_pdf(ent, service.registration_url(ent.id)), media_type="application/pdf",
                    headers={"Content-Disposition": f"inline; filename=poster-{ent.id}.pdf"})


@router.get("/api/enterprise/town/{town_id}", tags=["enterprise"])
def api_town(town_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The enterprises of a town with their employee counts by level."""
    return town.town_view(session, user, town_id)


@router.post("/api/enterprise/recompute", tags=["enterprise"])
def api_recompute(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Recompute every employee's level now (district roles)."""
    if user.role not in DISTRICT_ROLES:
        raise PermissionDenied("只有区级人员可触发重算 / district roles only")
    from zhikong.enterprise.risk import recompute

    out = recompute(session)
    return {"employees": out.employees, "changed": out.changed, "by_level": out.by_level,
            "tasks": out.tasks, "policy_version": out.policy_version}


"""HTTP: the public registration page and personal result page (no login), the enterprise dashboard
and the town view (HTML), and the JSON/file API under ``/api/enterprise``.

Every endpoint with an enterprise id resolves it through ``service.visible_enterprise`` (404 for an
enterprise the user may not see); enterprise admins see level and reason categories only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from zhikong.auth.models import DISTRICT_ROLES, Role, User
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied
from zhikong.enterprise import service, town
from zhikong.enterprise.models import Audience, Enterprise, Level
from zhikong.enterprise.policy import load_policy
from zhikong.enterprise.poster import poster_pdf, qr_png
from zhikong.web.deps import CurrentUser, IdPath, OptionalUser, SessionDep

router = APIRouter()
_env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=select_autoescape(["html"]))
LEVEL_ZH = {"green": "绿色", "yellow": "黄色", "red": "红色"}
MAX_UPLOAD = 5 * 1024 * 1024


def _html(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("level_zh", LEVEL_ZH)
    return HTMLResponse(_env.get_template(template).render(**ctx), status_code=status,
                        headers={"Cache-Control": "no-store"})


def _message(title: str, message: str, status: int) -> HTMLResponse:
    return _html("ent_message.html", status, title=title, message=message)


# ---- public: self-registration and the personal result ------------------------------------------

@router.get("/enterprise/r/{token}", include_in_schema=False)
def registration_form(token: str, session: SessionDep) -> HTMLResponse:
    try:
        ent = service.enterprise_for_token(session, token[:400])
    except InvalidInput as e:
        return _message("二维码无法使用", e.message, 400)
    return _html("ent_register.html", title="员工疫情风险自查登记", enterprise=ent, form={}, errors={},
                 message=None, consent_text=service.CONSENT_TEXT,
                 consent_version=service.CONSENT_VERSION)


@router.post("/enterprise/r/{token}", include_in_schema=False)
async def registration_submit(token: str, request: Request, session: SessionDep) -> Response:
    try:
        ent = await run_in_threadpool(service.enterprise_for_token, session, token[:400])
    except InvalidInput as e:
        return _message("二维码无法使用", e.message, 400)
    form = await request.form()

    def text(key: str) -> str:
        v = form.get(key)
        return v[:200] if isinstance(v, str) else ""

    consent = text("consent") == "yes"
    values: dict[str, Any] = {"name": text("name"), "id_number": text("id_number"),
                              "phone": text("phone"), "consent": consent}
    reg = service.validate_registration(text("name"), text("id_number"), text("phone"), consent)
    if reg.errors:
        return _html("ent_register.html", 422, title="员工疫情风险自查登记", enterprise=ent,
                     form=values, errors=reg.errors, message=None,
                     consent_text=service.CONSENT_TEXT, consent_version=service.CONSENT_VERSION)
    # in a worker thread: a double tap waits on the other request's row lock, and that request's
    # commit needs the event loop — blocking the loop here would deadlock
    result = await run_in_threadpool(service.register_employee, session, ent, reg)
    if result.created:
        assert result.link_token is not None
        return RedirectResponse(f"/enterprise/me/{quote(result.link_token)}?new=1", status_code=303)
    if result.link_token is not None:
        return RedirectResponse(f"/enterprise/me/{quote(result.link_token)}?again=1", status_code=303)
    return _html("ent_register.html", 409, title="员工疫情风险自查登记", enterprise=ent, form={},
                 errors={}, consent_text=service.CONSENT_TEXT, consent_version=service.CONSENT_VERSION,
                 message="该身份证号已在本企业登记过，无需重复登记。手机号与登记时不同，"
                         "如需查看结果请用登记时的手机号重新提交，或联系企业管理员。")


@router.get("/enterprise/me/{link}", include_in_schema=False)
def my_result(link: str, session: SessionDep, new: int = 0, again: int = 0) -> HTMLResponse:
    try:
        emp = service.employee_for_link(session, link[:200])
    except NotFound as e:
        return _message("链接无效", e.message, 404)
    ent = session.get(Enterprise, emp.enterprise_id)
    policy = load_policy()
    msg = ("您已在本企业登记过，无需重复登记。这是您的最新结果，请收藏本页（旧链接已失效）。" if again
           else "登记成功。请收藏本页，以后打开即可查看最新结果。" if new else None)
    return _html("ent_me.html", title="我的风险等级", employee=emp, enterprise=ent, message=msg,
                 reasons=[policy.label(c) for c in emp.reasons or []],
                 notes=service.notifications(session, emp.enterprise_id, Audience.EMPLOYEE, emp.id, 20))


# ---- staff and enterprise admins: HTML --------------------------------------------------------------

def _login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _dashboard(request: Request, session: Session, user: User, ent: Enterprise,
               roster_error: str | None = None, status: int = 200) -> HTMLResponse:
    s = service.summary(session, ent)
    rank = {"red": 0, "yellow": 1, "green": 2}
    rows = sorted((service.employee_view(e) for e in service.employees(session, ent)),
                  key=lambda r: (rank[r["level"]], r["id"]))
    return _html("ent_dashboard.html", status, title=f"企业员工风险 · {ent.name}", s=s, rows=rows[:2000],
                 csrf=getattr(request.state, "csrf_token", "") or "", roster_error=roster_error)


@router.get("/enterprise", include_in_schema=False)
def enterprise_index(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    ents = service.visible_enterprises(session, user)
    if user.role == Role.ENTERPRISE_ADMIN and len(ents) == 1:
        return RedirectResponse(f"/enterprise/{ents[0].id}", status_code=303)
    return _html("ent_list.html", title="企业员工风险", ents=ents)


@router.get("/enterprise/{enterprise_id}", include_in_schema=False)
def enterprise_page(enterprise_id: IdPath, request: Request, session: SessionDep,
                    user: OptionalUser) -> Response:
    if user is None:
        return _login(request)
    try:
        ent = service.visible_enterprise(session, user, enterprise_id)
    except NotFound as e:
        return _message("无法查看", e.message, 404)
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
    try:
        view = town.town_view(session, user, town_id)
    except (NotFound, PermissionDenied) as e:
        return _message("无法查看", e.message, 404 if isinstance(e, NotFound) else 403)
    return _html("ent_town.html", title=f"辖区企业员工风险 · {view['town']['name']}", v=view)


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


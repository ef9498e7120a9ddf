"""Daily reports 数据上报 pages: the district's day view (per town, totals, trend chart, Excel/PDF
export), the phone-friendly fill-in form with Excel upload, and the district daily summary (page + PDF)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from zhikong.auth.models import User
from zhikong.auth.service import restrict
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied, RowErrors, ZhikongError
from zhikong.core.time import local_day, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.reporting import excel, pdf, service
from zhikong.reporting.models import DailyReport
from zhikong.reporting.summary import MEASURE_LABELS, build_summary
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.pages.common import error_page, login_redirect, page

router = APIRouter(include_in_schema=False)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day(value: str | None) -> date:
    if not value:
        return local_day(utcnow())
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(f"day {value!r} is not YYYY-MM-DD", field="day") from e


def _my_units(session: Any, user: User, tier: str) -> list[AdminUnit]:
    stmt = select(AdminUnit).where(AdminUnit.level == UnitLevel(tier)).order_by(AdminUnit.code)
    return list(session.scalars(restrict(stmt, user, AdminUnit.id)))


def _download(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports")
def reports_home(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    form: str = "town_daily",
    day: str | None = None,
) -> Response:
    """The day's figures of a form: per town, totals, trend; links to fill in and export."""
    if user is None:
        return login_redirect(request)
    try:
        d = _day(day)
        forms = service.list_forms(session)
        view = service.day_view(session, form, d) if user.sees_all else None
        _, fd = service.get_form(session, form)
    except ZhikongError as e:
        return error_page(request, user, e)
    mine = _my_units(session, user, fd.tier)
    reported = _reported(session, form, d)
    chart = None
    if view is not None:
        chart = {
            "towns": [r["name"] for r in view.rows],
            "series": {f.label: [r["values"][f.key] for r in view.rows] for f in fd.numeric[:3]},
            "days": view.trend_days,
            "trend": {f.label: view.trend[f.key] for f in fd.numeric[:3]},
        }
    return page(
        request,
        user,
        "reports.html",
        {
            "forms": forms,
            "fd": fd,
            "day": d.isoformat(),
            "view": view,
            "chart": chart,
            "mine": [(u, u.id in reported) for u in mine[:400]],
        },
    )


def _reported(session: Any, form: str, d: date) -> set[int]:
    row, _ = service.get_form(session, form)
    return set(
        session.scalars(
            select(DailyReport.unit_id).where(DailyReport.form_id == row.id, DailyReport.day == d)
        )
    )


@router.get("/reports/{form}/export.{fmt}")
def reports_export(
    request: Request, form: str, fmt: str, session: SessionDep, user: CurrentUser, day: str | None = None
) -> Response:
    """The district view as Excel or PDF."""
    if not user.sees_all:
        return error_page(request, user, PermissionDenied("only the district exports the day view"))
    try:
        d = _day(day)
        if fmt == "xlsx":
            return _download(excel.export_day(session, form, d), XLSX, f"{form}-{d}.xlsx")
        if fmt == "pdf":
            return _download(
                pdf.day_view_pdf(service.day_view(session, form, d)), "application/pdf", f"{form}-{d}.pdf"
            )
    except ZhikongError as e:
        return error_page(request, user, e)
    return error_page(request, user, InvalidInput(f"unknown export format {fmt!r}", field="fmt"))


@router.get("/reports/{form}/template.xlsx")
def reports_template(
    request: Request, form: str, session: SessionDep, user: CurrentUser, day: str | None = None
) -> Response:
    try:
        d = _day(day)
        _, fd = service.get_form(session, form)
        data = excel.template(session, form, d, _my_units(session, user, fd.tier))
    except ZhikongError as e:
        return error_page(request, user, e)
    return _download(data, XLSX, f"{form}-{d}-template.xlsx")


def _fill_context(session: Any, form: str, unit_id: int, d: date) -> dict[str, Any]:
    row, fd = service.get_form(session, form)
    unit = session.get(AdminUnit, unit_id)
    rep = session.scalar(
        select(DailyReport).where(
            DailyReport.form_id == row.id, DailyReport.unit_id == unit_id, DailyReport.day == d
        )
    )
    history = service.report_history(session, rep.id) if rep else []
    reminders = service.reminders_for(session, unit_id, d)
    return {
        "fd": fd,
        "unit": unit,
        "day": d.isoformat(),
        "report": rep,
        "history": history,
        "reminders": reminders,
        "values": dict(rep.values) if rep else {},
        "errors": {},
    }


@router.get("/reports/{form}/fill/{unit_id}")
def reports_fill(
    request: Request, form: str, unit_id: int, session: SessionDep, user: OptionalUser, day: str | None = None
) -> Response:
    """The phone-friendly form of one unit's report (pre-filled when already reported)."""
    if user is None:
        return login_redirect(request)
    try:
        d = _day(day)
        _, fd = service.get_form(session, form)
        if unit_id not in {u.id for u in _my_units(session, user, fd.tier)}:
            raise NotFound("this unit does not report this form in your jurisdiction", field="unit_id")
        ctx = _fill_context(session, form, unit_id, d)
    except ZhikongError as e:
        return error_page(request, user, e)
    return page(request, user, "report_fill.html", ctx)


@router.post("/reports/{form}/fill/{unit_id}")
async def reports_submit(
    request: Request, form: str, unit_id: int, session: SessionDep, user: CurrentUser
) -> Response:
    """Submit or correct; errors come back beside each field and nothing is stored."""
    data = await request.form()
    values = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    d_text = values.pop("day", None)
    reason = values.pop("reason", None)
    values.pop("csrf_token", None)
    try:
        d = _day(d_text)
        _, fd = service.get_form(session, form)
        for f in fd.fields:  # an unchecked checkbox sends nothing
            if f.type == "bool" and f.key not in values:
                values[f.key] = "否"
        service.submit_report(session, user, form, unit_id, d, values, source="web", reason=reason)
    except RowErrors as e:
        session.rollback()
        ctx = _fill_context(session, form, unit_id, _day(d_text))
        ctx.update({"values": values, "errors": {x.field: x.reason for x in e.errors}, "reason": reason})
        return page(request, user, "report_fill.html", ctx, status_code=422)
    except ZhikongError as e:
        session.rollback()
        try:
            ctx = _fill_context(session, form, unit_id, _day(d_text))
        except ZhikongError:
            return error_page(request, user, e)
        ctx.update({"values": values, "errors": {e.field or "form": e.message}, "reason": reason})
        return page(
            request, user, "report_fill.html", ctx, status_code=e.http_status if e.http_status < 500 else 400
        )
    return RedirectResponse(f"/reports/{form}/fill/{unit_id}?day={d.isoformat()}&saved=1", status_code=303)


@router.post("/reports/{form}/upload")
async def reports_upload(request: Request, form: str, session: SessionDep, user: CurrentUser) -> Response:
    """Upload a filled Excel template: all rows or none; the errors listed by row and column."""
    data = await request.form()
    upload = data.get("file")
    try:
        if not isinstance(upload, UploadFile):
            raise InvalidInput("choose an .xlsx file", field="file")
        content = await upload.read(excel.MAX_UPLOAD + 1)
        reps = excel.import_workbook(
            session,
            user,
            form,
            content,
            upload.filename or "upload.xlsx",
            reason=str(data.get("reason") or "") or None,
        )
    except ZhikongError as e:
        session.rollback()
        rows = [str(x) for x in e.errors[:50]] if isinstance(e, RowErrors) else []
        status = e.http_status if e.http_status < 500 else 400
        return page(
            request,
            user,
            "report_errors.html",
            {"status": status, "message": e.message, "rows": rows, "form": form},
            status_code=status,
        )
    return RedirectResponse(
        f"/reports?form={form}&day={reps[0].day.isoformat()}&uploaded={len(reps)}", status_code=303
    )


@router.get("/summary")
def summary_page(
    request: Request, session: SessionDep, user: OptionalUser, day: str | None = None
) -> Response:
    """The district daily summary."""
    if user is None:
        return login_redirect(request)
    if not user.sees_all:
        return error_page(request, user, PermissionDenied("the daily summary is for the district"))
    try:
        d = _day(day)
    except ZhikongError as e:
        return error_page(request, user, e)
    s = build_summary(session, d)
    return page(request, user, "summary.html", {"s": s, "measures": MEASURE_LABELS, "day": d.isoformat()})


@router.get("/summary.pdf")
def summary_pdf(request: Request, session: SessionDep, user: CurrentUser, day: str | None = None) -> Response:
    if not user.sees_all:
        return error_page(request, user, PermissionDenied("the daily summary is for the district"))
    try:
        d = _day(day)
    except ZhikongError as e:
        return error_page(request, user, e)
    return _download(pdf.summary_pdf(build_summary(session, d)), "application/pdf", f"summary-{d}.pdf")

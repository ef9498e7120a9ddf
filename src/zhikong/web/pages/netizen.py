"""Netizen reports 网民举报: the public form (no login), the follow-up page and the district triage queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, PermissionDenied, RowErrors, ZhikongError
from zhikong.people import service as people_service
from zhikong.reporting import netizen
from zhikong.reporting.models import NetizenStatus
from zhikong.tasks.files import validate_image
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep, request_engine
from zhikong.web.pages.common import error_page, login_redirect, page
from zhikong.web.pages.templating import render

router = APIRouter(include_in_schema=False)

MAX_BODY = 3 * 6 * 1024 * 1024


def _float(value: str | None, field: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError as e:
        raise InvalidInput(f"{field} must be a number", field=field) from e


def _public(request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    ch = netizen.new_challenge()
    return render(
        request,
        "netizen_report.html",
        {"challenge": ch, "values": values, "errors": errors, "tile_url": get_settings().tile_url},
        status_code=status,
    )


@router.get("/report")
def report_form(request: Request) -> Response:
    """The public report form (no login)."""
    return _public(request, {}, {})


@router.post("/report")
async def report_submit(request: Request) -> Response:
    """Store a public report; the reporter gets the follow-up code. Rate-limited per IP.

    The whole transaction runs in one worker thread (no lock held across an ``await``), so many
    concurrent submitters never stall the event loop on the database.
    """
    ip = request.client.host if request.client else "unknown"
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _public(request, {}, {"photos": "the upload is too large / 上传内容过大"}, 413)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    engine = request_engine(request)

    def check() -> None:
        with unit_of_work(engine) as session:
            netizen.count_attempt(session, ip)
        with unit_of_work(engine) as session:
            netizen.check_challenge(session, values.get("challenge_token", ""), values.get("challenge", ""))

    try:
        await run_in_threadpool(check)
        photos: list[bytes] = []
        for item in form.getlist("photos"):
            if isinstance(item, UploadFile) and item.filename:
                data = await item.read(get_settings().attachment_max_bytes + 1)
                validate_image(data, field="photos")
                photos.append(data)
        lat, lon = _float(values.get("lat"), "lat"), _float(values.get("lon"), "lon")

        def store() -> tuple[str, str]:
            with unit_of_work(engine) as session:
                report = netizen.submit(
                    session,
                    text=values.get("text", ""),
                    address=values.get("address"),
                    lat=lat,
                    lon=lon,
                    photos=photos,
                    ip=ip,
                )
                return report.code, report.status.value

        code, status_value = await run_in_threadpool(store)
    except ZhikongError as e:
        status = e.http_status if e.http_status < 500 else 400
        return _public(request, values, {e.field or "text": e.message}, status)
    shown = {"code": code, "status": status_value, "text": values.get("text", ""), "answer": None}
    return render(request, "netizen_status.html", {"report": shown, "new_code": code}, status_code=201)


@router.get("/report/status")
def report_status(request: Request, session: SessionDep, code: str = "") -> Response:
    """The reporter's view by follow-up code: status and the published answer."""
    report = None
    error = None
    if code:
        try:
            report = netizen.status_by_code(session, code)
        except ZhikongError as e:
            error = e.message
    return render(
        request,
        "netizen_status.html",
        {"report": report, "error": error, "code": code},
        status_code=404 if error else 200,
    )


def _queue_ctx(session: Any, show: str) -> dict[str, Any]:
    status = None if show == "all" else NetizenStatus.NEW
    return {"reports": netizen.queue(session, status), "show": show, "errors": {}, "failed": None}


@router.get("/netizen")
def triage_queue(request: Request, session: SessionDep, user: OptionalUser, show: str = "new") -> Response:
    """The district's triage queue."""
    if user is None:
        return login_redirect(request)
    if not user.sees_all:
        return error_page(request, user, PermissionDenied("netizen reports are triaged at the district"))
    return page(request, user, "netizen_queue.html", _queue_ctx(session, show))


@router.post("/netizen/{report_id}")
async def triage_act(request: Request, report_id: int, session: SessionDep, user: CurrentUser) -> Response:
    """Hand a report to a unit (linked to a person or place) or publish the answer."""
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    try:
        if values.get("action") == "answer":
            netizen.answer(
                session, user, report_id, values.get("answer", ""), reject=values.get("reject") == "1"
            )
        else:
            person_id = None
            if values.get("id_number"):
                person = people_service.find_by_id_number(session, values["id_number"])
                if person is None:
                    raise InvalidInput("no person with this ID number in the ledger", field="id_number")
                person_id = person.id
            unit_id = None
            if values.get("unit_code"):
                from zhikong.geo.service import get_unit

                unit_id = get_unit(session, values["unit_code"]).id
            netizen.triage(
                session,
                user,
                report_id,
                unit_id=unit_id,
                person_id=person_id,
                place_code=values.get("place_code") or None,
            )
    except ZhikongError as e:
        session.rollback()
        ctx = _queue_ctx(session, "all")
        ctx.update({"errors": {e.field or "action": e.message}, "failed": report_id})
        if isinstance(e, RowErrors):
            ctx["errors"] = {"action": str(e)}
        return page(
            request,
            user,
            "netizen_queue.html",
            ctx,
            status_code=e.http_status if e.http_status < 500 else 400,
        )
    return RedirectResponse("/netizen?show=all", status_code=303)

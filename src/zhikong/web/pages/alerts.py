"""The alert console (预警处置): open alerts of the user's units, live (server-sent events), with
acknowledge, confirm into a task and dismiss (with a reason)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from zhikong.alerts import service as alert_service
from zhikong.alerts.models import AlertState
from zhikong.core.errors import NotFound, PermissionDenied, ZhikongError
from zhikong.geo.models import AdminUnit
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.pages import labels
from zhikong.web.pages.common import RowId, error_page, login_redirect, page
from zhikong.web.pages.tasks import local_time
from zhikong.web.pages.templating import gettext_for, render, request_locale

router = APIRouter(include_in_schema=False)

OPEN = [AlertState.NEW, AlertState.ACKNOWLEDGED]


def _context(request: Request, session: Any, user: Any, show: str) -> dict[str, Any]:
    states = OPEN if show != "all" else None
    alerts, total = alert_service.list_alerts(session, user, state=states, limit=200)
    gettext, _ = gettext_for(request_locale(request))
    unit_ids = {a.unit_id for a in alerts}
    rows = session.execute(select(AdminUnit.id, AdminUnit.name).where(AdminUnit.id.in_(unit_ids))).all() \
        if unit_ids else []
    return {"alerts": alerts, "unit_names": dict(rows), "total": total, "show": show, "labels": labels,
            "local_time": local_time,
            "last_id": max((a.id for a in alerts), default=0), "errors": {}, "form": {},
            "live_text": {"new": gettext("New alert"), "lost": gettext("Live updates interrupted; retrying…"),
                          "live": gettext("Live updates on")}}


@router.get("/alerts")
def alert_console(request: Request, session: SessionDep, user: OptionalUser, show: str = "open") -> Response:
    """The alert console."""
    if user is None:
        return login_redirect(request)
    return page(request, user, "alerts.html", _context(request, session, user, show))


@router.get("/alerts/rows")
def alert_rows(request: Request, session: SessionDep, user: CurrentUser, show: str = "open") -> Response:
    """The table body of the console (refreshed live)."""
    ctx = _context(request, session, user, show)
    ctx["csrf_token"] = getattr(request.state, "csrf_token", "")
    return render(request, "alert_rows.html", ctx)


@router.post("/alerts/{alert_id}/act")
async def alert_act(request: Request, alert_id: RowId, session: SessionDep, user: CurrentUser) -> Response:
    """Acknowledge, confirm (→ task) or dismiss an alert; errors are shown beside the field."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    action = values.get("action", "")
    try:
        alert_service.get_alert(session, user, alert_id)
    except (NotFound, PermissionDenied) as e:
        return error_page(request, user, e)
    try:
        version = int(values["version"]) if values.get("version", "").isdigit() else None
        alert = alert_service.act(session, user, alert_id, action, version=version,
                                  reason=values.get("reason") or None)
    except ZhikongError as e:
        session.rollback()
        ctx = _context(request, session, user, values.get("show", "open"))
        field = e.field if e.field in {"reason"} else "action"
        ctx.update({"errors": {field: e.message}, "form": values, "failed_alert": alert_id})
        status = e.http_status if e.http_status < 500 else 400
        return page(request, user, "alerts.html", ctx, status_code=status)
    if action == "confirm" and alert.task_id:
        return RedirectResponse(f"/tasks/{alert.task_id}", status_code=303)
    return RedirectResponse("/alerts", status_code=303)

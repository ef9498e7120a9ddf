"""The district dashboard (指挥大屏): headline figures and ECharts charts, within the jurisdiction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from zhikong.geo.models import AdminUnit, Place, UnitLevel
from zhikong.people.models import Person
from zhikong.tasks.models import TaskState
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages import labels, mapdata
from zhikong.web.pages.common import UserLimit, login_redirect, page
from zhikong.web.pages.map import VALUE_LABELS
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter()

#: the charts of the dashboard: (id, title)
CHARTS: tuple[tuple[str, str], ...] = (
    ("cases_per_day", N_("New cases and close contacts per day")),
    ("under_measures", N_("People under each control measure")),
    ("tasks_by_unit", N_("Tasks by unit and state")),
    ("overdue", N_("Overdue tasks by unit")),
    ("people_by_town", N_("People in the ledger by unit")),
    ("places_by_kind", N_("Key places by kind")),
)


def _rollup(session: Session, viewer_unit: AdminUnit | None) -> tuple[dict[int, str], list[str]]:
    """Unit id → the name of the unit one level below the viewer's that contains it (the viewer's own
    name for units at or above it), and those names in code order: a district sees towns, a town its
    villages."""
    rows = session.execute(select(AdminUnit.id, AdminUnit.code, AdminUnit.name, AdminUnit.path)
                           .order_by(AdminUnit.code)).all()
    by_code = {code: name for _, code, name, _ in rows}
    depth = len(viewer_unit.path.strip("/").split("/")) if viewer_unit is not None else 0
    out: dict[int, str] = {}
    order: list[str] = []
    for uid, _code, name, path in rows:
        parts = path.strip("/").split("/")
        key = by_code.get(parts[depth], name) if len(parts) > depth else (
            viewer_unit.name if viewer_unit is not None else name)
        out[uid] = key
        if key not in order:
            order.append(key)
    return out, order


def _bar(categories: list[str], series: dict[str, dict[str, int]], stacked: bool = False) -> dict[str, Any]:
    cats = [c for c in categories if any(c in s for s in series.values())]
    return {"type": "bar", "stacked": stacked, "categories": cats,
            "series": [{"name": name, "data": [values.get(c, 0) for c in cats]}
                       for name, values in series.items()]}


def dashboard_data(session: Session, limit: mapdata.Limit, gettext: Any,
                   viewer_unit: AdminUnit | None = None) -> dict[str, Any]:
    """Figures and chart series for the viewer's jurisdiction (labels in the viewer's language)."""
    from zhikong.alerts.models import Alert, AlertState
    from zhikong.core.time import utcnow
    from zhikong.tasks.models import Task
    from zhikong.tasks.workflow import FINAL_STATES

    group, order = _rollup(session, viewer_unit)
    people: dict[str, dict[str, int]] = {gettext("People in ledger"): {}}
    for vid, n in session.execute(limit(
            select(Person.village_id, func.count()).group_by(Person.village_id), Person.village_id)).all():
        key = group.get(vid, "")
        people[gettext("People in ledger")][key] = people[gettext("People in ledger")].get(key, 0) + int(n)
    place_rows = session.execute(limit(
        select(Place.kind, func.count()).group_by(Place.kind), Place.unit_id)).all()
    villages = session.scalar(limit(select(func.count()).select_from(AdminUnit)
                                    .where(AdminUnit.level == UnitLevel.VILLAGE), AdminUnit.id)) or 0
    now = utcnow()
    open_states = [s for s in TaskState if s not in FINAL_STATES]
    tasks: dict[str, dict[str, int]] = {}
    overdue: dict[str, dict[str, int]] = {gettext("Overdue"): {}}
    n_open = n_overdue = 0
    for unit_id, state, n, late in session.execute(limit(
            select(Task.unit_id, Task.state, func.count(),
                   func.sum(case((Task.deadline_at < now, 1), else_=0)))
            .group_by(Task.unit_id, Task.state), Task.unit_id)).all():
        key, label = group.get(unit_id, ""), gettext(labels.TASK_STATES.get(str(state), str(state)))
        tasks.setdefault(label, {})[key] = tasks.get(label, {}).get(key, 0) + int(n)
        if state in open_states:
            n_open += int(n)
            if late:
                n_overdue += int(late)
                overdue[gettext("Overdue")][key] = overdue[gettext("Overdue")].get(key, 0) + int(late)
    n_alerts = session.scalar(limit(select(func.count()).select_from(Alert).where(
        Alert.state.in_([AlertState.NEW, AlertState.ACKNOWLEDGED])), Alert.unit_id)) or 0
    stats = [
        {"id": "villages", "label": gettext("Villages and communities"), "value": int(villages)},
        {"id": "people", "label": gettext("People in ledger"),
         "value": sum(people[gettext("People in ledger")].values())},
        {"id": "places", "label": gettext("Key places"), "value": sum(int(n) for _, n in place_rows)},
        {"id": "open_tasks", "label": gettext("Open tasks"), "value": n_open},
        {"id": "overdue_tasks", "label": gettext("Overdue tasks"), "value": n_overdue},
        {"id": "open_alerts", "label": gettext("Open alerts"), "value": int(n_alerts)},
    ]
    no_cases = gettext("The tracing engine has not stored cases, contacts or control measures in the "
                       "operational database yet.")
    charts: dict[str, Any] = {
        "cases_per_day": {"type": "line", "categories": [], "series": [], "empty": no_cases},
        "under_measures": {"type": "bar", "categories": [], "series": [], "empty": no_cases},
        "tasks_by_unit": _bar(order, tasks, stacked=True),
        "overdue": _bar(order, overdue),
        "people_by_town": _bar(order, people),
        "places_by_kind": {"type": "pie", "data": [
            {"name": gettext(VALUE_LABELS.get(kind, str(kind))), "value": int(n)}
            for kind, n in sorted(place_rows, key=lambda r: -int(r[1]))]},
    }
    return {"stats": stats, "charts": charts}


@router.get("/dashboard", include_in_schema=False)
def dashboard_page(request: Request, user: OptionalUser) -> Response:
    """The dashboard page."""
    if user is None:
        return login_redirect(request)
    gettext, _ = gettext_for(request_locale(request))
    return page(request, user, "dashboard.html", {
        "charts": CHARTS,
        "dashboard_config": {"url": "/api/dashboard", "text": {
            "empty": gettext("Nothing recorded yet."), "failed": gettext("The figures could not be loaded."),
        }},
    })


@router.get("/api/dashboard", tags=["dashboard"])
def dashboard_json(request: Request, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Figures and chart series of the dashboard for your jurisdiction."""
    gettext, _ = gettext_for(request_locale(request))
    unit = user.unit
    if user.sees_all:
        unit = session.scalar(select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT)) or unit
    return dashboard_data(session, UserLimit(user), gettext, unit)

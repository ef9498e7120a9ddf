"""The district dashboard (指挥大屏): headline figures and ECharts charts, within the jurisdiction."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.geo.models import AdminUnit, Place, UnitLevel
from zhikong.people.models import Person
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages import mapdata
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
    ("people_by_town", N_("People in the ledger by town")),
    ("places_by_kind", N_("Key places by kind")),
)


def _town_of(session: Session) -> dict[int, str]:
    """Village id → town name, and town id → its own name."""
    rows = session.execute(select(AdminUnit.id, AdminUnit.level, AdminUnit.name, AdminUnit.parent_id)).all()
    names = {uid: name for uid, _, name, _ in rows}
    out: dict[int, str] = {}
    for uid, level, name, parent in rows:
        if level == UnitLevel.TOWN:
            out[uid] = name
        elif level == UnitLevel.VILLAGE and parent is not None:
            out[uid] = names.get(parent, "")
    return out


def dashboard_data(session: Session, limit: mapdata.Limit, gettext: Any) -> dict[str, Any]:
    """Figures and chart series for the viewer's jurisdiction (labels in the viewer's language)."""
    town_of = _town_of(session)
    people_rows = session.execute(limit(
        select(Person.village_id, func.count()).group_by(Person.village_id), Person.village_id)).all()
    by_town: dict[str, int] = {}
    for vid, n in people_rows:
        town = town_of.get(vid, "")
        by_town[town] = by_town.get(town, 0) + int(n)
    place_rows = session.execute(limit(
        select(Place.kind, func.count()).group_by(Place.kind), Place.unit_id)).all()
    villages = session.scalar(limit(select(func.count()).select_from(AdminUnit)
                                    .where(AdminUnit.level == UnitLevel.VILLAGE), AdminUnit.id)) or 0
    stats = [
        {"id": "villages", "label": gettext("Villages and communities"), "value": int(villages)},
        {"id": "people", "label": gettext("People in ledger"), "value": sum(by_town.values())},
        {"id": "places", "label": gettext("Key places"), "value": sum(int(n) for _, n in place_rows)},
    ]
    charts: dict[str, Any] = {
        "people_by_town": {"type": "bar", "categories": sorted(by_town),
                           "series": [{"name": gettext("People in ledger"),
                                       "data": [by_town[k] for k in sorted(by_town)]}]},
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
    return dashboard_data(session, UserLimit(user), gettext)

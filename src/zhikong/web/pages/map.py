"""The one map (一张图): the page and its layers as GeoJSON under ``/api/map/...``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from zhikong.core.config import get_settings
from zhikong.geo.models import AdminUnit, PlaceKind, UnitKind, UnitLevel
from zhikong.web.deps import CurrentUser, OptionalUser, SessionDep
from zhikong.web.i18n import N_
from zhikong.web.pages import labels, mapdata
from zhikong.web.pages.common import UserLimit, login_redirect, page
from zhikong.web.pages.templating import gettext_for, request_locale

router = APIRouter()

#: labels of the properties the feature panel shows
FIELD_LABELS: dict[str, str] = {
    "code": N_("Code"), "kind": N_("Kind"), "parent": N_("Belongs to"), "population": N_("People in ledger"),
    "address": N_("Address"), "unit": N_("Unit"), "state": N_("State"), "severity": N_("Severity"),
    "cases": N_("Cases"), "contacts": N_("Close contacts"), "count": N_("Count"), "at": N_("Time"),
    "title": N_("Title"), "deadline": N_("Deadline"), "status": N_("Status"), "overdue": N_("Overdue"),
    "states": N_("By state"),
}
#: labels of enumerated values (place and unit kinds; other domains' states come with their layers)
VALUE_LABELS: dict[str, str] = {
    PlaceKind.MARKET: N_("Farmers' market"), PlaceKind.SUPERMARKET: N_("Supermarket"),
    PlaceKind.SQUARE: N_("Square"), PlaceKind.CHECKPOINT: N_("Traffic checkpoint"),
    PlaceKind.SCHOOL: N_("School"), PlaceKind.HOSPITAL: N_("Hospital"),
    PlaceKind.ISOLATION_POINT: N_("Isolation point"), PlaceKind.STATION: N_("Station"),
    PlaceKind.ADMIN_CENTRE: N_("Administrative centre"), PlaceKind.ENTERPRISE: N_("Enterprise"),
    PlaceKind.OTHER: N_("Other"),
    UnitKind.DISTRICT: N_("District"), UnitKind.STREET: N_("Street"), UnitKind.TOWN: N_("Town"),
    UnitKind.COMMUNITY: N_("Community"), UnitKind.VILLAGE: N_("Village"),
    **labels.TASK_STATES, **labels.ALERT_KINDS, **labels.SEVERITIES, **labels.ALERT_STATES,
}


def map_config(request: Request, centre: tuple[float, float]) -> dict[str, Any]:
    """What map.js needs: layer URLs, the tile URL and the texts of the panel in the page's language."""
    gettext, _ = gettext_for(request_locale(request))
    settings = get_settings()
    return {
        "url": "/api/map/",
        "center": [centre[0], centre[1]],
        "tile_url": settings.tile_url,
        "text": {
            "layer": gettext("Layer"),
            "open": gettext("Open"),
            "ready": gettext("Map ready"),
            "failed": gettext("Some layers could not be loaded:"),
            "not_available": gettext("n/a"),
            "layers": {layer.id: gettext(layer.label) for layer in mapdata.LAYERS},
            "fields": {k: gettext(v) for k, v in FIELD_LABELS.items()},
            "values": {str(k): gettext(v) for k, v in VALUE_LABELS.items()},
        },
    }


@router.get("/map", include_in_schema=False)
def map_page(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The one map page."""
    if user is None:
        return login_redirect(request)
    unit = user.unit
    if user.sees_all:
        district = session.scalar(select(AdminUnit).where(AdminUnit.level == UnitLevel.DISTRICT))
        unit = district or unit
    return page(request, user, "map.html",
                {"layers": mapdata.LAYERS, "map_config": map_config(request, (unit.lon, unit.lat))})


@router.get("/api/map/layers", tags=["map"])
def list_layers(user: CurrentUser) -> list[dict[str, Any]]:
    """The layers of the one map."""
    return [{"id": layer.id, "label": layer.label, "geometry": layer.geometry, "default_on": layer.default_on,
             "available": mapdata.domain_available(layer.domain)} for layer in mapdata.LAYERS]


@router.get("/api/map/{layer}", tags=["map"], response_class=JSONResponse)
def layer_geojson(layer: str, session: SessionDep, user: CurrentUser) -> JSONResponse:
    """One layer of the one map as a GeoJSON FeatureCollection, limited to your jurisdiction."""
    data = mapdata.layer_collection(session, layer, UserLimit(user))
    return JSONResponse(data, media_type="application/geo+json")

"""Pydantic views of administrative units and key places (for the API and exports)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from zhikong.geo.models import PlaceKind, UnitKind, UnitLevel


class UnitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    level: UnitLevel
    kind: UnitKind
    path: str
    lat: float
    lon: float
    generated: bool
    urban: bool


class UnitDetail(UnitOut):
    #: GeoJSON geometry text (lon/lat), or None
    boundary: str | None = None


class PlaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: PlaceKind
    lat: float
    lon: float
    address: str | None = None

"""Administrative hierarchy (district → town/street → village/community) and key places."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, str_enum


class UnitLevel(enum.StrEnum):
    DISTRICT = "district"  # 区县
    TOWN = "town"  # 镇街 (town 镇 or street 街道)
    VILLAGE = "village"  # 村居 (village 村 or community 社区)


class UnitKind(enum.StrEnum):
    DISTRICT = "district"  # 区
    STREET = "street"  # 街道
    TOWN = "town"  # 镇
    COMMUNITY = "community"  # 社区
    VILLAGE = "village"  # 村


class AdminUnit(Base):
    """One administrative unit. ``path`` is the materialised path of codes, ``/500113/500113001/``,
    so "this unit and everything under it" is one prefix match (see ``geo.service.subtree``)."""

    __tablename__ = "admin_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[UnitLevel] = mapped_column(str_enum(UnitLevel, 16))
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind, 16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    path: Mapped[str] = mapped_column(String(255), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    #: GeoJSON geometry (Polygon/MultiPolygon) as text, lon/lat order
    boundary: Mapped[str | None] = mapped_column(Text)
    #: the name was generated for the demo, not taken from an official list
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: urban (streets, communities) or rural; drives simulator densities
    urban: Mapped[bool] = mapped_column(Boolean, default=False)

    parent: Mapped[AdminUnit | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"AdminUnit({self.code} {self.name})"


class PlaceKind(enum.StrEnum):
    MARKET = "market"  # 农贸市场
    SUPERMARKET = "supermarket"  # 超市
    SQUARE = "square"  # 广场
    CHECKPOINT = "checkpoint"  # 交通卡口
    SCHOOL = "school"  # 学校
    HOSPITAL = "hospital"  # 医院
    ISOLATION_POINT = "isolation_point"  # 集中隔离医学观察点
    STATION = "station"  # 车站
    ADMIN_CENTRE = "admin_centre"  # 行政中心
    ENTERPRISE = "enterprise"  # 企业
    OTHER = "other"


class Place(Base):
    """A key place (重点场所) with its unit and position."""

    __tablename__ = "place"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[PlaceKind] = mapped_column(str_enum(PlaceKind, 24), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(255))

    unit: Mapped[AdminUnit] = relationship()

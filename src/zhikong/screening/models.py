"""Screening: incoming lists and their rows, link decisions, risk areas, key persons, concealment.

List rows keep identifiers like the ledger does: encrypted (``*_enc``), keyed hash (``*_hash``,
of the normalised value, for exact lookup and for the lake's pseudonyms) and masked.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhikong.core.db import Base, UTCDateTime, str_enum
from zhikong.core.time import utcnow


class ListSource(enum.StrEnum):
    TELECOM = "telecom"  # 通信运营商来返人员名单
    TRAVEL = "travel"  # 铁路、民航、客运出行记录
    NETIZEN = "netizen"  # 网民举报
    CDC = "cdc"  # 疾控推送病例/密接名单
    DECLARATION = "declaration"  # 自主申报
    OTHER = "other"


class Decision(enum.StrEnum):
    AUTO_LINK = "auto_link"  # 自动关联
    REVIEW = "review"  # 待核实
    NOT_IN_LEDGER = "not_in_ledger"  # 台账外


class RiskLevel(enum.StrEnum):
    HIGH = "high"  # 高风险
    MEDIUM = "medium"  # 中风险


class KeyCategory(enum.StrEnum):
    RISK_AREA_ARRIVAL = "risk_area_arrival"  # 中高风险地区来返
    CLOSE_CONTACT = "close_contact"  # 密切接触者
    SECONDARY_CONTACT = "secondary_contact"  # 次密切接触者
    COMPANION = "companion"  # 时空伴随
    CASE = "case"  # 确诊/无症状
    NETIZEN_REPORT = "netizen_report"  # 网民举报


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"  # 管控中
    RELEASED = "released"  # 已解除
    TRANSFERRED = "transferred"  # 已转出


class ControlMeasure(enum.StrEnum):
    HOME_QUARANTINE = "home_quarantine"  # 居家隔离
    CENTRAL_QUARANTINE = "central_quarantine"  # 集中隔离
    HEALTH_MONITORING = "health_monitoring"  # 健康监测


class IncomingList(Base):
    """One incoming list (名单) as received: its source, date and file."""

    __tablename__ = "incoming_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[ListSource] = mapped_column(str_enum(ListSource, 16), index=True)
    list_date: Mapped[date] = mapped_column(Date, index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rows: Mapped[list[ListRow]] = relationship(back_populates="incoming_list",
                                               order_by="ListRow.row_no")


class ListRow(Base):
    __tablename__ = "list_row"
    __table_args__ = (UniqueConstraint("list_id", "row_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("incoming_list.id", ondelete="CASCADE"),
                                         index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(64))
    sex: Mapped[str | None] = mapped_column(String(8))
    birth_date: Mapped[date | None] = mapped_column(Date)
    #: the ID number as written (normalised), encrypted; valid or not
    id_number_enc: Mapped[str | None] = mapped_column(String(128))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str | None] = mapped_column(String(24))
    id_number_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    phone_enc: Mapped[str | None] = mapped_column(String(128))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(24))
    address: Mapped[str | None] = mapped_column(String(255))
    village_code: Mapped[str | None] = mapped_column(String(12))
    origin_city: Mapped[str | None] = mapped_column(String(64))
    event_date: Mapped[date | None] = mapped_column(Date)  # arrival / report / onset date
    #: other columns of the file, kept as they were
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incoming_list: Mapped[IncomingList] = relationship(back_populates="rows")


class ListLink(Base):
    """The linkage decision for one list row (the latest run replaces earlier ones)."""

    __tablename__ = "list_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_id: Mapped[int] = mapped_column(ForeignKey("list_row.id", ondelete="CASCADE"), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    decision: Mapped[Decision] = mapped_column(str_enum(Decision, 16), index=True)
    match_probability: Mapped[float | None] = mapped_column(Float)
    match_weight: Mapped[float | None] = mapped_column(Float)
    #: comparison → {level, match_weight}: which fields agreed
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the administrative unit a verification/registration task goes to
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    task_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskArea(Base):
    """One entry of a published risk-area list (中高风险地区), down to street level."""

    __tablename__ = "risk_area"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    published_on: Mapped[date] = mapped_column(Date, index=True)
    level: Mapped[RiskLevel] = mapped_column(str_enum(RiskLevel, 8))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32), index=True)
    #: GB/T 2260 code of the city (6 digits) or of the county when given
    area_code: Mapped[str | None] = mapped_column(String(12), index=True)
    district: Mapped[str | None] = mapped_column(String(32))
    #: street/town/community when the area is narrower than the district; null = the whole
    street: Mapped[str | None] = mapped_column(String(64))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_file: Mapped[str | None] = mapped_column(String(255))


class KeyPerson(Base):
    """重点人员: someone under control, with the measure and its dates from the policy."""

    __tablename__ = "key_person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    list_row_id: Mapped[int | None] = mapped_column(ForeignKey("list_row.id"))
    name: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[KeyCategory] = mapped_column(str_enum(KeyCategory, 24), index=True)
    source: Mapped[str] = mapped_column(String(64))
    status: Mapped[KeyStatus] = mapped_column(str_enum(KeyStatus, 16), default=KeyStatus.ACTIVE,
                                              index=True)
    measure: Mapped[ControlMeasure] = mapped_column(str_enum(ControlMeasure, 24))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    policy_edition: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConcealmentFlag(Base):
    """瞒报: a declaration contradicted by the lake, with the evidence."""

    __tablename__ = "concealment_flag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    detail: Mapped[str] = mapped_column(Text, default="")
    task_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

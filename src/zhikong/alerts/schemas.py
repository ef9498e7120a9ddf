"""Request and response bodies of the alerts API."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from zhikong.alerts.models import AlertKind, AlertState, Severity
from zhikong.web.deps import DbId, Version


class AlertIntakeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Or the Idempotency-Key header; one of them is required.",
    )
    kind: AlertKind
    occurred_at: datetime
    severity: Severity = Severity.WARNING
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=5000)
    place_id: DbId | None = None
    place_code: str | None = Field(default=None, max_length=32)
    camera_code: str | None = Field(default=None, min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    unit_id: DbId | None = None
    snapshot_base64: str | None = Field(
        default=None, max_length=8_000_000, description="A JPEG or PNG snapshot, base64."
    )


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: AlertKind
    severity: Severity
    state: AlertState
    title: str
    description: str
    unit_id: int
    place_id: int | None
    camera_code: str | None
    lat: float | None
    lon: float | None
    source: str
    occurred_at: datetime
    last_seen_at: datetime
    count: int
    has_snapshot: bool = False
    task_id: int | None
    dismiss_reason: str | None
    version: int


class AlertIntakeOut(BaseModel):
    outcome: str = Field(description="created, suppressed (folded into an open alert) or replayed.")
    alert: AlertOut


class AlertAction(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CONFIRM = "confirm"
    DISMISS = "dismiss"


class AlertActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version | None = None
    reason: str | None = Field(default=None, max_length=2000)
    task_title: str | None = Field(default=None, max_length=200)
    deadline: datetime | None = None


class AlertPage(BaseModel):
    total: int
    items: list[AlertOut]

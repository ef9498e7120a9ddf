"""Request and response bodies of ``/api/facilities``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from zhikong.facilities.models import CheckSource, FollowupState, LabOutcome, Measure

#: a database id (bounded so that no id overflows a database integer)
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]


def _plausible(v: datetime) -> datetime:
    if not 2000 <= v.year <= 2100:
        raise ValueError("the time must lie between the years 2000 and 2100")
    return v


#: a time of an event (admission, release, measurement)
When = Annotated[datetime, AfterValidator(_plausible)]


class AdmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: Id
    bed_id: Id | None = None
    facility_id: Id | None = None
    key_person_id: Id | None = None
    at: When | None = None


class FollowupStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: Id
    measure: Measure
    key_person_id: Id | None = None
    at: When | None = None


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: When | None = None
    reason: str = Field(default="期满解除", max_length=200)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_bed_id: Id
    at: When | None = None


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(description="°C, 34–43")
    symptoms: list[str] = Field(default_factory=list, max_length=10)
    slot: str | None = Field(default=None, pattern="^(am|pm)$")
    measured_at: When | None = None
    source: CheckSource = CheckSource.STAFF
    note: str | None = Field(default=None, max_length=500)


class SelfCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float
    symptoms: list[str] = Field(default_factory=list, max_length=10)


class TestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: LabOutcome
    sampled_at: When | None = None
    day: int | None = Field(default=None, ge=1, le=60)


class FollowupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    key_person_id: int | None
    measure: Measure
    state: FollowupState
    unit_id: int
    facility_id: int | None
    started_at: datetime
    planned_end_at: datetime
    ended_at: datetime | None
    test_days: str
    previous_id: int | None


class AdmitOut(BaseModel):
    followup: FollowupOut
    bed_id: int
    bed: str


class ReleaseOut(BaseModel):
    followup: FollowupOut
    next_followup: FollowupOut | None
    task_id: int | None


class CheckOut(BaseModel):
    id: int
    day: str
    slot: str
    temperature: float
    abnormal: bool
    alert_id: int | None


class CapacityOut(BaseModel):
    facility_id: int
    name: str
    unit_id: int
    beds: int
    usable: int
    occupied: int
    free: int


class FreeBedOut(BaseModel):
    facility_id: int
    facility_name: str
    bed_id: int
    bed: str
    distance_km: float | None
    free_beds: int


class IngestOut(BaseModel):
    counts: dict[str, int]
    alerts: list[int]


class LinkOut(BaseModel):
    token: str
    path: str = Field(description="The self-report page to send to the person.")
    api_path: str

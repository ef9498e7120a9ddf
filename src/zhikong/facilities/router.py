"""``/api/facilities``: capacity, free beds, admission/transfer/release, follow-up checks and tests,
self-report links, HTTP telemetry, and the map layer (GeoJSON)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from zhikong.auth.models import Role
from zhikong.auth.service import require_role
from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.facilities import followup, service, telemetry
from zhikong.facilities.mapdata import facilities_geojson
from zhikong.facilities.models import Bed, CheckSource, Followup
from zhikong.facilities.pages import router as pages_router
from zhikong.facilities.schemas import (
    AdmitIn,
    AdmitOut,
    CapacityOut,
    CheckIn,
    CheckOut,
    FollowupOut,
    FollowupStartIn,
    FreeBedOut,
    IngestOut,
    LinkOut,
    ReleaseIn,
    ReleaseOut,
    SelfCheckIn,
    TestIn,
    TransferIn,
)
from zhikong.web.deps import CurrentUser, SessionDep

api = APIRouter(prefix="/api/facilities", tags=["facilities"])
PathId = Annotated[int, Path(ge=1, le=2_147_483_647)]

WRITERS = (
    Role.DISTRICT_COMMAND,
    Role.ISOLATION_STAFF,
    Role.TOWN_OPERATOR,
    Role.VILLAGE_OPERATOR,
    Role.SYSTEM_ADMIN,
)
MAX_HTTP_BATCH = 1000


def _fu(f: Followup) -> FollowupOut:
    return FollowupOut.model_validate(f)


@api.get("/capacity", response_model=list[CapacityOut])
def capacity(session: SessionDep, user: CurrentUser) -> list[CapacityOut]:
    """Beds, occupancy and free beds per isolation point in your jurisdiction."""
    return [
        CapacityOut(
            facility_id=r.facility_id,
            name=r.name,
            unit_id=r.unit_id,
            beds=r.beds,
            usable=r.usable,
            occupied=r.occupied,
            free=r.free,
        )
        for r in service.capacity(session, user)
    ]


@api.get("/free-bed", response_model=FreeBedOut)
def free_bed(
    session: SessionDep,
    user: CurrentUser,
    near_unit_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> FreeBedOut:
    """A free bed, at the point nearest to ``near_unit_id`` when given."""
    fb = service.find_free_bed(session, user, near_unit_id)
    return FreeBedOut(
        facility_id=fb.facility_id,
        facility_name=fb.facility_name,
        bed_id=fb.bed_id,
        bed=fb.label,
        distance_km=fb.distance_km,
        free_beds=fb.free_beds,
    )


@api.get("/map")
def map_layer(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """GeoJSON FeatureCollection of isolation and screening points (occupancy, devices, open alarms)."""
    return facilities_geojson(session, user)


@api.post("/admit", response_model=AdmitOut, status_code=201)
def admit(body: AdmitIn, session: SessionDep, user: CurrentUser) -> AdmitOut:
    require_role(user, *WRITERS, what="admit to an isolation point")
    fu, stay = service.admit(
        session,
        user,
        body.person_id,
        bed_id=body.bed_id,
        facility_id=body.facility_id,
        at=body.at,
        key_person_id=body.key_person_id,
    )
    bed = session.get(Bed, stay.bed_id)
    assert bed is not None
    return AdmitOut(followup=_fu(fu), bed_id=bed.id, bed=service.bed_label(session, bed))


@api.post("/followups", response_model=FollowupOut, status_code=201)
def start_followup(body: FollowupStartIn, session: SessionDep, user: CurrentUser) -> FollowupOut:
    """Home quarantine or health monitoring in the village."""
    require_role(user, *WRITERS, what="start a follow-up")
    return _fu(
        service.start_followup(
            session, user, body.person_id, body.measure, at=body.at, key_person_id=body.key_person_id
        )
    )


@api.get("/followups/{followup_id}", response_model=FollowupOut)
def get_followup(followup_id: PathId, session: SessionDep, user: CurrentUser) -> FollowupOut:
    return _fu(service.get_followup(session, followup_id, user))


@api.post("/followups/{followup_id}/release", response_model=ReleaseOut)
def release(followup_id: PathId, body: ReleaseIn, session: SessionDep, user: CurrentUser) -> ReleaseOut:
    require_role(user, *WRITERS, what="release")
    r = service.release(session, user, followup_id, at=body.at, reason=body.reason)
    return ReleaseOut(
        followup=_fu(r.followup),
        next_followup=_fu(r.next_followup) if r.next_followup else None,
        task_id=r.task_id,
    )


@api.post("/followups/{followup_id}/transfer", response_model=FollowupOut)
def transfer(followup_id: PathId, body: TransferIn, session: SessionDep, user: CurrentUser) -> FollowupOut:
    require_role(user, *WRITERS, what="transfer")
    service.transfer(session, user, followup_id, body.to_bed_id, at=body.at)
    return _fu(service.get_followup(session, followup_id, user))


def _check_out(r: followup.CheckResult) -> CheckOut:
    c = r.check
    return CheckOut(
        id=c.id,
        day=c.day.isoformat(),
        slot=c.slot,
        temperature=c.temperature,
        abnormal=c.abnormal,
        alert_id=r.alert_id,
    )


@api.post("/followups/{followup_id}/checks", response_model=CheckOut, status_code=201)
def record_check(followup_id: PathId, body: CheckIn, session: SessionDep, user: CurrentUser) -> CheckOut:
    """A staff entry or a village visit record (phone-friendly: a few fields, JSON)."""
    require_role(user, *WRITERS, what="record a health check")
    if body.source == CheckSource.SELF:
        raise InvalidInput("self reports come through the personal link", field="source")
    return _check_out(
        followup.record_check(
            session,
            user,
            followup_id,
            temperature=body.temperature,
            symptoms=body.symptoms,
            source=body.source,
            slot=body.slot,
            measured_at=body.measured_at,
            note=body.note,
        )
    )


@api.post("/followups/{followup_id}/tests", status_code=201)
def record_test(followup_id: PathId, body: TestIn, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    require_role(user, *WRITERS, what="record a test result")
    r = followup.record_test(
        session, user, followup_id, outcome=body.outcome, sampled_at=body.sampled_at, day=body.day
    )
    return {"id": r.id, "day": r.day_number, "outcome": r.outcome.value}


@api.get("/followups/{followup_id}/link", response_model=LinkOut)
def self_report_link(followup_id: PathId, session: SessionDep, user: CurrentUser) -> LinkOut:
    """The personal self-report link (signed, expires after the measure) to send to the person."""
    fu = service.get_followup(session, followup_id, user)
    token = followup.self_report_token(fu)
    return LinkOut(token=token, path=f"/r/{token}", api_path=f"/api/facilities/self-report/{token}")


@api.get("/self-report/{token}")
def self_report_status(token: str, session: SessionDep) -> dict[str, Any]:
    """What the personal link shows: the measure, its end and the checks recorded so far."""
    fu = followup.followup_for_token(session, token)
    return {
        "measure": fu.measure.value,
        "measure_zh": followup.MEASURE_ZH[fu.measure],
        "planned_end_at": fu.planned_end_at.isoformat(),
        "tests": [{"day": d, "date": when.isoformat()} for d, when in followup.schedule(fu)],
        "symptoms": followup.SYMPTOMS,
    }


@api.post("/self-report/{token}", response_model=CheckOut, status_code=201)
def self_report(token: str, body: SelfCheckIn, session: SessionDep) -> CheckOut:
    """A check reported by the person through the link (no login; the link is the credential)."""
    fu = followup.followup_for_token(session, token)
    return _check_out(
        followup.record_check(
            session,
            None,
            fu.id,
            temperature=body.temperature,
            symptoms=body.symptoms,
            source=CheckSource.SELF,
        )
    )


@api.post("/telemetry", response_model=IngestOut)
async def http_telemetry(request: Request, session: SessionDep, user: CurrentUser) -> IngestOut:
    """Device messages over HTTP (one JSON object or an array of at most 1000), with the counts."""
    # each message ends stored, duplicate or rejected (counted and logged in telemetry_reject)
    require_role(user, *WRITERS, Role.VIDEO_PATROLLER, what="send telemetry")
    body = await request.body()
    now = utcnow()
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        doc = None
    items = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else None
    if items is None:
        raws = [telemetry.RawMessage(payload=body, received_at=now, channel="http")]
    else:
        if len(items) > MAX_HTTP_BATCH:
            raise InvalidInput(f"at most {MAX_HTTP_BATCH} messages per request", field="body")
        raws = [
            telemetry.RawMessage(payload=json.dumps(m).encode(), received_at=now, channel="http")
            for m in items
        ]
    res = telemetry.ingest(session, raws)
    return IngestOut(counts=dict(res.counts), alerts=res.alerts)


@api.get("/telemetry/counters")
def telemetry_counters(session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """Running totals: stored, duplicate and each rejection reason."""
    return telemetry.counters(session)


#: the API and the HTML pages (discovered by the web app as ``zhikong.facilities.router.router``)
router = APIRouter()
router.include_router(api)
router.include_router(pages_router)

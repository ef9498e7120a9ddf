"""``/api/alerts``: intake with idempotency keys, lists, handling, and the live stream (SSE)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from zhikong.alerts import service
from zhikong.alerts.models import Alert, AlertKind, AlertState
from zhikong.alerts.schemas import (
    AlertAction,
    AlertActionIn,
    AlertIntakeIn,
    AlertIntakeOut,
    AlertOut,
    AlertPage,
)
from zhikong.auth.models import User
from zhikong.core.config import get_settings
from zhikong.core.db import session_factory
from zhikong.core.errors import InvalidInput, NotFound, PermissionDenied
from zhikong.web.deps import CurrentUser, IdPath, SessionDep, request_engine

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

# live delivery: writers in this process wake the streams at once; other processes are seen by polling
_wakeup = threading.Condition()
_generation = [0]


def _on_alert(_alert_id: int) -> None:
    with _wakeup:
        _generation[0] += 1
        _wakeup.notify_all()


service.add_listener(_on_alert)


def _out(alert: Alert) -> AlertOut:
    out = AlertOut.model_validate(alert)
    out.has_snapshot = alert.snapshot_path is not None
    return out


@router.post(
    "",
    response_model=AlertIntakeOut,
    status_code=201,
    responses={200: {"model": AlertIntakeOut, "description": "A replay or a suppressed repeat."}},
)
def intake(
    body: AlertIntakeIn,
    session: SessionDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> AlertIntakeOut:
    """Take in an alert (camera platform, device, fever station, citizen report); idempotent by key."""
    key = idempotency_key or body.idempotency_key
    if not key:
        raise InvalidInput(
            "send an Idempotency-Key header or an idempotency_key field", field="idempotency_key"
        )
    if body.idempotency_key and idempotency_key and body.idempotency_key != idempotency_key:
        raise InvalidInput(
            "the Idempotency-Key header and the idempotency_key field differ", field="idempotency_key"
        )
    data = service.AlertIn(
        idempotency_key=key,
        kind=body.kind,
        occurred_at=body.occurred_at,
        severity=body.severity,
        title=body.title,
        description=body.description,
        place_id=body.place_id,
        place_code=body.place_code,
        camera_code=body.camera_code,
        lat=body.lat,
        lon=body.lon,
        unit_id=body.unit_id,
        snapshot=service.decode_snapshot(body.snapshot_base64),
        source=f"api:{user.username}",
    )
    alert, outcome = service.intake(session, data, actor=user)
    if outcome != "created":
        response.status_code = 200
    if outcome == "replayed":
        response.headers["Idempotent-Replayed"] = "true"
    return AlertIntakeOut(outcome=outcome, alert=_out(alert))


@router.get("", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    user: CurrentUser,
    state: Annotated[list[AlertState] | None, Query()] = None,
    kind: AlertKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AlertPage:
    """Alerts in your jurisdiction, newest first."""
    items, total = service.list_alerts(session, user, state=state, kind=kind, limit=limit, offset=offset)
    return AlertPage(total=total, items=[_out(a) for a in items])


async def _stream(
    request: Request, user: User, after_id: int, max_events: int | None, timeout: float
) -> AsyncIterator[str]:
    factory = session_factory(request_engine(request))

    def fetch(last: int) -> list[AlertOut]:
        with factory() as s:
            return [_out(a) for a in service.new_since(s, user, last)]

    def wait(gen: int, seconds: float) -> None:
        with _wakeup:
            if _generation[0] == gen:
                _wakeup.wait(seconds)

    last, sent = after_id, 0
    started = last_beat = time.monotonic()
    yield "retry: 3000\n\n"
    while True:
        gen = _generation[0]
        for a in await run_in_threadpool(fetch, last):
            payload = json.dumps(a.model_dump(mode="json"), ensure_ascii=False)
            yield f"id: {a.id}\nevent: alert\ndata: {payload}\n\n"
            last, sent = a.id, sent + 1
            if max_events is not None and sent >= max_events:
                return
        now = time.monotonic()
        if now - started >= timeout or await request.is_disconnected():
            return
        if now - last_beat >= 15:
            yield ": keep-alive\n\n"
            last_beat = now
        await run_in_threadpool(wait, gen, min(1.0, max(0.05, timeout - (now - started))))
        await asyncio.sleep(0)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
def stream(
    request: Request,
    user: CurrentUser,
    after_id: Annotated[
        int | None, Query(ge=0, le=2_147_483_647, description="Send alerts after this id.")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    max_events: Annotated[int | None, Query(ge=1, le=10000)] = None,
    timeout: Annotated[float, Query(gt=0, le=3600)] = 3600,
) -> StreamingResponse:
    """Live alerts for the duty staff of your jurisdiction (server-sent events)."""
    if not user.on_duty:
        raise PermissionDenied("live alerts go to duty staff; you are not on duty", field="on_duty")
    start = after_id
    if start is None and last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    if start is None:
        with session_factory(request_engine(request))() as s:
            start = s.scalar(select(func.max(Alert.id))) or 0
    return StreamingResponse(
        _stream(request, user, start, max_events, timeout),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: IdPath, session: SessionDep, user: CurrentUser) -> AlertOut:
    """One alert in your jurisdiction."""
    return _out(service.get_alert(session, user, alert_id))


@router.get("/{alert_id}/snapshot", response_class=FileResponse)
def get_snapshot(alert_id: IdPath, session: SessionDep, user: CurrentUser) -> FileResponse:
    """The alert's snapshot image."""
    alert = service.get_alert(session, user, alert_id)
    if not alert.snapshot_path:
        raise NotFound(f"alert {alert_id} has no snapshot", field="alert_id")
    path = get_settings().data_dir / alert.snapshot_path
    media = "image/png" if path.suffix == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media)


@router.post("/{alert_id}/{action}", response_model=AlertOut)
def act(
    alert_id: IdPath, action: AlertAction, body: AlertActionIn, session: SessionDep, user: CurrentUser
) -> AlertOut:
    """Acknowledge, confirm (creates a task) or dismiss (with a reason) an alert."""
    alert = service.act(
        session,
        user,
        alert_id,
        action.value,
        version=body.version,
        reason=body.reason,
        task_title=body.task_title,
        deadline=body.deadline,
    )
    return _out(alert)

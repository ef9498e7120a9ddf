"""Demo step: a few alerts — repeated video deliveries folded into one, a fever alert confirmed into a
task, a false alarm dismissed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from zhikong.alerts import service
from zhikong.alerts.models import Alert, AlertKind, Severity
from zhikong.auth.models import Role, User
from zhikong.core.db import unit_of_work
from zhikong.core.time import utcnow
from zhikong.geo.models import Place


def step(ctx: Any) -> None:
    with unit_of_work() as s:
        handler = s.scalar(select(User).where(User.role == Role.VIDEO_PATROLLER).order_by(User.id).limit(1))
        if handler is None:
            ctx.console.print("no demo users; skipping demo alerts")
            return
        if s.scalar(select(Alert.id).where(Alert.source == "demo").limit(1)) is not None:
            ctx.console.print("demo alerts exist already")
            return
        places = list(s.scalars(select(Place).order_by(Place.id).limit(3)))
        now = utcnow()
        where: list[dict[str, Any]] = (
            [{"place_id": p.id} for p in places] if places else [{"unit_id": handler.unit_id}] * 3
        )
        outcomes = []
        for i in range(3):  # one crowd, seen three times by the same camera
            _, o = service.intake(
                s,
                service.AlertIn(
                    idempotency_key=f"demo-crowd-{i}",
                    kind=AlertKind.CROWD,
                    camera_code="DEMO-CAM-01",
                    occurred_at=now - timedelta(minutes=20 - i * 5),
                    severity=Severity.WARNING,
                    title="农贸市场人员聚集",
                    source="demo",
                    **where[0],
                ),
                actor="demo",
            )
            outcomes.append(o)
        fever, _ = service.intake(
            s,
            service.AlertIn(
                idempotency_key="demo-fever-1",
                kind=AlertKind.FEVER,
                occurred_at=now - timedelta(minutes=8),
                severity=Severity.CRITICAL,
                title="测温点体温异常 37.9℃",
                source="demo",
                **where[1 % len(where)],
            ),
            actor="demo",
        )
        false_alarm, _ = service.intake(
            s,
            service.AlertIn(
                idempotency_key="demo-mask-1",
                kind=AlertKind.NO_MASK,
                occurred_at=now - timedelta(minutes=3),
                severity=Severity.INFO,
                title="未佩戴口罩",
                source="demo",
                **where[2 % len(where)],
            ),
            actor="demo",
        )
        confirmed = service.act(s, handler, fever.id, "confirm")
        service.act(s, handler, false_alarm.id, "dismiss", reason="复核视频为工作人员，已佩戴口罩")
    ctx.console.print(
        f"demo alerts: crowd deliveries {outcomes}, fever alert → task {confirmed.task_id}, "
        "1 false alarm dismissed"
    )

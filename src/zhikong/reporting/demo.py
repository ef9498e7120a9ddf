"""Demo step: the report forms, a week of town and village daily reports (a few late, one corrected, a
few missing → reminders and overdue tasks), and today's district daily summary PDF."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from zhikong.auth.models import Role, User
from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.time import CHINA_TZ, as_utc, local_day, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.reporting import meetings, pdf, service
from zhikong.reporting.models import DailyReport, Meeting
from zhikong.reporting.summary import build_summary


def _values(code: str, rng: random.Random, scale: float) -> dict[str, Any]:
    if code == "town_daily":
        return {
            "screened": int(rng.gauss(1800, 400) * scale),
            "arrivals": rng.randint(5, 60),
            "home_quarantine": rng.randint(0, 25),
            "central_quarantine": rng.randint(0, 8),
            "nucleic_tests": int(rng.gauss(9000, 2500) * scale),
            "fever_visits": rng.randint(0, 12),
            "vaccination_rate": round(rng.uniform(85, 97), 1),
            "checkpoints_ok": rng.random() > 0.1,
            "notes": "",
        }
    return {
        "households_visited": rng.randint(20, 160),
        "arrivals": rng.randint(0, 6),
        "home_quarantine": rng.randint(0, 3),
        "notes": "",
    }


def step(ctx: Any) -> None:
    rng = random.Random(getattr(ctx, "seed", 1))
    now = utcnow()
    today = local_day(now)
    with unit_of_work() as s:
        forms = service.sync_forms(s)
        if s.scalar(select(DailyReport.id).limit(1)) is not None:
            ctx.console.print("demo reports exist already")
        else:
            stored = 0
            for form in forms:
                fd = service.form_def(form)
                units = service.reporting_units(s, fd)
                for back in range(6, -1, -1):
                    day = today - timedelta(days=back)
                    hh, mm = (int(x) for x in fd.deadline.split(":"))
                    deadline = as_utc(datetime.combine(day, time(hh, mm), tzinfo=CHINA_TZ))
                    scale = 1.0 + 0.08 * (6 - back)
                    for u in units:
                        miss = rng.random() < (0.12 if back == 0 else 0.02)
                        if miss:
                            continue
                        at = min(deadline - timedelta(minutes=rng.randint(-40, 300)), now)
                        service.submit_report(
                            s, "demo", fd.code, u.id, day, _values(fd.code, rng, scale), source="demo", now=at
                        )
                        stored += 1
            first = s.scalar(select(DailyReport).order_by(DailyReport.id).limit(1))
            if first is not None:
                fd = service.form_def(next(f for f in forms if f.id == first.form_id))
                key = fd.numeric[0].key
                service.submit_report(
                    s,
                    "demo",
                    fd.code,
                    first.unit_id,
                    first.day,
                    {**first.values, key: int(first.values[key]) + 17},
                    source="demo",
                    reason="补录漏报卡口数据",
                    now=now,
                )
            ctx.console.print(f"stored {stored} daily reports over 7 days (one corrected)")
        result = service.remind(s, today - timedelta(days=1), now=now)
        result2 = service.remind(s, today, now=now)
        ctx.console.print(
            f"reminders: {len(result.reminded) + len(result2.reminded)} units; overdue tasks: "
            f"{len(result.tasks) + len(result2.tasks)}"
        )
        summary = build_summary(s, today, now=now)
    path = get_settings().data_dir / "reports" / f"summary-{today.isoformat()}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf.summary_pdf(summary))
    ctx.console.print(f"district daily summary PDF: {path}")
    ctx.data["reporting_summary_pdf"] = str(path)
    _meeting(ctx, rng, now)


def _meeting(ctx: Any, rng: random.Random, now: datetime) -> None:
    """This morning's dispatch meeting 调度会 with every town/street: most confirmed, minutes, and one
    decision that became a task for three towns."""
    with unit_of_work() as s:
        command = s.scalar(select(User).where(User.role == Role.DISTRICT_COMMAND).order_by(User.id).limit(1))
        if command is None:
            ctx.console.print("no district command user; skipping the demo dispatch meeting")
            return
        if s.scalar(select(Meeting.id).limit(1)) is not None:
            ctx.console.print("a demo dispatch meeting exists already")
            return
        start = datetime.combine(local_day(now), time(8, 30), tzinfo=CHINA_TZ)
        m = meetings.schedule(
            s,
            command,
            title="全区疫情防控视频调度会",
            starts_at=start,
            agenda="1. 通报昨日流调与排查进展\n2. 重点场所视频巡查发现的问题\n3. 隔离点床位调度",
            tiers=[UnitLevel.TOWN.value],
        )
        towns = list(
            s.scalars(select(AdminUnit).where(AdminUnit.level == UnitLevel.TOWN).order_by(AdminUnit.code))
        )
        confirmed = [t for t in towns if rng.random() < 0.85]
        for town in confirmed:
            meetings.confirm(s, command, m.id, town.id)
        meetings.record_minutes(
            s, command, m.id, "各镇街汇报排查进展；要求对重点场所聚集问题当日整改，隔离点床位统一调度。"
        )
        decision = meetings.decide(
            s, command, m.id, "当日完成辖区农贸市场聚集问题整改并反馈照片", [t.id for t in towns[:3]]
        )
        ctx.console.print(
            f"dispatch meeting {m.id}: {len(confirmed)}/{len(towns)} towns confirmed, "
            f"decision → {len(decision.task_ids)} tasks"
        )

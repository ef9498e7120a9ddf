"""Demo step: the report forms, a week of town and village daily reports (a few late, one corrected, a
few missing → reminders and overdue tasks), and today's district daily summary PDF."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from zhikong.core.config import get_settings
from zhikong.core.db import unit_of_work
from zhikong.core.time import CHINA_TZ, as_utc, local_day, utcnow
from zhikong.reporting import pdf, service
from zhikong.reporting.models import DailyReport
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

"""How long until the one map (一张图) is interactive, in headless Chromium, on the Banan demo data.

Serves zhikong on a temp SQLite database with Banan's 22 towns and 300 villages, the demo key
places, and extra open alerts and tasks spread over the villages (a few thousand map features), then
opens ``/map`` as the district command centre several times, each in a fresh browser context (cold
cache), and reports the time from navigation start to "all default layers loaded and drawn"
(``window.zhikongMapReadyAt``). The peer measured in the same run is the login page's load event:
the ratio says how much the map costs over the lightest page of the same server.

    PYTHONPATH=src python benchmarks/bench_map_page.py [--runs 5] [--alerts 1500] [--tasks 600]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.web.server import CHROMIUM, CHROMIUM_ARGS, PASSWORD, live_server  # noqa: E402


def seed_load(n_alerts: int, n_tasks: int, seed: int = 7) -> float:
    """Open alerts and tasks over the villages through the services; returns the seconds taken."""
    from sqlalchemy import select

    from zhikong.alerts import service as alert_service
    from zhikong.alerts.models import AlertKind, Severity
    from zhikong.core.db import unit_of_work
    from zhikong.core.errors import NotFound
    from zhikong.geo.models import AdminUnit, UnitLevel
    from zhikong.tasks.service import create_task

    rng = random.Random(seed)
    t0 = time.perf_counter()
    with unit_of_work() as session:
        villages = session.execute(select(AdminUnit.id, AdminUnit.lat, AdminUnit.lon)
                                   .where(AdminUnit.level == UnitLevel.VILLAGE)).all()
        now = datetime.now(UTC)
        kinds = list(AlertKind)
        for i in range(n_alerts):
            uid, lat, lon = rng.choice(villages)
            base = dict(idempotency_key=f"bench-{i}", kind=kinds[i % len(kinds)],
                        occurred_at=now - timedelta(minutes=rng.randint(0, 600)), severity=Severity.WARNING,
                        title=f"bench alert {i}", unit_id=uid, camera_code=f"CAM{i}", source="bench")
            pos = {"lat": lat + rng.uniform(-0.002, 0.002), "lon": lon + rng.uniform(-0.002, 0.002)}
            try:
                with session.begin_nested():
                    alert_service.intake(session, alert_service.AlertIn(**base, **pos), actor="bench")
            except NotFound:  # the jittered position fell outside the district: no position then
                alert_service.intake(session, alert_service.AlertIn(**base), actor="bench")
        for i in range(n_tasks):
            uid, _, _ = rng.choice(villages)
            create_task(session, kind="registration", unit_id=uid, title=f"bench task {i}", description="",
                        priority="normal", source="bench", actor="bench")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--alerts", type=int, default=1500)
    ap.add_argument("--tasks", type=int, default=600)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as live:
        seeded = seed_load(args.alerts, args.tasks)
        print(f"seeded {args.alerts} alerts and {args.tasks} tasks in {seeded:.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ctx = browser.new_context(base_url=live.url)
            page = ctx.new_page()
            page.goto("/login")
            page.fill("#username", live.logins["district_command"][0])
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/login" not in u)
            cookies = ctx.cookies()
            ctx.close()
            map_ms: list[float] = []
            login_ms: list[float] = []
            features = 0
            for _ in range(args.runs):
                c = browser.new_context(base_url=live.url, viewport={"width": 1366, "height": 800})
                c.add_cookies(cookies)
                pg = c.new_page()
                pg.goto("/map", wait_until="commit")
                pg.wait_for_selector("body[data-map-ready='1']", timeout=60000)
                map_ms.append(float(pg.evaluate("() => window.zhikongMapReadyAt")))
                features = int(pg.evaluate("() => Object.values(window.zhikongMap.layers)"
                                           ".reduce((n, l) => n + l.getLayers().length, 0)"))
                c.close()
                c = browser.new_context(base_url=live.url)
                pg = c.new_page()
                pg.goto("/login", wait_until="load")
                login_ms.append(float(pg.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].loadEventEnd")))
                c.close()
            browser.close()
    med_map, med_login = statistics.median(map_ms), statistics.median(login_ms)
    print(f"map features drawn: {features} (default layers)")
    print(f"map interactive after navigation: median {med_map:.0f} ms, "
          f"runs {', '.join(f'{m:.0f}' for m in map_ms)} ms (goal: under 2000 ms)")
    print(f"peer, login page load: median {med_login:.0f} ms; ratio map/login {med_map / med_login:.1f}x")


if __name__ == "__main__":
    main()

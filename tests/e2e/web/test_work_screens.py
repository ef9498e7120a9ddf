"""The work screens in a real browser: a task from assigned to accepted, a live alert, another unit's
URL, server-side form errors, and axe-core on every page."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .conftest import SCREENSHOTS, login, run_axe, screenshot
from .server import LiveServer

NewPage = Callable[..., Any]


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def state_text(page: Any) -> str:
    return str(page.inner_text("[data-testid=task-state]")).strip()


def test_task_from_assigned_to_accepted(new_page: NewPage, live: LiveServer) -> None:
    task_id = live.extra["task_id"]
    village = new_page()
    login(village, live, "village_operator")
    village.goto("/tasks")
    village.click(f"tr[data-task-id='{task_id}'] a")
    assert state_text(village) == "已交办"
    village.click("[data-testid=act-sign_for]")
    village.wait_for_selector("[data-testid=act-start]")
    assert state_text(village) == "已签收"
    village.click("[data-testid=act-start]")
    village.wait_for_selector("[data-testid=act-submit]")
    # feedback is required: the server says so beside the field, nothing changes
    village.click("[data-testid=act-submit]")
    village.wait_for_selector("#submit-feedback-error")
    assert village.get_attribute("#submit-feedback", "aria-invalid") == "true"
    assert state_text(village) == "处置中"
    village.fill("#submit-feedback", "已逐户核查，3 人已登记")
    village.set_input_files(
        "#submit-photos", files=[{"name": "site.png", "mimeType": "image/png", "buffer": tiny_png()}]
    )
    village.click("[data-testid=act-submit]")
    village.wait_for_selector("text=site.png")
    assert state_text(village) == "已反馈"
    screenshot(village, "task-submitted")
    # the level above checks and accepts
    town = new_page()
    login(town, live, "town_operator")
    town.goto(f"/tasks/{task_id}")
    town.click("[data-testid=act-accept]")
    town.wait_for_selector("[data-testid=task-state]:has-text('已办结')")
    assert "已逐户核查" in town.inner_text("main")


def test_another_units_task_is_not_shown(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    login(page, live, "village_operator")
    resp = page.goto(f"/tasks/{live.extra['other_task_id']}")
    assert resp.status == 404
    assert "其他镇街的任务" not in page.inner_text("body")
    resp = page.goto(f"/people/{live.extra['person_id'] + 1000}")
    assert resp.status == 404
    resp = page.goto("/tasks/99999999999999999999")  # a huge id is bad input, not a server error
    assert resp.status == 422
    api = page.request.get(f"/api/tasks/{live.extra['other_task_id']}")
    assert api.status in (403, 404)
    page.goto("/tasks")
    assert "其他镇街的任务" not in page.inner_text("main")
    resp = page.goto(f"/tasks?unit={live.extra['other_unit_id']}")
    assert resp.status == 403
    assert "其他镇街的任务" not in page.inner_text("body")


def test_live_alert_reaches_the_console(new_page: NewPage, live: LiveServer) -> None:
    from zhikong.alerts import service as alert_service
    from zhikong.alerts.models import AlertKind, Severity
    from zhikong.core.db import unit_of_work

    page = new_page()
    login(page, live, "village_operator")
    page.goto("/alerts")
    page.wait_for_selector("body[data-alerts-live='1']")
    with unit_of_work() as session:
        alert, _ = alert_service.intake(
            session,
            alert_service.AlertIn(
                idempotency_key="e2e-live-1",
                kind=AlertKind.CROWD,
                occurred_at=datetime.now(UTC),
                severity=Severity.CRITICAL,
                title="E2E 市场人员聚集",
                unit_id=live.extra["village_id"],
                source="e2e",
            ),
            actor="e2e",
        )
        alert_id = alert.id
    page.wait_for_selector(f"tr[data-alert-id='{alert_id}']", timeout=10000)
    assert "E2E 市场人员聚集" in page.inner_text("#alert-rows")
    screenshot(page, "alert-console")
    page.click(f"tr[data-alert-id='{alert_id}'] [data-testid=alert-acknowledge]")
    page.wait_for_selector(f"tr[data-alert-id='{alert_id}'] [data-testid=alert-state]:has-text('已确认收到')")
    # dismissing needs a reason, shown beside the field
    page.click(f"tr[data-alert-id='{alert_id}'] [data-testid=alert-dismiss]")
    page.wait_for_selector(f"#reason-{alert_id}-error")
    page.fill(f"#reason-{alert_id}", "人员已疏散，误报")
    page.click(f"tr[data-alert-id='{alert_id}'] [data-testid=alert-dismiss]")
    page.wait_for_selector(f"tr[data-alert-id='{alert_id}']", state="detached")
    # confirming an alert turns it into a task for the unit
    with unit_of_work() as session:
        second, _ = alert_service.intake(
            session,
            alert_service.AlertIn(
                idempotency_key="e2e-live-2",
                kind=AlertKind.FEVER,
                occurred_at=datetime.now(UTC),
                severity=Severity.WARNING,
                title="E2E 体温异常",
                unit_id=live.extra["village_id"],
                source="e2e",
            ),
            actor="e2e",
        )
        second_id = second.id
    page.wait_for_selector(f"tr[data-alert-id='{second_id}']", timeout=10000)
    page.click(f"tr[data-alert-id='{second_id}'] [data-testid=alert-confirm]")
    page.wait_for_url("**/tasks/*")
    assert "E2E 体温异常" in page.inner_text("h1")
    assert state_text(page) == "已交办"


def test_person_page_masks_and_audits(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    login(page, live, "village_operator")
    page.goto(f"/people/{live.extra['person_id']}")
    assert "*" in page.inner_text("[data-testid=id-number]")
    page.click("[data-testid=reveal]")
    page.wait_for_selector("#reveal-reason-error")
    page.fill("#reveal-reason", "核实密接身份")
    page.click("[data-testid=reveal]")
    page.wait_for_selector("text=本次查看已记入审计日志")
    assert page.inner_text("[data-testid=id-number]") == "500113199001011234"


def test_person_page_trajectory_map(new_page: NewPage, live: LiveServer) -> None:
    from sqlalchemy import func, select

    from zhikong.audit.models import AuditRecord
    from zhikong.core.db import unit_of_work

    def views() -> int:
        with unit_of_work() as session:
            return int(session.scalar(select(func.count()).select_from(AuditRecord).where(
                AuditRecord.action == "person.read_trajectory",
                AuditRecord.subject_id == str(live.extra["person_id"]))) or 0)

    page = new_page()
    login(page, live, "village_operator")
    page.goto(f"/people/{live.extra['person_id']}")
    page.wait_for_selector("body[data-trajectory-ready='1']", timeout=15000)
    # 2 cell stays, 1 venue scan, 1 camera sighting, 3 GPS buckets (6 points every 5 minutes)
    assert page.locator("path.trajectory-point").count() == 7
    assert page.inner_text("#trajectory-count-cell") == "2"
    assert page.inner_text("#trajectory-count-gps") == "3"
    polyline = page.locator("#person-map path.leaflet-interactive:not(.trajectory-point)")
    assert polyline.count() == 1
    page.locator("path.tj-venue_scan").click()
    popup = page.wait_for_selector(".leaflet-popup-content")
    assert "E2E 农贸市场" in popup.inner_text() and "场所码扫码" in popup.inner_text()
    page.wait_for_timeout(400)  # the popup fades in
    screenshot(page, "person-trajectory")
    page.uncheck("#trajectory-source-gps")
    assert page.locator("path.trajectory-point").count() == 4
    assert page.get_attribute("body", "data-trajectory-shown") == "4"
    # every view is audited: a reload of the window writes one more record
    page.wait_for_timeout(500)  # let other tests' page loads of this person finish their views
    before = views()
    assert before >= 1
    page.click("[data-testid=trajectory-show]")
    page.wait_for_selector("body[data-trajectory-ready='1']", timeout=15000)
    assert views() == before + 1
    # a person with nothing in the lake: an honest empty state
    page.goto(f"/people/{live.extra['contact_person_id']}")
    page.wait_for_selector("body[data-trajectory-ready='empty']", timeout=15000)
    assert "数据湖中没有此人在该时间段内的记录" in page.inner_text("#trajectory-status")
    assert page.locator("path.trajectory-point").count() == 0


def test_case_page_lists_contacts_and_is_audited(new_page: NewPage, live: LiveServer) -> None:
    from sqlalchemy import select

    from zhikong.audit.models import AuditRecord
    from zhikong.core.db import unit_of_work

    page = new_page()
    login(page, live, "village_operator")
    page.goto("/cases")
    page.click("text=确诊病例")
    page.wait_for_selector("#cls-close")
    assert "李四" in page.inner_text("#cls-close ~ table, main")
    page.wait_for_function("() => !!document.querySelector('#chain canvas')")
    screenshot(page, "case")
    with unit_of_work() as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.subject_type == "person")
        ).all()
    assert "person.read_trajectory" in actions
    page.goto("/screening")
    assert "集中隔离" in page.inner_text("main")
    # the contact's page shows the category, the measure and the exposure timeline
    page.goto(f"/people/{live.extra['contact_person_id']}")
    assert "集中隔离" in page.inner_text("#person-measures ~ table, main")
    assert "农贸市场" in page.inner_text("main")
    page.goto("/map")
    page.wait_for_selector("body[data-map-ready='1']")
    assert page.inner_text("#count-cases") == "1"


PAGES = ["/login", "/map", "/dashboard", "/tasks", "/alerts", "/people", "/cases", "/screening", "/video",
         "/video/patrol", "/meetings"]
#: axe rules about labels and contrast; a serious or critical one fails the test
LABEL_AND_CONTRAST = {
    "label",
    "color-contrast",
    "button-name",
    "link-name",
    "select-name",
    "input-button-name",
    "aria-input-field-name",
    "image-alt",
    "label-title-only",
    "form-field-multiple-labels",
}


def test_accessibility_of_every_page(new_page: NewPage, live: LiveServer) -> None:
    page = new_page()
    report: dict[str, Any] = {}
    page.goto("/login")
    report["/login"] = run_axe(page)
    login(page, live, "district_command")
    paths = [
        *PAGES[1:],
        f"/tasks/{live.extra['task_id']}",
        f"/people/{live.extra['contact_person_id']}",
        f"/cases/{live.extra['case_id']}",
        f"/video/patrol/{live.extra['patrol_plan_id']}",
    ]
    for path in paths:
        page.goto(path)
        if path == "/map":
            page.wait_for_selector("body[data-map-ready='1']")
        if path == "/dashboard":
            page.wait_for_selector("body[data-dashboard-ready]")
        report[path] = run_axe(page)
        if path in ("/dashboard", "/tasks", "/people"):
            screenshot(page, path.strip("/"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "axe.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    total = sum(v["nodes"] for vs in report.values() for v in vs)
    print(
        f"axe-core: {len(report)} pages, {total} violating nodes:",
        {p: [(v["id"], v["impact"], v["nodes"]) for v in vs] for p, vs in report.items() if vs},
    )
    bad = {
        p: [v for v in vs if v["id"] in LABEL_AND_CONTRAST and v["impact"] in ("serious", "critical")]
        for p, vs in report.items()
    }
    assert {p: vs for p, vs in bad.items() if vs} == {}


def test_phone_layout(new_page: NewPage, live: LiveServer) -> None:
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, live, "village_operator")
    page.goto("/tasks")
    assert page.is_hidden("#sidebar")
    page.click(".nav-toggle")
    assert page.is_visible("#sidebar")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"the page scrolls sideways on a phone ({width}px)"
    screenshot(page, "phone-tasks")

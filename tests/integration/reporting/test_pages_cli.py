"""The report pages (fill, upload, day view, exports, summary), the CLI and the demo step."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from rich.console import Console
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.factories import Tree, api_login
from zhikong.cli import app as cli_app
from zhikong.core.db import unit_of_work
from zhikong.core.time import local_day, utcnow
from zhikong.reporting.models import DailyReport, Meeting, MeetingAttendee, MeetingDecision, ReportRevision

login = api_login


def test_fill_correct_upload_and_district_views(client: TestClient, tree: Tree, engine: Engine) -> None:
    c = client
    day = local_day(utcnow()).isoformat()
    csrf = login(c, f"village_operator-{tree.village11.code}")
    url = f"/reports/village_daily/fill/{tree.village11.id}"
    r = c.get(url, params={"day": day})
    assert r.status_code == 200 and "入户走访户数" in r.text
    assert c.get(f"/reports/village_daily/fill/{tree.village12.id}").status_code == 404  # not my village
    bad = {
        "csrf_token": csrf,
        "day": day,
        "households_visited": "很多",
        "arrivals": "1",
        "home_quarantine": "0",
    }
    r = c.post(url, data=bad, follow_redirects=False)
    assert r.status_code == 422 and "应为整数" in r.text and 'aria-invalid="true"' in r.text
    good = {**bad, "households_visited": "40"}
    r = c.post(url, data=good, follow_redirects=False)
    assert r.status_code == 303
    r = c.post(url, data={**good, "arrivals": "2"}, follow_redirects=False)
    assert r.status_code == 409 and "reason" in r.text
    r = c.post(url, data={**good, "arrivals": "2", "reason": "漏报一人"}, follow_redirects=False)
    assert r.status_code == 303
    assert "漏报一人" in c.get(url, params={"day": day}).text
    assert c.get("/summary").status_code == 403
    # the district: template, upload (wrong file refused whole), view, exports, summary
    c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    csrf = login(c, "district_command-500113")
    tpl = c.get("/reports/village_daily/template.xlsx", params={"day": day})
    wb = load_workbook(io.BytesIO(tpl.content))
    ws = wb.active
    assert ws is not None and ws.max_row == 4
    for row in (3, 4):
        ws.cell(row, 4, 10 * row)
        ws.cell(row, 5, 1)
        ws.cell(row, 6, "x" if row == 4 else 0)
    buf = io.BytesIO()
    wb.save(buf)
    r = c.post(
        "/reports/village_daily/upload", data={"csrf_token": csrf}, files={"file": ("v.xlsx", buf.getvalue())}
    )
    assert r.status_code == 422 and "row 4" in r.text
    ws.cell(4, 6, 0)
    buf = io.BytesIO()
    wb.save(buf)
    r = c.post(
        "/reports/village_daily/upload",
        data={"csrf_token": csrf},
        files={"file": ("v.xlsx", buf.getvalue())},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = c.get("/reports", params={"form": "village_daily", "day": day})
    assert r.status_code == 200 and "reports-config" in r.text and "3/3" in r.text
    assert c.get("/reports/village_daily/export.pdf", params={"day": day}).content[:5] == b"%PDF-"
    assert c.get("/reports/village_daily/export.xlsx", params={"day": day}).content[:2] == b"PK"
    r = c.get("/summary", params={"day": day})
    assert r.status_code == 200 and "甲镇" in r.text
    assert c.get("/summary.pdf").content[:5] == b"%PDF-"
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count(DailyReport.id))) == 3
        assert s.scalar(select(func.count(ReportRevision.id))) == 4


def test_cli_and_demo(engine: Engine, tree: Tree, tmp_path: Any) -> None:
    r = CliRunner()
    out = r.invoke(cli_app, ["reporting", "forms"])
    assert out.exit_code == 0 and "town_daily" in out.output, out.output
    path = tmp_path / "t.xlsx"
    out = r.invoke(cli_app, ["reporting", "template", "town_daily", "--out", str(path)])
    assert out.exit_code == 0 and path.exists()
    out = r.invoke(cli_app, ["reporting", "import", "town_daily", str(path)])
    assert isinstance(out.exception, Exception) and "no filled rows" in str(out.exception)
    out = r.invoke(cli_app, ["reporting", "remind"])
    assert out.exit_code == 0 and "reminded" in out.output
    from zhikong.reporting import demo

    class Ctx:
        console = Console(width=120)
        seed = 3
        data: dict[str, Any] = {}  # noqa: RUF012

    demo.step(Ctx())
    assert Ctx.data["reporting_summary_pdf"].endswith(".pdf")
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count(DailyReport.id))) > 10
        meeting = s.scalar(select(Meeting))
        assert meeting is not None and meeting.minutes
        assert s.scalar(select(func.count(MeetingAttendee.id))) == 2  # both towns invited
        decision = s.scalar(select(MeetingDecision))
        assert decision is not None and len(decision.task_ids) == 2
    demo.step(Ctx())  # a second run adds no second meeting
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count(Meeting.id))) == 1
    out = r.invoke(cli_app, ["reporting", "view", "village_daily", "--pdf", str(tmp_path / "v.pdf")])
    assert out.exit_code == 0 and "合计" in out.output and (tmp_path / "v.pdf").exists()
    csv_path = tmp_path / "12345.csv"
    csv_path.write_text(
        "工单编号,受理时间,诉求内容,地址\nH9,2026-11-20 08:00,一村有人聚集打麻将,甲镇一村\n", encoding="utf-8"
    )
    out = r.invoke(cli_app, ["reporting", "hotline-import", str(csv_path)])
    assert out.exit_code == 0 and "imported 1" in out.output, out.output
    out = r.invoke(cli_app, ["reporting", "hotline-import", str(csv_path)])
    assert out.exit_code != 0
    out = r.invoke(cli_app, ["reporting", "summary", "--out", str(tmp_path / "s.pdf")])
    assert out.exit_code == 0 and (tmp_path / "s.pdf").read_bytes()[:5] == b"%PDF-"

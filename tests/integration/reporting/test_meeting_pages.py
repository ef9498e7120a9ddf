"""The dispatch meeting pages (list, schedule form, confirm, minutes, decisions → tasks) and CLI."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.factories import Tree, api_login
from zhikong.cli import app as cli_app
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, PermissionDenied
from zhikong.reporting.models import Meeting, MeetingAttendee, MeetingDecision
from zhikong.tasks.models import Task

login = api_login


def test_meeting_pages(client: TestClient, tree: Tree, engine: Engine) -> None:
    c = client
    csrf = login(c, "district_command-500113")
    r = c.get("/meetings")
    assert r.status_code == 200 and 'name="tiers"' in r.text
    form = {"csrf_token": csrf, "title": "全区调度会", "starts_at": "2026-11-28T09:00", "agenda": "一、通报"}
    # no tier and no unit: the error beside the units field, nothing stored
    r = c.post("/meetings", data=form, follow_redirects=False)
    assert r.status_code == 422 and 'id="e-units"' in r.text
    r = c.post("/meetings", data={**form, "units": "999999"}, follow_redirects=False)
    assert r.status_code == 422 and "999999" in r.text
    r = c.post("/meetings", data={**form, "starts_at": "明天"}, follow_redirects=False)
    assert r.status_code == 422 and 'id="e-starts_at"' in r.text
    # CSRF required
    r = c.post(
        "/meetings", data={**form, "csrf_token": "x", "units": tree.town1.code}, follow_redirects=False
    )
    assert r.status_code in (401, 403)
    with unit_of_work(engine) as s:
        assert s.scalar(select(func.count(Meeting.id))) == 0
    r = c.post("/meetings", data={**form, "units": tree.town1.code}, follow_redirects=False)
    assert r.status_code == 303
    mid = int(r.headers["location"].rsplit("/", 1)[1])
    r = c.get(f"/meetings/{mid}")
    assert r.status_code == 200 and "一、通报" in r.text and "meet.jit.si" in r.text
    assert "0/1" in c.get("/meetings").text
    r = c.post(f"/meetings/{mid}/minutes", data={"csrf_token": csrf, "minutes": "  "}, follow_redirects=False)
    assert r.status_code == 422 and 'id="e-minutes"' in r.text
    r = c.post(
        f"/meetings/{mid}/minutes", data={"csrf_token": csrf, "minutes": "听取汇报"}, follow_redirects=False
    )
    assert r.status_code == 303
    dec = {"csrf_token": csrf, "text": "完成返乡人员排查", "units": f"{tree.town1.code},{tree.town2.code}"}
    r = c.post(f"/meetings/{mid}/decisions", data={**dec, "priority": "urgent"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    with unit_of_work(engine) as s:
        d = s.scalars(select(MeetingDecision)).one()
        tasks = list(s.scalars(select(Task).where(Task.id.in_(d.task_ids))))
        assert {t.unit_id for t in tasks} == {tree.town1.id, tree.town2.id}
        task_ids = d.task_ids
    r = c.get(f"/meetings/{mid}")
    assert all(f'href="/tasks/{t}"' in r.text for t in task_ids) and "听取汇报" in r.text
    r = c.post(f"/meetings/{mid}/decisions", data=dec, follow_redirects=False)
    assert r.status_code == 409 and 'id="e-text"' in r.text  # the same decision twice
    c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    # an invited town sees it and confirms; the other town gets a 404 page
    csrf = login(c, f"town_operator-{tree.town1.code}")
    assert "全区调度会" in c.get("/meetings").text and 'name="tiers"' not in c.get("/meetings").text
    r = c.get(f"/meetings/{mid}")
    assert r.status_code == 200 and "/confirm" in r.text
    r = c.post(
        f"/meetings/{mid}/confirm",
        data={"csrf_token": csrf, "unit_id": str(tree.town1.id)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "1/1" in c.get(f"/meetings/{mid}").text
    r = c.post(
        f"/meetings/{mid}/decisions", data={**dec, "csrf_token": csrf, "text": "x"}, follow_redirects=False
    )
    assert r.status_code == 403
    c.post("/api/auth/logout", headers={"X-CSRF-Token": csrf})
    csrf = login(c, f"town_operator-{tree.town2.code}")
    assert "全区调度会" not in c.get("/meetings").text
    assert c.get(f"/meetings/{mid}").status_code == 404
    r = c.post(
        f"/meetings/{mid}/confirm",
        data={"csrf_token": csrf, "unit_id": str(tree.town2.id)},
        follow_redirects=False,
    )
    assert r.status_code == 404
    with unit_of_work(engine) as s:
        assert (
            s.scalar(select(func.count(MeetingAttendee.id)).where(MeetingAttendee.confirmed_at.is_not(None)))
            == 1
        )


def test_meeting_cli(engine: Engine, tree: Tree, tmp_path: Path) -> None:
    r = CliRunner()
    cmd = "district_command-500113"
    out = r.invoke(
        cli_app,
        [
            "reporting",
            "meeting-schedule",
            "--title",
            "镇街调度会",
            "--at",
            "2026-11-28T09:00",
            "--tier",
            "town",
            "--unit",
            tree.village11.code,
            "--agenda",
            "一、通报",
            "--user",
            cmd,
        ],
    )
    assert out.exit_code == 0, out.output
    assert "3 units invited" in out.output
    with unit_of_work(engine) as s:
        mid = s.scalars(select(Meeting.id)).one()
    bad = r.invoke(
        cli_app,
        ["reporting", "meeting-schedule", "--title", "x", "--at", "明天", "--tier", "town", "--user", cmd],
    )
    assert isinstance(bad.exception, InvalidInput) and bad.exception.field == "starts_at"
    town = f"town_operator-{tree.town1.code}"
    out = r.invoke(cli_app, ["reporting", "meeting-list", "--user", town])
    assert out.exit_code == 0 and "镇街调度会" in out.output and "0/3" in out.output, out.output
    minutes = tmp_path / "minutes.txt"
    minutes.write_text("听取各镇街汇报", encoding="utf-8")
    out = r.invoke(
        cli_app, ["reporting", "meeting-minutes", str(mid), "--file", str(minutes), "--user", town]
    )
    assert isinstance(out.exception, PermissionDenied)  # a town may not record minutes
    out = r.invoke(cli_app, ["reporting", "meeting-minutes", str(mid), "--file", str(minutes), "--user", cmd])
    assert out.exit_code == 0, out.output
    out = r.invoke(
        cli_app,
        [
            "reporting",
            "meeting-decide",
            str(mid),
            "--text",
            "全覆盖排查",
            "--unit",
            tree.town1.code,
            "--unit",
            tree.town2.code,
            "--user",
            cmd,
        ],
    )
    assert out.exit_code == 0, out.output
    printed = {int(x) for x in out.output.split()[1:]}
    with unit_of_work(engine) as s:
        m = s.get(Meeting, mid)
        assert m is not None and m.minutes == "听取各镇街汇报"
        d = s.scalars(select(MeetingDecision)).one()
        assert printed == set(d.task_ids) and len(printed) == 2
        assert {t.unit_id for t in s.scalars(select(Task).where(Task.id.in_(printed)))} == {
            tree.town1.id,
            tree.town2.id,
        }
    out = r.invoke(
        cli_app, ["reporting", "meeting-decide", str(mid), "--text", "x", "--unit", "000", "--user", cmd]
    )
    assert isinstance(out.exception, InvalidInput) and "000" in str(out.exception)

"""``zhikong reporting``: report forms, Excel template/upload/export, reminders, the daily summary PDF."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput, NotFound
from zhikong.core.time import local_day, utcnow
from zhikong.reporting import excel, pdf, service
from zhikong.reporting.forms import load_form_file
from zhikong.reporting.summary import build_summary

app = typer.Typer(help="Daily unit reports 数据上报 and the district daily summary.", no_args_is_help=True)
console = Console()


def _day(value: str | None) -> date:
    if not value:
        return local_day(utcnow())
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(f"--day {value!r} is not YYYY-MM-DD", field="day") from e


def _actor(s: Session, username: str | None) -> User | str:
    if username is None:
        return "cli"
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}", field="user")
    return user


@app.command("forms")
def forms_cmd(
    load: list[Path] = typer.Option([], "--load", help="Also load these form YAML files."),
) -> None:
    """Store the built-in (and given) form definitions and list them."""
    from zhikong.reporting.forms import builtin_forms

    extra = [load_form_file(p) for p in load]
    with unit_of_work() as s:
        rows = service.sync_forms(s, builtin_forms() + extra)
        table = Table("code", "name", "tier", "deadline", "fields", title="report forms")
        for r in rows:
            table.add_row(r.code, r.name, r.tier, r.deadline, str(len(r.definition.get("fields", []))))
    console.print(table)


@app.command("template")
def template_cmd(
    form: str = typer.Argument(..., help="Form code, e.g. town_daily."),
    out: Path = typer.Option(..., "--out", help="Where to write the .xlsx."),
    day: str = typer.Option(None, help="Day YYYY-MM-DD (default today)."),
) -> None:
    """Write the Excel fill-in template of a form."""
    with unit_of_work() as s:
        out.write_bytes(excel.template(s, form, _day(day)))
    console.print(f"wrote {out}")


@app.command("import")
def import_cmd(
    form: str = typer.Argument(..., help="Form code."),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A filled template."),
    user: str = typer.Option(None, "--user", help="Submit as this user (jurisdiction applies)."),
    reason: str = typer.Option(None, help="Correction reason (for rows already reported)."),
) -> None:
    """Upload a filled Excel template: every row stored, or none."""
    with unit_of_work() as s:
        reps = excel.import_workbook(s, _actor(s, user), form, path.read_bytes(), path.name, reason=reason)
        n = len(reps)
    console.print(f"stored {n} reports from {path.name}")


@app.command("remind")
def remind_cmd(
    day: str = typer.Option(None, help="Day YYYY-MM-DD (default today)."),
    every: float = typer.Option(0, help="Repeat every this many seconds (0: once)."),
) -> None:
    """Remind units whose report is missing after the deadline; then give them an overdue task."""
    while True:
        with unit_of_work() as s:
            result = service.remind(s, _day(day))
        console.print(f"reminded {len(result.reminded)} units, {len(result.tasks)} overdue tasks created")
        if every <= 0:
            return
        time.sleep(every)


@app.command("view")
def view_cmd(
    form: str = typer.Argument(..., help="Form code."),
    day: str = typer.Option(None, help="Day YYYY-MM-DD (default today)."),
    xlsx: Path = typer.Option(None, "--xlsx", help="Also export to this .xlsx."),
    pdf_out: Path = typer.Option(None, "--pdf", help="Also export to this .pdf."),
) -> None:
    """A day's figures per town with totals."""
    d = _day(day)
    with unit_of_work() as s:
        view = service.day_view(s, form, d)
        if xlsx:
            xlsx.write_bytes(excel.export_day(s, form, d))
    numeric = view.form.numeric
    table = Table(
        "town",
        "reported",
        *[f.label for f in numeric],
        title=f"{view.form.name} {d} ({view.reported}/{view.expected}, late {view.late})",
    )
    for r in view.rows:
        table.add_row(
            r["name"], f"{r['reported']}/{r['expected']}", *[f"{r['values'][f.key]:g}" for f in numeric]
        )
    table.add_row("合计", f"{view.reported}/{view.expected}", *[f"{view.totals[f.key]:g}" for f in numeric])
    console.print(table)
    if pdf_out:
        pdf_out.write_bytes(pdf.day_view_pdf(view))
        console.print(f"wrote {pdf_out}")


@app.command("summary")
def summary_cmd(
    day: str = typer.Option(None, help="Day YYYY-MM-DD (default today)."),
    out: Path = typer.Option(None, "--out", help="PDF path (default <data_dir>/reports/summary-DAY.pdf)."),
) -> None:
    """Render the district daily summary PDF."""
    from zhikong.core.config import get_settings

    d = _day(day)
    t0 = time.perf_counter()
    with unit_of_work() as s:
        data = pdf.summary_pdf(build_summary(s, d))
    path = out or get_settings().data_dir / "reports" / f"summary-{d.isoformat()}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    console.print(f"wrote {path} ({len(data) // 1024} KiB, {time.perf_counter() - t0:.2f} s)")


@app.command("hotline-import")
def hotline_import_cmd(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="12345 export CSV (工单编号,受理时间,诉求内容,地址)."
    ),
) -> None:
    """Import netizen reports from a 12345 hotline CSV: every row stored, or none."""
    from zhikong.reporting import netizen

    with unit_of_work() as s:
        n = len(netizen.import_hotline_csv(s, path.read_bytes(), path.name))
    console.print(f"imported {n} hotline reports from {path.name}")


def _user(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}", field="user")
    return user


@app.command("meeting-schedule")
def meeting_schedule_cmd(
    title: str = typer.Option(..., "--title", help="Meeting title."),
    at: str = typer.Option(..., "--at", help="Start time, ISO-8601 (China time when no offset)."),
    agenda: str = typer.Option("", "--agenda", help="Agenda text."),
    tier: list[str] = typer.Option([], "--tier", help="Invite every unit of this tier (town, village)."),
    unit: list[str] = typer.Option([], "--unit", help="Also invite this unit (code); repeatable."),
    user: str = typer.Option(..., "--user", help="Schedule as this (district) user."),
) -> None:
    """Schedule a dispatch video meeting 视频调度会 and print its id and video link."""
    from zhikong.reporting import meetings

    with unit_of_work() as s:
        m = meetings.schedule(
            s,
            _user(s, user),
            title=title,
            starts_at=meetings.parse_start(at),
            agenda=agenda,
            tiers=tier,
            unit_ids=meetings.unit_ids_by_code(s, unit, "unit"),
        )
        _, invited = meetings.attendance(s, m.id)
        line = f"meeting {m.id}: {invited} units invited, video {m.video_url}"
    console.print(line)


@app.command("meeting-list")
def meeting_list_cmd(
    user: str = typer.Option(None, "--user", help="List as this user (jurisdiction applies; default all)."),
) -> None:
    """The dispatch meetings, newest first, with confirmed/invited counts."""
    from zhikong.core.time import CHINA_TZ, as_utc
    from zhikong.reporting import meetings
    from zhikong.reporting.models import Meeting

    table = Table("id", "time", "title", "confirmed/invited", "video", title="dispatch meetings")
    with unit_of_work() as s:
        if user is None:
            rows = list(s.scalars(select(Meeting).order_by(Meeting.starts_at.desc()).limit(100)))
        else:
            rows = meetings.list_meetings(s, _user(s, user))
        for m in rows:
            confirmed, invited = meetings.attendance(s, m.id)
            at = as_utc(m.starts_at).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
            table.add_row(str(m.id), at, m.title, f"{confirmed}/{invited}", m.video_url)
    console.print(table)


@app.command("meeting-minutes")
def meeting_minutes_cmd(
    meeting_id: int = typer.Argument(..., help="Meeting id."),
    file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="UTF-8 text of the minutes."),
    user: str = typer.Option(..., "--user", help="Record as this (district) user."),
) -> None:
    """Record the minutes of a meeting from a text file."""
    from zhikong.reporting import meetings

    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{file.name} is not UTF-8 text", field="file") from e
    with unit_of_work() as s:
        meetings.record_minutes(s, _user(s, user), meeting_id, text)
    console.print(f"minutes of meeting {meeting_id} recorded")


@app.command("meeting-decide")
def meeting_decide_cmd(
    meeting_id: int = typer.Argument(..., help="Meeting id."),
    text: str = typer.Option(..., "--text", help="The decision."),
    unit: list[str] = typer.Option(..., "--unit", help="Unit (code) to carry it out; repeatable."),
    priority: str = typer.Option("high", "--priority", help="urgent, high, normal or low."),
    user: str = typer.Option(..., "--user", help="Decide as this (district) user."),
) -> None:
    """Record a decision; one task per unit. Prints the created task ids."""
    from zhikong.reporting import meetings

    with unit_of_work() as s:
        d = meetings.decide(
            s, _user(s, user), meeting_id, text, meetings.unit_ids_by_code(s, unit, "unit"), priority
        )
        ids = list(d.task_ids)
    console.print("tasks " + " ".join(str(i) for i in ids))

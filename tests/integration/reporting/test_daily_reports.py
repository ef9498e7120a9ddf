"""Daily reports on SQLite and PostgreSQL: submit, correct with history, refusals, Excel in/out, reminders."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Tree, make_tree, make_user
from zhikong.auth.models import Role
from zhikong.core.errors import Conflict, InvalidInput, PermissionDenied, RowErrors
from zhikong.core.time import CHINA_TZ
from zhikong.reporting import excel, service
from zhikong.reporting.models import DailyReport, ReminderStage, ReportReminder, ReportRevision
from zhikong.tasks.models import Task

DAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=CHINA_TZ)
TOWN_VALUES = {
    "screened": 120,
    "arrivals": 3,
    "home_quarantine": 2,
    "central_quarantine": 1,
    "nucleic_tests": 900,
    "checkpoints_ok": True,
}


@pytest.fixture
def tree(session: Session) -> Tree:
    t = make_tree(session)
    service.sync_forms(session)
    session.commit()
    return t


def test_submit_correct_history(session: Session, tree: Tree) -> None:
    op = make_user(session, Role.TOWN_OPERATOR, tree.town1)
    rep = service.submit_report(session, op, "town_daily", tree.town1.id, DAY, TOWN_VALUES, now=NOON)
    assert rep.revision == 1 and not rep.late and rep.values["screened"] == 120
    with pytest.raises(Conflict, match="duplicate"):
        service.submit_report(session, op, "town_daily", tree.town1.id, DAY, TOWN_VALUES, now=NOON)
    with pytest.raises(Conflict) as e:
        service.submit_report(
            session, op, "town_daily", tree.town1.id, DAY, {**TOWN_VALUES, "screened": 130}, now=NOON
        )
    assert e.value.field == "reason"
    later = NOON + timedelta(hours=8)
    rep = service.submit_report(
        session,
        op,
        "town_daily",
        tree.town1.id,
        DAY,
        {**TOWN_VALUES, "screened": 130},
        reason="补录一个卡口",
        now=later,
    )
    assert rep.revision == 2 and rep.values["screened"] == 130 and not rep.late
    hist = service.report_history(session, rep.id)
    assert [(h.revision, h.values["screened"], h.reason) for h in hist] == [
        (1, 120, None),
        (2, 130, "补录一个卡口"),
    ]


def test_refusals_store_nothing(session: Session, tree: Tree) -> None:
    op = make_user(session, Role.TOWN_OPERATOR, tree.town1)
    with pytest.raises(PermissionDenied):
        service.submit_report(session, op, "town_daily", tree.town2.id, DAY, TOWN_VALUES, now=NOON)
    with pytest.raises(InvalidInput, match="town units"):
        service.submit_report(session, op, "town_daily", tree.village11.id, DAY, TOWN_VALUES, now=NOON)
    with pytest.raises(InvalidInput) as e:
        service.submit_report(
            session, op, "town_daily", tree.town1.id, DAY + timedelta(days=30), TOWN_VALUES, now=NOON
        )
    assert e.value.field == "day"
    with pytest.raises(RowErrors) as re_:
        service.submit_report(
            session,
            op,
            "town_daily",
            tree.town1.id,
            DAY,
            {**TOWN_VALUES, "screened": "many", "arrivals": None},
            now=NOON,
        )
    assert {x.field for x in re_.value.errors} == {"screened", "arrivals"}
    assert session.scalar(select(func.count(DailyReport.id))) == 0


def _filled(session: Session, tree: Tree, rows: list[list[object]]) -> bytes:
    data = excel.template(session, "village_daily", DAY)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws is not None
    assert [c.value for c in ws[1]][:4] == ["单位代码", "单位名称", "日期", "入户走访户数"]
    assert ws.max_row == 4  # three villages
    for r, values in enumerate(rows, start=2):
        for c, v in enumerate(values, start=4):
            ws.cell(r, c, v)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_upload_all_or_nothing(session: Session, tree: Tree) -> None:
    admin = make_user(session, Role.DISTRICT_COMMAND, tree.district)
    bad = _filled(session, tree, [[30, 1, 0], ["x", 1, 0], [10, None, 0]])
    with pytest.raises(RowErrors) as e:
        excel.import_workbook(session, admin, "village_daily", bad, "v.xlsx")
    assert [(x.row, x.field) for x in e.value.errors] == [(3, "入户走访户数"), (4, "来返人员数")]
    assert session.scalar(select(func.count(DailyReport.id))) == 0
    good = _filled(session, tree, [[30, 1, 0], [12, 0, 1], [None, None, None]])
    reps = excel.import_workbook(session, admin, "village_daily", good, "v.xlsx")
    assert len(reps) == 2 and {r.source for r in reps} == {"excel"}
    # uploading the same file again is a duplicate, refused whole
    with pytest.raises(RowErrors, match="duplicate"):
        excel.import_workbook(session, admin, "village_daily", good, "v.xlsx")


def test_excel_wrong_template(session: Session, tree: Tree) -> None:
    admin = make_user(session, Role.DISTRICT_COMMAND, tree.district)
    with pytest.raises(InvalidInput, match="not an Excel"):
        excel.import_workbook(session, admin, "village_daily", b"hello", "x.xlsx")
    town_file = excel.template(session, "town_daily", DAY)
    with pytest.raises(InvalidInput, match="no sheet '村居网格日报'"):
        excel.import_workbook(session, admin, "village_daily", town_file, "t.xlsx")
    wb = load_workbook(io.BytesIO(excel.template(session, "village_daily", DAY)))
    ws = wb.active
    assert ws is not None
    ws.cell(1, 5, "来人数")
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(InvalidInput, match="column E should be '来返人员数', found '来人数'"):
        excel.import_workbook(session, admin, "village_daily", buf.getvalue(), "v.xlsx")


def test_day_view_and_export(session: Session, tree: Tree) -> None:
    admin = make_user(session, Role.DISTRICT_COMMAND, tree.district)
    excel.import_workbook(
        session, admin, "village_daily", _filled(session, tree, [[30, 1, 0], [12, 0, 1], [5, 2, 2]]), "v.xlsx"
    )
    service.submit_report(
        session,
        admin,
        "village_daily",
        tree.village11.id,
        DAY - timedelta(days=1),
        {"households_visited": 7, "arrivals": 0, "home_quarantine": 0},
        now=NOON,
    )
    view = service.day_view(session, "village_daily", DAY, trend_days=3)
    by_code = {r["code"]: r for r in view.rows}
    assert by_code[tree.town1.code]["values"]["households_visited"] == 42
    assert by_code[tree.town1.code]["reported"] == 2 and by_code[tree.town2.code]["expected"] == 1
    assert view.totals["households_visited"] == 47 and view.reported == view.expected == 3
    assert view.trend["households_visited"] == [0.0, 7.0, 47.0]
    wb = load_workbook(io.BytesIO(excel.export_day(session, "village_daily", DAY)))
    total = [c.value for c in wb["汇总"][5]]
    assert total[1] == "合计" and total[3] == 47
    assert wb["明细"].max_row == 4


def test_remind_then_overdue_task_idempotent(session: Session, tree: Tree) -> None:
    op = make_user(session, Role.TOWN_OPERATOR, tree.town1)
    service.submit_report(session, op, "town_daily", tree.town1.id, DAY, TOWN_VALUES, now=NOON)
    before = datetime(2026, 11, 20, 15, 59, tzinfo=CHINA_TZ)
    assert service.remind(session, DAY, now=before).reminded == []
    r1 = service.remind(session, DAY, now=datetime(2026, 11, 20, 17, 30, tzinfo=CHINA_TZ))
    assert tree.town2.code in r1.reminded and tree.town1.code not in r1.reminded and r1.tasks == []
    assert set(r1.reminded) >= {tree.village11.code, tree.village12.code, tree.village21.code}
    r2 = service.remind(session, DAY, now=datetime(2026, 11, 20, 19, 30, tzinfo=CHINA_TZ))
    assert r2.reminded == [] and len(r2.tasks) == 4  # town2 (17:00+2h) and three villages (16:00+2h)
    r3 = service.remind(session, DAY, now=datetime(2026, 11, 20, 22, 0, tzinfo=CHINA_TZ))
    assert r3.reminded == [] and r3.tasks == []
    session.commit()
    tasks = list(session.scalars(select(Task).where(Task.source == "reporting")))
    assert len(tasks) == 4 and {t.unit_id for t in tasks} >= {tree.town2.id}
    assert (
        session.scalar(
            select(func.count(ReportReminder.id)).where(ReportReminder.stage == ReminderStage.OVERDUE)
        )
        == 4
    )
    # a late report is marked late
    late = service.submit_report(
        session,
        "test",
        "town_daily",
        tree.town2.id,
        DAY,
        TOWN_VALUES,
        now=datetime(2026, 11, 20, 20, 0, tzinfo=CHINA_TZ),
    )
    assert late.late
    assert session.scalar(select(func.count(ReportRevision.id))) == 2

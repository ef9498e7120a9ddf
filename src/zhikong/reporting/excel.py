"""Excel in and out: the fill-in template of a form, uploading a filled one, the district export.

The template has one sheet named after the form, a header row ``单位代码, 单位名称, 日期`` followed by the
field labels, and one row per unit. An upload is checked whole: a wrong sheet or header is refused
naming the sheet and column, every bad cell is listed, and nothing is stored unless every row is good.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.auth.models import User
from zhikong.auth.service import unit_in_jurisdiction
from zhikong.core.errors import Conflict, InvalidInput, PermissionDenied, RowError, RowErrors
from zhikong.geo.models import AdminUnit
from zhikong.reporting import service
from zhikong.reporting.forms import FormDef, validate_values
from zhikong.reporting.models import DailyReport

FIXED = ["单位代码", "单位名称", "日期"]
MAX_UPLOAD = 5 * 1024 * 1024
MAX_ROWS = 2000
_HEAD = Font(bold=True, color="FFFFFF")
_FILL = PatternFill("solid", fgColor="B22222")


def sheet_name(fd: FormDef) -> str:
    return fd.name[:31]


def template(session: Session, form_code: str, day: date, units: list[AdminUnit] | None = None) -> bytes:
    """An empty template for ``day`` with one row per reporting unit (or the given units)."""
    _, fd = service.get_form(session, form_code)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_name(fd)
    ws.append(FIXED + [f.label for f in fd.fields])
    for cell in ws[1]:
        cell.font, cell.fill = _HEAD, _FILL
    for u in units if units is not None else service.reporting_units(session, fd):
        ws.append([u.code, u.name, day.isoformat()])
    for i in range(1, len(FIXED) + len(fd.fields) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 16
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell_day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def import_workbook(
    session: Session,
    actor: User | str,
    form_code: str,
    data: bytes,
    file_name: str,
    reason: str | None = None,
) -> list[DailyReport]:
    """Store every row of a filled template, or nothing (``InvalidInput``/``RowErrors`` say why)."""
    _, fd = service.get_form(session, form_code)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput(f"{file_name}: larger than {MAX_UPLOAD // 1024 // 1024} MB", field="file")
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for non-xlsx bytes
        raise InvalidInput(
            f"{file_name}: not an Excel .xlsx workbook ({type(e).__name__})", field="file"
        ) from e
    want = sheet_name(fd)
    if want not in wb.sheetnames:
        raise InvalidInput(
            f"{file_name}: no sheet {want!r} (found {', '.join(wb.sheetnames)}); "
            f"download the template of {fd.name}",
            field="file",
        )
    ws = wb[want]
    rows = ws.iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    while header and header[-1] == "":
        header.pop()
    expected = FIXED + [f.label for f in fd.fields]
    for i, name in enumerate(expected):
        if i >= len(header) or header[i] != name:
            found = header[i] if i < len(header) else "(nothing)"
            raise InvalidInput(
                f"{file_name}: sheet {want!r} column {get_column_letter(i + 1)} should be "
                f"{name!r}, found {found!r}",
                field="file",
            )
    if len(header) > len(expected):
        raise InvalidInput(
            f"{file_name}: sheet {want!r} column {get_column_letter(len(expected) + 1)} "
            f"{header[len(expected)]!r} is not in the form",
            field="file",
        )
    codes = {u.code: u for u in service.reporting_units(session, fd)}
    parsed: list[tuple[int, AdminUnit, date, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen: set[tuple[str, date]] = set()
    for n, raw in enumerate(rows, start=2):
        cells = list(raw[: len(expected)]) + [None] * max(0, len(expected) - len(raw))
        if all(c is None or str(c).strip() == "" for c in cells[len(FIXED) :]):
            continue  # a unit row left empty: not reported
        if n > MAX_ROWS:
            raise InvalidInput(f"{file_name}: more than {MAX_ROWS} rows", field="file")
        code = str(cells[0] or "").strip()
        unit = codes.get(code)
        if unit is None:
            errors.append(RowError(n, "单位代码", f"不是{fd.tier}级上报单位", code, file_name))
            continue
        if isinstance(actor, User) and not unit_in_jurisdiction(session, actor, unit.id):
            errors.append(RowError(n, "单位代码", "不在您的管辖范围内", code, file_name))
            continue
        try:
            day = _cell_day(cells[2])
        except (TypeError, ValueError):
            errors.append(RowError(n, "日期", "应为 YYYY-MM-DD", str(cells[2]), file_name))
            continue
        if (code, day) in seen:
            errors.append(RowError(n, "单位代码", "同一单位同一天重复", code, file_name))
            continue
        seen.add((code, day))
        values = {f.key: cells[len(FIXED) + i] for i, f in enumerate(fd.fields)}
        try:
            parsed.append((n, unit, day, validate_values(fd, values, row=n)))
        except RowErrors as e:
            errors.extend(
                RowError(
                    n,
                    fd.field(x.field).label if x.field in {f.key for f in fd.fields} else x.field,
                    x.reason,
                    None,
                    file_name,
                )
                for x in e.errors
            )
    if errors:
        raise RowErrors(errors=errors, file=file_name)
    if not parsed:
        raise InvalidInput(f"{file_name}: sheet {want!r} has no filled rows", field="file")
    out = []
    for n, unit, day, clean in parsed:
        try:
            out.append(
                service.submit_report(
                    session, actor, form_code, unit.id, day, clean, source="excel", reason=reason
                )
            )
        except (InvalidInput, Conflict, PermissionDenied) as e:
            raise RowErrors(
                errors=[RowError(n, getattr(e, "field", None) or "row", e.message, unit.code, file_name)],
                file=file_name,
            ) from e
    return out


def export_day(session: Session, form_code: str, day: date) -> bytes:
    """The district's view of one day as a workbook: per-town figures, totals, and each unit's report."""
    view = service.day_view(session, form_code, day)
    fd = view.form
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "汇总"
    ws.append([f"{fd.name} {day.isoformat()}  已报 {view.reported}/{view.expected}，迟报 {view.late}"])
    ws.append(["镇街代码", "镇街", "已报/应报"] + [f.label for f in fd.numeric])
    for cell in ws[2]:
        cell.font, cell.fill = _HEAD, _FILL
    for r in view.rows:
        ws.append(
            [r["code"], r["name"], f"{r['reported']}/{r['expected']}"]
            + [_num(r["values"][f.key]) for f in fd.numeric]
        )
    ws.append(
        ["", "合计", f"{view.reported}/{view.expected}"] + [_num(view.totals[f.key]) for f in fd.numeric]
    )
    ws2 = wb.create_sheet("明细")
    ws2.append(FIXED + [f.label for f in fd.fields] + ["版本", "迟报"])
    form_row, _ = service.get_form(session, form_code)
    for rep, unit in session.execute(
        select(DailyReport, AdminUnit)
        .join(AdminUnit, AdminUnit.id == DailyReport.unit_id)
        .where(DailyReport.form_id == form_row.id, DailyReport.day == day)
        .order_by(AdminUnit.code)
    ):
        ws2.append(
            [unit.code, unit.name, day.isoformat()]
            + [_cell(rep.values.get(f.key)) for f in fd.fields]
            + [rep.revision, "是" if rep.late else ""]
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(v, 2)


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return "是" if v else "否"
    return v

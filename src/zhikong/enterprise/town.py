"""Roster upload, Excel export, the town view and village tasks for red employees."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhikong.auth.models import Role, User
from zhikong.auth.service import require_unit
from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import InvalidInput, PermissionDenied, RowError, RowErrors
from zhikong.enterprise.models import Employee, Enterprise, Level, RosterEntry
from zhikong.enterprise.policy import load_policy
from zhikong.geo.models import AdminUnit
from zhikong.people import idcard

_NAME = ("姓名", "name")
_ID = ("身份证号", "身份证号码", "id_number")
_DEPT = ("部门", "department")
MAX_ROSTER_ROWS = 50_000


def _rows(data: bytes, file_name: str) -> list[list[str]]:
    if file_name.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        return [["" if c is None else str(c).strip() for c in row]
                for row in ws.iter_rows(values_only=True)]
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput(f"{file_name}: 无法识别的编码 / not UTF-8 or GB18030 text", field="file")
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]


def import_roster(session: Session, enterprise: Enterprise, data: bytes, file_name: str) -> int:
    """Replace the enterprise's roster with the file (CSV or Excel; 姓名, 身份证号[, 部门]).
    Any bad row rejects the whole file with one error per row; returns the number of rows."""
    rows = _rows(data, file_name)
    if not rows:
        raise InvalidInput(f"{file_name}: 文件为空 / empty file", field="file")
    header = [h.strip().lower() for h in rows[0]]

    def col(names: tuple[str, ...], required: bool) -> int | None:
        for n in names:
            if n.lower() in header:
                return header.index(n.lower())
        if required:
            raise InvalidInput(f"{file_name}: 缺少列 {names[0]} / missing column {names[-1]}",
                               field="file")
        return None

    ci, ii, di = col(_NAME, True), col(_ID, True), col(_DEPT, False)
    assert ci is not None and ii is not None
    if len(rows) - 1 > MAX_ROSTER_ROWS:
        raise InvalidInput(f"{file_name}: 超过 {MAX_ROSTER_ROWS} 行 / too many rows", field="file")
    cipher = get_cipher()
    errors: list[RowError] = []
    entries: dict[str, RosterEntry] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(row):
            continue
        row = row + [""] * (max(ci, ii, di or 0) + 1 - len(row))
        name = row[ci]
        if not name:
            errors.append(RowError(n, "name", "empty name", None, file_name))
            continue
        try:
            number = idcard.normalise(row[ii])
        except InvalidInput as e:
            errors.append(RowError(n, "id_number", str(e), mask_middle(row[ii], 4, 4), file_name))
            continue
        h = cipher.keyed_hash(number)
        if h in entries:
            errors.append(RowError(n, "id_number", "duplicate ID number in the file",
                                   mask_middle(number, 4, 4), file_name))
            continue
        entries[h] = RosterEntry(enterprise_id=enterprise.id, name=name, id_number_hash=h,
                                 id_number_masked=mask_middle(number, 4, 4),
                                 department=(row[di] if di is not None else None) or None)
    if errors:
        raise RowErrors(errors=errors, file=file_name)
    session.query(RosterEntry).filter(RosterEntry.enterprise_id == enterprise.id).delete()
    session.add_all(entries.values())
    session.flush()
    return len(entries)


_LEVEL_ZH = {"green": "绿色", "yellow": "黄色", "red": "红色"}


def export_xlsx(session: Session, enterprise: Enterprise) -> bytes:
    """The enterprise's employees with level and reason categories (masked identifiers only)."""
    from openpyxl import Workbook

    policy = load_policy()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "员工风险"
    ws.append(["姓名", "身份证号", "手机号", "风险等级", "原因类别", "登记时间", "等级更新时间",
               "规则版本"])
    for emp in session.scalars(select(Employee).where(Employee.enterprise_id == enterprise.id)
                               .order_by(Employee.id)):
        ws.append([emp.name, emp.id_number_masked, emp.phone_masked, _LEVEL_ZH[emp.level.value],
                   "、".join(policy.label(c) for c in emp.reasons or []),
                   emp.registered_at.strftime("%Y-%m-%d %H:%M"),
                   emp.level_changed_at.strftime("%Y-%m-%d %H:%M") if emp.level_changed_at else "",
                   emp.policy_version])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def town_view(session: Session, user: User, town_id: int) -> dict[str, Any]:
    """Enterprises of a town with their employee counts by level (staff of the town or above)."""
    if user.role == Role.ENTERPRISE_ADMIN:
        raise PermissionDenied("企业管理员不能查看镇街汇总 / enterprise admins cannot see the town view")
    town = require_unit(session, user, town_id, field="town_id")
    ents = session.scalars(select(Enterprise).where(Enterprise.town_id == town.id)
                           .order_by(Enterprise.name)).all()
    counts: dict[int, dict[str, int]] = {e.id: {lv.value: 0 for lv in Level} for e in ents}
    if ents:
        for eid, lv, n in session.execute(
                select(Employee.enterprise_id, Employee.level, func.count())
                .where(Employee.enterprise_id.in_(list(counts))).group_by(Employee.enterprise_id,
                                                                          Employee.level)):
            counts[eid][str(lv)] = int(n)
    return {"town": {"id": town.id, "code": town.code, "name": town.name},
            "enterprises": [{"id": e.id, "name": e.name, "address": e.address,
                             "counts": counts[e.id], "total": sum(counts[e.id].values())}
                            for e in ents]}


def red_tasks(session: Session, employee_ids: list[int] | None = None) -> int:
    """One village task per red episode of an employee with a home village (idempotent: an employee
    whose current red episode has a task gets no second one)."""
    from zhikong.screening.service import create_task

    policy = load_policy()
    stmt = (select(Employee, Enterprise.name).join(Enterprise, Enterprise.id == Employee.enterprise_id)
            .where(Employee.level == Level.RED, Employee.red_task_id.is_(None),
                   Employee.home_village_id.is_not(None)))
    if employee_ids is not None:
        stmt = stmt.where(Employee.id.in_(employee_ids))
    made = 0
    for emp, ent_name in session.execute(stmt).all():
        assert emp.home_village_id is not None
        if session.get(AdminUnit, emp.home_village_id) is None:
            continue
        reasons = "、".join(policy.label(c) for c in emp.reasons or [])
        task_id = create_task(
            session, kind="other", unit_id=emp.home_village_id, priority="high",
            title=f"企业员工红色风险核查 {emp.name}",
            description=f"{ent_name} 员工 {emp.name}（{emp.id_number_masked}）风险等级为红色：{reasons}。"
                        "请核实其健康状况和管控措施。",
            subject_type="person" if emp.person_id else "none", subject_id=emp.person_id)
        if task_id is not None:
            emp.red_task_id = task_id
            made += 1
    session.flush()
    return made

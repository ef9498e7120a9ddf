"""PDF rendering (reportlab) of the district daily summary and of one form's day, in Chinese.

Uses reportlab's built-in CID font ``STSong-Light`` so no font file is needed.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from zhikong.core.time import CHINA_TZ
from zhikong.reporting.service import DayView
from zhikong.reporting.summary import MEASURE_LABELS, DailySummary

FONT = "STSong-Light"
_registered = False

CONTACT_LABELS = {"close": "密切接触者", "secondary": "次密切接触者", "companion": "时空伴随者"}
ALERT_LABELS = {
    "crowd": "人员聚集",
    "no_mask": "未戴口罩",
    "fever": "体温异常",
    "quarantine_breach": "隔离违规外出",
    "device": "设备告警",
    "intrusion": "区域入侵",
    "citizen_report": "群众举报",
    "other": "其他",
}
SCREEN_LABELS = {
    "lists": "接收名单(份)",
    "rows": "名单人员(条)",
    "auto_link": "自动关联",
    "review": "待核实",
    "not_in_ledger": "台账外",
}
RED = colors.HexColor("#B22222")


def _font() -> None:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True


def _styles() -> dict[str, ParagraphStyle]:
    _font()
    return {
        "title": ParagraphStyle("t", fontName=FONT, fontSize=17, leading=22, alignment=1, textColor=RED),
        "sub": ParagraphStyle("s", fontName=FONT, fontSize=9, leading=12, alignment=1, textColor=colors.grey),
        "h": ParagraphStyle("h", fontName=FONT, fontSize=12, leading=16, spaceBefore=6, spaceAfter=3),
        "p": ParagraphStyle("p", fontName=FONT, fontSize=9.5, leading=13),
    }


def _table(data: list[list[Any]], widths: list[float] | None = None, total_row: bool = False) -> Table:
    t = Table([[str(c) for c in row] for row in data], colWidths=widths, repeatRows=1)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), RED),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F6F0F0")]),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if total_row:
        style.append(("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#FFE9C7")))
    t.setStyle(TableStyle(style))
    return t


def _kv(pairs: list[tuple[str, Any]]) -> Table:
    """Key figures as a row of header/value cells (at most 6 per row)."""
    rows: list[list[Any]] = []
    for i in range(0, len(pairs), 6):
        chunk = pairs[i : i + 6]
        rows.append([k for k, _ in chunk])
        rows.append([v for _, v in chunk])
    t = Table(rows, colWidths=[30 * mm] * min(6, max(1, len(pairs))))
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
    ]
    for r in range(0, len(rows), 2):
        style += [
            ("BACKGROUND", (0, r), (-1, r), colors.HexColor("#F3E3E3")),
            ("FONTSIZE", (0, r + 1), (-1, r + 1), 13),
            ("TEXTCOLOR", (0, r + 1), (-1, r + 1), RED),
        ]
    t.setStyle(TableStyle(style))
    return t


def _doc(buf: io.BytesIO, title: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="zhikong 智控",
    )


def summary_pdf(s: DailySummary) -> bytes:
    st = _styles()
    buf = io.BytesIO()
    title = f"{s.district}疫情防控每日汇总"
    doc = _doc(buf, f"{title} {s.day.isoformat()}")
    gen = s.generated_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    story: list[Any] = [
        Paragraph(title, st["title"]),
        Paragraph(f"{s.day.isoformat()} | 生成时间 {gen} | 区疫情防控指挥部", st["sub"]),
        Spacer(1, 5 * mm),
        Paragraph("一、疫情与密接", st["h"]),
    ]
    story.append(
        _kv(
            [("新增病例", s.cases_new), ("累计病例", s.cases_total)]
            + [(CONTACT_LABELS.get(k, k), v) for k, v in sorted(s.contacts_by_class.items())]
        )
    )
    story.append(Paragraph("二、重点人员管控", st["h"]))
    story.append(
        _kv(
            [(MEASURE_LABELS.get(k, k), v) for k, v in s.key_by_measure.items()]
            + [("今日新增", s.key_new), ("今日解除", s.key_released)]
        )
    )
    story.append(Paragraph("三、排查与告警", st["h"]))
    story.append(
        _kv(
            [(SCREEN_LABELS.get(k, k), v) for k, v in s.screening.items()]
            + [("告警合计", s.alerts_total)]
            + [(ALERT_LABELS.get(k, k), v) for k, v in sorted(s.alerts_by_kind.items())][:5]
        )
    )
    if s.forms:
        story.append(Paragraph("四、数据上报", st["h"]))
        story.append(
            Paragraph(
                "；".join(f"{f['name']}：已报 {f['reported']}/{f['expected']}" for f in s.forms), st["p"]
            )
        )
    story.append(Paragraph("五、各镇街任务与管控", st["h"]))
    head = ["镇街", "重点人员", "告警", "新交办", "办结", "在办", "逾期", "上报(已/应)"]
    rows: list[list[Any]] = [head]
    for t in s.towns:
        rows.append(
            [
                t.name,
                t.key_persons,
                t.alerts,
                t.tasks_new,
                t.tasks_done,
                t.tasks_open,
                t.tasks_overdue,
                t.reports or "-",
            ]
        )
    tot = s.task_totals
    rows.append(
        [
            "合计",
            sum(t.key_persons for t in s.towns),
            sum(t.alerts for t in s.towns),
            tot["tasks_new"],
            tot["tasks_done"],
            tot["tasks_open"],
            tot["tasks_overdue"],
            "",
        ]
    )
    story.append(
        _table(rows, [34 * mm, 18 * mm, 14 * mm, 16 * mm, 14 * mm, 14 * mm, 14 * mm, 38 * mm], total_row=True)
    )
    doc.build(story)
    return buf.getvalue()


def day_view_pdf(view: DayView) -> bytes:
    st = _styles()
    buf = io.BytesIO()
    fd = view.form
    doc = _doc(buf, f"{fd.name} {view.day.isoformat()}")
    story: list[Any] = [
        Paragraph(f"{fd.name}汇总", st["title"]),
        Paragraph(
            f"{view.day.isoformat()}   已报 {view.reported}/{view.expected}   迟报 {view.late}", st["sub"]
        ),
        Spacer(1, 5 * mm),
    ]
    numeric = fd.numeric
    rows: list[list[Any]] = [["镇街", "已报/应报"] + [f.label for f in numeric]]
    for r in view.rows:
        rows.append(
            [r["name"], f"{r['reported']}/{r['expected']}"] + [_fmt(r["values"][f.key]) for f in numeric]
        )
    rows.append(["合计", f"{view.reported}/{view.expected}"] + [_fmt(view.totals[f.key]) for f in numeric])
    width = (182 * mm - 50 * mm) / max(1, len(numeric))
    story.append(_table(rows, [30 * mm, 20 * mm] + [width] * len(numeric), total_row=True))
    doc.build(story)
    return buf.getvalue()


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"

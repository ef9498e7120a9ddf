"""The printable QR poster of an enterprise: PNG (segno) and A4 PDF (reportlab, CJK font)."""

from __future__ import annotations

import io

import segno

from zhikong.enterprise.models import Enterprise

TITLE = "员工疫情风险自查登记"
HINT = "请用手机扫码，填写姓名、身份证号和手机号，即可查看本人风险等级"


def qr_png(url: str, scale: int = 10) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def poster_pdf(enterprise: Enterprise, url: str) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    width, height = A4
    c.setTitle(f"{enterprise.name} {TITLE}")
    c.setFont(font, 28)
    c.drawCentredString(width / 2, height - 110, enterprise.name)
    c.setFont(font, 22)
    c.drawCentredString(width / 2, height - 150, TITLE)
    side = 340
    c.drawImage(ImageReader(io.BytesIO(qr_png(url, scale=8))), (width - side) / 2, height - 170 - side,
                side, side)
    c.setFont(font, 13)
    c.drawCentredString(width / 2, height - 200 - side, HINT)
    c.setFont(font, 10)
    c.drawCentredString(width / 2, height - 222 - side,
                        "企业只能看到风险等级和原因类别，看不到个人行程。二维码有有效期，过期请向企业索取新码。")
    if enterprise.address:
        c.drawCentredString(width / 2, 60, f"地址：{enterprise.address}")
    c.showPage()
    c.save()
    return buf.getvalue()

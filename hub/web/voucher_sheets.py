"""Printable voucher sheets: A4, 3 x 8 cards a page, a QR code per voucher (segno).

HTML (the QR codes inline as SVG, laid out for the browser's print) and PDF (reportlab, the QR
modules drawn as vector rectangles). The QR code holds the hotspot's login URL with the code as
user name and password when the batch names one, else the bare code. Rendering is CPU work
(about 1 ms a card): the handlers run it in a thread, off the event loop.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from hub.domain import VoucherBatch
from hub.services.vouchers import VoucherSheet

COLUMNS, ROWS = 3, 8
PER_PAGE = COLUMNS * ROWS
_MARGIN = 10 * mm
_CODE_FONT = "Courier-Bold"
_QR_ERROR = "m"  # 15 % of the code may be smudged on a cheap printout
# A fixed mask: choosing the best of the eight is 80 % of segno's time per code (5 ms), and
# readers decode any of them.
_QR_MASK = 0


def qr_code(data: str) -> segno.QRCode:
    """The QR code of a card (also what tests read the drawn modules against)."""
    return segno.make(data, error=_QR_ERROR, micro=False, mask=_QR_MASK)


def qr_data(batch: VoucherBatch, code: str) -> str:
    """What a card's QR code holds: a login URL that logs the phone in, or the code."""
    if batch.hotspot_login_url:
        return f"{batch.hotspot_login_url}?{urlencode({'username': code, 'password': code})}"
    return code


def duration_text(batch: VoucherBatch) -> str:
    unit = batch.duration_unit[:-1] if batch.duration_value == 1 else batch.duration_unit
    return f"{batch.duration_value} {unit}"


def price_text(price: Decimal, currency: str) -> str:
    """``KES 50`` for a whole amount, ``KES 49.50`` otherwise."""
    amount = f"{price:.0f}" if price == price.to_integral_value() else f"{price:.2f}"
    return f"{currency} {amount}"


def valid_until_text(when: datetime, timezone: str) -> str:
    """In the tenant's time zone: the card is read by a customer at the site."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _pages(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), PER_PAGE):
        yield items[start : start + PER_PAGE]


def _card_lines(sheet: VoucherSheet) -> tuple[str, str, str]:
    batch, tenant = sheet.summary.batch, sheet.tenant
    meta = f"{duration_text(batch)} · {price_text(batch.price, tenant.currency)}"
    return batch.plan_name, meta, valid_until_text(batch.valid_until, tenant.timezone)


_CSS = """
@page { size: A4; margin: 10mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", Arial, sans-serif; color: #000; }
.page { display: grid; grid-template-columns: repeat(3, 63.3mm);
        grid-template-rows: repeat(8, 34.5mm); break-after: page; page-break-after: always; }
.page:last-child { break-after: auto; page-break-after: auto; }
.card { border: 0.3mm dashed #888; padding: 2mm; display: flex; gap: 2mm; overflow: hidden; }
.qr { flex: 0 0 27mm; }
.qr svg { width: 27mm; height: 27mm; display: block; }
.text { min-width: 0; display: flex; flex-direction: column; justify-content: space-between; }
.tenant { font-size: 7pt; color: #444; }
.plan { font-size: 9pt; font-weight: bold; }
.meta { font-size: 8pt; }
.code { font-family: "DejaVu Sans Mono", monospace; font-size: 11pt; font-weight: bold;
        letter-spacing: 0.3mm; overflow-wrap: anywhere; }
.valid { font-size: 6.5pt; color: #444; }
"""


def render_html(sheet: VoucherSheet) -> str:
    """The whole sheet as one self-contained HTML page (print it from the browser)."""
    batch = sheet.summary.batch
    plan, meta, valid = (html.escape(text) for text in _card_lines(sheet))
    tenant = html.escape(sheet.tenant.name)
    codes = [voucher.code for voucher in sheet.vouchers]
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>Vouchers: {plan}, batch {batch.id}</title><style>{_CSS}</style></head><body>",
    ]
    for page in _pages(codes):
        parts.append('<section class="page">')
        for code in page:
            qr = qr_code(qr_data(batch, code))
            parts.append(
                f'<div class="card"><div class="qr">{qr.svg_inline(border=1, omitsize=True)}'
                f'</div><div class="text"><div class="tenant">{tenant}</div>'
                f'<div class="plan">{plan}</div><div class="meta">{meta}</div>'
                f'<div class="code">{html.escape(code)}</div>'
                f'<div class="valid">Valid until {valid}</div></div></div>'
            )
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut (with an ellipsis) to ``width`` points in that font."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _code_lines(code: str, width: float) -> tuple[float, list[str]]:
    """The code at the largest size up to 12 pt that fits one line, else wrapped at 8 pt."""
    size = 12.0
    while size > 8 and stringWidth(code, _CODE_FONT, size) > width:
        size -= 0.5
    per_line = max(1, int(width // stringWidth("M", _CODE_FONT, size)))
    return size, [code[start : start + per_line] for start in range(0, len(code), per_line)]


def _draw_qr(canvas: Canvas, data: str, x: float, y: float, side: float) -> None:
    """The QR code as vector rectangles, one per horizontal run of dark modules.

    Written as PDF operators in module units under a scaling transform (``addLiteral``):
    reportlab's path objects format every coordinate in Python, 15 times slower on a sheet.
    """
    matrix = qr_code(data).matrix
    modules = len(matrix) + 2  # a one-module quiet zone each side
    ops = []
    for row_index, row in enumerate(matrix):
        bottom = modules - row_index - 2
        column, width = 0, len(row)
        while column < width:
            if row[column]:
                start = column
                while column < width and row[column]:
                    column += 1
                ops.append(f"{start + 1} {bottom} {column - start} 1 re")
            else:
                column += 1
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(side / modules, side / modules)
    canvas.addLiteral("\n".join(ops) + "\nf")
    canvas.restoreState()


def render_pdf(sheet: VoucherSheet) -> bytes:
    """The sheet as an A4 PDF, one page per 24 vouchers."""
    batch = sheet.summary.batch
    plan, meta, valid = _card_lines(sheet)
    page_width, page_height = A4
    card_width = (page_width - 2 * _MARGIN) / COLUMNS
    card_height = (page_height - 2 * _MARGIN) / ROWS
    pad = 2 * mm
    side = 25 * mm  # the QR code: big enough for any phone, room left for the text
    text_width = card_width - side - 3 * pad
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Vouchers: {plan}, batch {batch.id}")
    canvas.setAuthor(sheet.tenant.name)
    codes = [voucher.code for voucher in sheet.vouchers]
    for page in _pages(codes):
        for index, code in enumerate(page):
            row, column = divmod(index, COLUMNS)
            left = _MARGIN + column * card_width
            bottom = page_height - _MARGIN - (row + 1) * card_height
            canvas.setDash(2, 2)
            canvas.setStrokeGray(0.55)
            canvas.setLineWidth(0.5)
            canvas.rect(left, bottom, card_width, card_height, stroke=1, fill=0)
            canvas.setFillGray(0)
            qr_bottom = bottom + (card_height - side) / 2
            _draw_qr(canvas, qr_data(batch, code), left + pad, qr_bottom, side)
            text_left = left + side + 2 * pad
            top = bottom + card_height - pad
            lines = (
                (sheet.tenant.name, "Helvetica", 6.5, 7),
                (plan, "Helvetica-Bold", 8.5, 11),
                (meta.replace("·", "-"), "Helvetica", 7.5, 11),
            )
            for text, font, size, advance in lines:
                top -= advance
                canvas.setFont(font, size)
                canvas.drawString(text_left, top, _fit(text, font, size, text_width))
            size, code_lines = _code_lines(code, text_width)
            canvas.setFont(_CODE_FONT, size)
            for number, line in enumerate(reversed(code_lines)):
                canvas.drawString(text_left, bottom + pad + 18 + number * (size + 1), line)
            canvas.setFont("Helvetica", 6.5)
            canvas.drawString(text_left, bottom + pad + 8, "Valid until")
            canvas.drawString(text_left, bottom + pad, _fit(valid, "Helvetica", 6.5, text_width))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()

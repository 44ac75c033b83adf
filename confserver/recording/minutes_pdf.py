"""The minutes as PDF, laid out like Form 1.9 (Phụ lục III) of Decree 30/2020/NĐ-CP, with fpdf2.

Vietnamese needs a Unicode font: DejaVu Serif from Debian's fonts-dejavu-core (bin/setup installs it), embedded
(subset) in the file. Signing with pyHanko when a signing certificate is configured is not done yet (issue 10,
item 11): the file is unsigned.
"""
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF

from confserver.errors import DomainError

from .minutes import agency_name, times
from .models import Minutes, MinutesState

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVuSerif"


def _font_dir() -> Path:
    return Path(getattr(settings, "MINUTES_FONT_DIR", FONT_DIR))


def _when(at: datetime | None) -> str:
    if at is None:
        return "… giờ … phút, ngày … tháng … năm …"
    t = timezone.localtime(at)
    return f"{t:%H} giờ {t:%M} phút, ngày {t.day:02d} tháng {t.month:02d} năm {t.year}"


def render(m: Minutes) -> bytes:
    """The PDF bytes of `m` (saved or a draft)."""
    folder = _font_dir()
    if not (folder / "DejaVuSerif.ttf").is_file():
        raise DomainError("minutes_font_missing", "Máy chủ thiếu phông chữ DejaVu Serif (gói fonts-dejavu-core).",
                          status=500)
    meeting = m.meeting
    t = times(meeting)
    pdf = FPDF(format="A4")
    pdf.set_margins(30, 20, 15)  # Circular 01/2011 / Decree 30: left 30-35 mm, right 15-20 mm
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font(FONT, "", str(folder / "DejaVuSerif.ttf"))
    pdf.add_font(FONT, "B", str(folder / "DejaVuSerif-Bold.ttf"))
    pdf.add_font(FONT, "I", str(folder / "DejaVuSerif-Italic.ttf"))
    pdf.set_title(f"Biên bản {m.number}")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    left, right = width * 0.42, width * 0.58
    top = pdf.get_y()

    # Agency (top left) and the national motto (top right).
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(left, 5.5, agency_name(meeting), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 11)
    pdf.cell(left, 7, f"Số: {m.number}", align="C", new_x="LMARGIN", new_y="NEXT")
    below_left = pdf.get_y()
    pdf.set_xy(pdf.l_margin + left, top)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(right, 5.5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font(FONT, "B", 12)
    pdf.cell(right, 6, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LEFT", new_y="NEXT")
    x0 = pdf.l_margin + left + right / 2 - 28
    pdf.line(x0, pdf.get_y(), x0 + 56, pdf.get_y())
    pdf.set_y(max(below_left, pdf.get_y()) + 8)

    # Title.
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 8, "BIÊN BẢN", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 6.5, meeting.title, align="C", new_x="LMARGIN", new_y="NEXT")
    if m.state != MinutesState.FINAL:
        pdf.set_font(FONT, "I", 10)
        pdf.cell(0, 6, "(Dự thảo)", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def line(label: str, text: str):
        pdf.set_font(FONT, "B", 12)
        pdf.write(6.5, f"{label}: ")
        pdf.set_font(FONT, "", 12)
        pdf.write(6.5, text)
        pdf.ln(7.5)

    line("Thời gian bắt đầu", _when(t.start))
    line("Địa điểm", m.place or "…")
    line("Chủ trì (chủ tọa)", m.chair_name or "…")
    line("Thư ký (người ghi biên bản)", m.secretary_name or "…")
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 7, "Nội dung (theo diễn biến cuộc họp):", new_x="LMARGIN", new_y="NEXT")
    for number, section in enumerate(m.content or [], start=1):
        pdf.set_font(FONT, "B", 12)
        pdf.multi_cell(0, 6.5, f"{number}. {section.get('heading', '')}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 12)
        for text in section.get("lines", []):
            pdf.multi_cell(0, 6.5, f"- {text}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 7, "Kết luận của chủ trì:", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 12)
    pdf.multi_cell(0, 6.5, m.conclusions or "…", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.multi_cell(0, 6.5, f"Cuộc họp kết thúc vào {_when(t.end)}./.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    # Signature blocks: the secretary left, the chair right.
    if pdf.get_y() > pdf.h - 70:
        pdf.add_page()
    y = pdf.get_y()
    half = width / 2
    for x, role, name in ((pdf.l_margin, "THƯ KÝ", m.secretary_name), (pdf.l_margin + half, "CHỦ TỌA", m.chair_name)):
        pdf.set_xy(x, y)
        pdf.set_font(FONT, "B", 12)
        pdf.cell(half, 6.5, role, align="C", new_x="LEFT", new_y="NEXT")
        pdf.set_font(FONT, "I", 11)
        pdf.cell(half, 6, "(Chữ ký)" if role == "THƯ KÝ" else "(Chữ ký, dấu)", align="C", new_x="LEFT", new_y="NEXT")
        pdf.set_y(pdf.get_y() + 22)
        pdf.set_x(x)
        pdf.set_font(FONT, "B", 12)
        pdf.cell(half, 6.5, name or "", align="C")
    return bytes(pdf.output())

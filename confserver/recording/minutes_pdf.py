"""The minutes as PDF, laid out like Form 1.9 (Phụ lục III) of Decree 30/2020/NĐ-CP, with fpdf2.

Vietnamese needs a Unicode font: DejaVu Serif from Debian's fonts-dejavu-core (bin/setup installs it), embedded
(subset) in the file; its italic (fonts-dejavu-extra) is used when present. The recording's segment count and last
segment hash are printed above the signature blocks and written into the metadata (Subject, Keywords, and XMP in
the namespace XMP_NS) so that the minutes and the recording vouch for each other. Signing: minutes_sign.py.
"""

from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF

from confserver.errors import DomainError

from .minutes import Seal, agency_name, seal_of, times
from .models import Minutes, MinutesState

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVuSerif"
MONO = "DejaVuSansMono"
XMP_NS = "urn:confserver:minutes:1.0:"


def _font_dir() -> Path:
    return Path(getattr(settings, "MINUTES_FONT_DIR", FONT_DIR))


def _when(at: datetime | None) -> str:
    if at is None:
        return "… giờ … phút, ngày … tháng … năm …"
    t = timezone.localtime(at)
    return f"{t:%H} giờ {t:%M} phút, ngày {t.day:02d} tháng {t.month:02d} năm {t.year}"


def seal_lines(seal: Seal, final: bool) -> list[str]:
    """The recording's lines in the text (the hash alone on the last line, so it is never broken)."""
    if seal.segments == 0:
        return ["Cuộc họp không có bản ghi hình."]
    note = "" if final else " (tính đến lúc xuất dự thảo; chốt khi hoàn thành biên bản)"
    if seal.unfinished:
        return [f"Bản ghi hình: {seal.segments} đoạn, còn đoạn chưa đóng{note}."]
    return [
        f"Bản ghi hình: {seal.segments} đoạn, nối nhau bằng chuỗi mã băm SHA-256{note}.",
        "Mã băm đoạn ghi hình cuối:",
        seal.last_sha256,
    ]


def _metadata(pdf: FPDF, m: Minutes, seal: Seal) -> None:
    pdf.set_lang("vi")
    pdf.set_title(f"Biên bản {m.number}")
    pdf.set_creator("confserver")
    if m.finalized_at:
        pdf.set_creation_date(m.finalized_at)
    subject = f"Biên bản cuộc họp “{m.meeting.title}”"
    if seal.last_sha256:
        subject += f"; bản ghi hình {seal.segments} đoạn, mã băm đoạn ghi hình cuối (SHA-256) {seal.last_sha256}"
    pdf.set_subject(subject)
    pdf.set_keywords(
        f"biên bản, {m.number}, recording-segments={seal.segments}, "
        f"recording-last-segment-sha256={seal.last_sha256 or '-'}"
    )
    values = {
        "MeetingId": m.meeting_id,
        "MinutesNumber": m.number,
        "MinutesState": m.state,
        "RecordingSegments": seal.segments,
        "RecordingLastSegmentSHA256": seal.last_sha256,
    }
    fields = "".join(f"<cs:{k}>{escape(str(v))}</cs:{k}>" for k, v in values.items())
    pdf.set_xmp_metadata(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:cs="{XMP_NS}">{fields}</rdf:Description></rdf:RDF></x:xmpmeta>'
    )


def render(m: Minutes) -> bytes:
    """The PDF bytes of `m` (saved or a draft)."""
    folder = _font_dir()
    if not (folder / "DejaVuSerif.ttf").is_file():
        raise DomainError(
            "minutes_font_missing", "Máy chủ thiếu phông chữ DejaVu Serif (gói fonts-dejavu-core).", status=500
        )
    meeting = m.meeting
    t = times(meeting)
    pdf = FPDF(format="A4")
    pdf.set_margins(30, 20, 15)  # Circular 01/2011 / Decree 30: left 30-35 mm, right 15-20 mm
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font(FONT, "", str(folder / "DejaVuSerif.ttf"))
    pdf.add_font(FONT, "B", str(folder / "DejaVuSerif-Bold.ttf"))
    italic = folder / "DejaVuSerif-Italic.ttf"  # fonts-dejavu-extra; fonts-dejavu-core lacks it
    pdf.add_font(FONT, "I", str(italic if italic.is_file() else folder / "DejaVuSerif.ttf"))
    mono = folder / "DejaVuSansMono.ttf"
    pdf.add_font(MONO, "", str(mono if mono.is_file() else folder / "DejaVuSerif.ttf"))
    seal = seal_of(m)
    _metadata(pdf, m, seal)
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
    pdf.ln(2)
    *texts, last = seal_lines(seal, m.state == MinutesState.FINAL)
    if pdf.get_y() + 6 * (len(texts) + 2) > pdf.h - pdf.b_margin:  # keep the hash with its label
        pdf.add_page()
    pdf.set_font(FONT, "", 11)
    for text in texts:
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(MONO if seal.last_sha256 else FONT, "", 9 if seal.last_sha256 else 11)
    pdf.multi_cell(0, 6, last, new_x="LMARGIN", new_y="NEXT")
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

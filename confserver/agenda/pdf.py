"""The one module that talks to PDFium: open and check a PDF, pull out per-page
text, render a page to PNG.

PDFium is not thread-safe, and the ASGI server runs sync views in threads, so
every call into it holds LOCK.
"""
import struct
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

LOCK = threading.RLock()
MAGIC = b"%PDF-"
# PDF 1.7 §7.5.2 lets the header start anywhere in the first 1024 bytes.
MAGIC_WINDOW = 1024


class PdfError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code  # "not_pdf" | "pdf_password" | "pdf_unreadable"


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    texts: list[str]  # one per page, NFC, "\n" line ends


def looks_like_pdf(head: bytes) -> bool:
    return MAGIC in head[:MAGIC_WINDOW]


def inspect(path: Path) -> PdfInfo:
    """Open the file, load every page and extract its text; PdfError if PDFium cannot.

    The lock is taken per page, so a long document does not hold up page renders."""
    with LOCK:
        try:
            doc = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise PdfError("pdf_password" if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD else "pdf_unreadable") from exc
    try:
        with LOCK:
            n = len(doc)
        texts = []
        for i in range(n):
            with LOCK:
                texts.append(_page_text(doc, i))
        if not texts:
            raise PdfError("pdf_unreadable")
        return PdfInfo(page_count=len(texts), texts=texts)
    except pdfium.PdfiumError as exc:
        raise PdfError("pdf_unreadable") from exc
    finally:
        with LOCK:
            doc.close()


def _page_text(doc, i: int) -> str:
    page = doc[i]
    try:
        if page.get_width() <= 0 or page.get_height() <= 0:
            raise PdfError("pdf_unreadable")
        textpage = page.get_textpage()
        try:
            return _clean(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _clean(text: str) -> str:
    # NUL cannot go into a PostgreSQL text column; PDFium marks soft hyphens with U+FFFE.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufffe", "")
    return unicodedata.normalize("NFC", text)


def render_png(path: Path, page_number: int, width: int) -> bytes:
    """Page `page_number` (1-based) as an RGB PNG exactly `width` pixels wide."""
    with LOCK:
        doc = pdfium.PdfDocument(path)
        try:
            page = doc[page_number - 1]
            try:
                w_pt, h_pt = page.get_width(), page.get_height()
                height = max(1, round(width * h_pt / w_pt))
                bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
                try:
                    bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
                    flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
                    pdfium_c.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, flags)
                    raw = bytes(bitmap.buffer)
                    stride = bitmap.stride
                finally:
                    bitmap.close()
            finally:
                page.close()
        finally:
            doc.close()
    # PNG encoding needs no PDFium: do it outside the lock.
    return encode_png(raw, width, height, stride)


def encode_png(rgb: bytes, width: int, height: int, stride: int) -> bytes:
    """A minimal RGB8 PNG (filter 0 per row, zlib), enough for rendered pages."""
    row = width * 3
    mv = memoryview(rgb)
    scan = b"".join(b"\x00" + mv[y * stride: y * stride + row] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(scan, 6)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    return struct.unpack(">II", data[16:24])

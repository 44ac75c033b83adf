"""The one module that talks to PDFium: check a PDF against limits and pull out per-page text,
render a page to PNG within a pixel budget.

It runs inside the sandbox's worker processes (pdfworker.py), not in a server process: a hostile
file (a flate bomb, a page of 14,400 pt) can then only take a worker down. PDFium is not
thread-safe, so every call into it holds LOCK anyway.
"""

import math
import struct
import threading
import unicodedata
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

LOCK = threading.RLock()
MAGIC = b"%PDF-"
# PDF 1.7 §7.5.2 lets the header start anywhere in the first 1024 bytes.
MAGIC_WINDOW = 1024


@dataclass(frozen=True)
class Limits:
    max_pages: int = 2000
    # PDF 1.7 Annex C.2: a page side is 3 to 14,400 units.
    min_side_pt: float = 3.0
    max_side_pt: float = 14400.0
    max_image_pixels: int = 150_000_000  # per page, over all its images (a 600 dpi A3 scan is 70 Mpx)
    # The whole document's extracted text: 5 M characters (a few thousand pages of prose) keep the worker's
    # copies of it (texts, JSON, the answer) far below its memory limit; 20 M pushed it past 300 MB.
    max_text_chars: int = 5_000_000
    max_render_pixels: int = 4_000_000
    max_render_side: int = 8192

    def as_dict(self) -> dict:
        return asdict(self)


class PdfError(Exception):
    def __init__(self, code: str, page: int | None = None):
        super().__init__(code)
        # "pdf_password" | "pdf_unreadable" | "pdf_too_many_pages" | "pdf_page_too_large"
        # | "pdf_page_too_small" | "pdf_too_complex" | "bad_page"
        self.code = code
        self.page = page


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    texts: list[str]  # one per page, NFC, "\n" line ends


def looks_like_pdf(head: bytes) -> bool:
    return MAGIC in head[:MAGIC_WINDOW]


def open_document(path: Path):
    with LOCK:
        try:
            return pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            raise PdfError("pdf_password" if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD else "pdf_unreadable") from exc


def inspect(path: Path, limits: Limits = Limits()) -> PdfInfo:
    """Open the file, check every page's size and images against `limits` and extract its text;
    PdfError (with the page, when one is at fault) if PDFium cannot or a limit is passed."""
    doc = open_document(path)
    try:
        with LOCK:
            n = len(doc)
        if n == 0:
            raise PdfError("pdf_unreadable")
        if n > limits.max_pages:
            raise PdfError("pdf_too_many_pages")
        texts, total = [], 0
        for i in range(n):
            with LOCK:
                texts.append(_check_page(doc, i, limits))
            total += len(texts[-1])
            if total > limits.max_text_chars:
                raise PdfError("pdf_too_complex", i + 1)
        return PdfInfo(page_count=n, texts=texts)
    except pdfium.PdfiumError as exc:
        raise PdfError("pdf_unreadable") from exc
    finally:
        with LOCK:
            doc.close()


def _check_page(doc, i: int, limits: Limits) -> str:
    page = doc[i]
    try:
        w, h = page.get_size()
        if not all(math.isfinite(v) and v >= limits.min_side_pt for v in (w, h)):
            raise PdfError("pdf_page_too_small", i + 1)
        if max(w, h) > limits.max_side_pt:
            raise PdfError("pdf_page_too_large", i + 1)
        pixels = 0
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,)):
            iw, ih = obj.get_px_size()
            pixels += iw * ih
            if pixels > limits.max_image_pixels:
                raise PdfError("pdf_too_complex", i + 1)
        textpage = page.get_textpage()
        try:
            return _clean(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _clean(text: str) -> str:
    # NUL cannot go into a PostgreSQL text column, nor can a lone surrogate go into UTF-8;
    # PDFium marks soft hyphens with U+FFFE.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\ufffe", "")
    return unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))


def render_size(w_pt: float, h_pt: float, width: int, limits: Limits = Limits()) -> tuple[int, int]:
    """Pixel size of a `w_pt` × `h_pt` page asked `width` px wide: exactly that width unless the
    image would pass max_render_pixels or max_render_side (then scaled down, aspect kept)."""
    if not (math.isfinite(w_pt) and math.isfinite(h_pt) and w_pt > 0 and h_pt > 0):
        raise PdfError("bad_page")
    scale = min(
        width / w_pt,
        math.sqrt(limits.max_render_pixels / (w_pt * h_pt)),
        limits.max_render_side / w_pt,
        limits.max_render_side / h_pt,
    )
    if scale == width / w_pt:
        return width, max(1, min(limits.max_render_side, round(h_pt * scale)))
    return max(1, math.floor(w_pt * scale)), max(1, math.floor(h_pt * scale))


def render_png(doc_or_path, page_number: int, width: int, limits: Limits = Limits()) -> bytes:
    """Page `page_number` (1-based) as an RGB PNG `width` pixels wide (less for a page too large for
    the pixel budget); `doc_or_path` is an open PdfDocument or a file path."""
    with LOCK:
        doc = open_document(doc_or_path) if isinstance(doc_or_path, (str, Path)) else doc_or_path
        try:
            if not 1 <= page_number <= len(doc):
                raise PdfError("bad_page", page_number)
            page = doc[page_number - 1]
            try:
                width, height = render_size(page.get_width(), page.get_height(), width, limits)
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
            if doc is not doc_or_path:
                doc.close()
    # PNG encoding needs no PDFium: do it outside the lock.
    return encode_png(raw, width, height, stride)


def encode_png(rgb: bytes, width: int, height: int, stride: int) -> bytes:
    """A minimal RGB8 PNG (filter 0 per row, zlib), enough for rendered pages."""
    row = width * 3
    mv = memoryview(rgb)
    z = zlib.compressobj(6)
    parts = [z.compress(b"\x00" + mv[y * stride : y * stride + row]) for y in range(height)]
    parts.append(z.flush())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    return struct.unpack(">II", data[16:24])

"""Page images for any screen: rendered once per (sha256, page, width), then served
from disk, so a weak commune PC never runs a PDF engine."""
import threading

from confserver.errors import DomainError

from . import pdf, storage
from .models import DocumentVersion

WIDTHS = (480, 960, 1600)
CONTENT_TYPE = "image/png"
_inflight: dict[tuple, threading.Lock] = {}
_inflight_guard = threading.Lock()


def check_request(version: DocumentVersion, page: int, width: int) -> None:
    if width not in WIDTHS:
        raise DomainError("bad_width", f"Chiều rộng ảnh phải là một trong {', '.join(map(str, WIDTHS))} điểm ảnh.")
    if not 1 <= page <= version.page_count:
        raise DomainError("bad_page", f"Tài liệu có {version.page_count} trang, không có trang {page}.", status=404)


def etag(version: DocumentVersion, page: int, width: int) -> str:
    return f'"{version.sha256}-{page}-{width}"'


def page_png(version: DocumentVersion, page: int, width: int) -> bytes:
    """The PNG of a page, from the cache or rendered (and cached) now."""
    check_request(version, page, width)
    path = storage.page_path(version.sha256, page, width)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = (version.sha256, page, width)
    with _inflight_guard:
        lock = _inflight.setdefault(key, threading.Lock())
    # One render per key: a room of 40 screens asking for the same page at once
    # waits for the first render instead of queueing 40 on the PDFium lock.
    with lock:
        try:
            if path.exists():
                return path.read_bytes()
            data = pdf.render_png(storage.pdf_path(version.sha256), page, width)
            storage.write_atomic(path, data)
            return data
        finally:
            with _inflight_guard:
                _inflight.pop(key, None)

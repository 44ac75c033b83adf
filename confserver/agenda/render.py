"""Page images for any screen: rendered once per (sha256, page, width), then served
from disk, so a weak commune PC never runs a PDF engine.

Renders run in the sandbox's worker processes (sandbox.py), one at a time per document, so a
hostile document holds at most one worker while other documents' pages go on rendering. A page
that failed is answered from memory for a while instead of being tried again at once.
"""

import logging
import threading
import time
from collections import OrderedDict

from django.conf import settings

from confserver.errors import DomainError
from confserver.observability import metrics

from . import sandbox, storage
from .models import DocumentVersion
from .pdf import PdfError

log = logging.getLogger(__name__)

WIDTHS = (480, 960, 1600)
CONTENT_TYPE = "image/png"
FAILED_FOR_S = 600  # a page that cannot be rendered at all (bad_page): the same answer each time
TRANSIENT_FAILED_FOR_S = 30  # a timeout, too complex for the limits, a worker that died: may work next time
FAILED_KEEP = 1024
DOCUMENT_LOCKS_KEEP = 1024
_inflight: dict[tuple, threading.Lock] = {}
_documents: dict[str, threading.Lock] = {}
_failed: OrderedDict[tuple, tuple[float, str]] = OrderedDict()
_guard = threading.Lock()


def check_request(version: DocumentVersion, page: int, width: int) -> None:
    if width not in WIDTHS:
        raise DomainError("bad_width", f"Chiều rộng ảnh phải là một trong {', '.join(map(str, WIDTHS))} điểm ảnh.")
    if not 1 <= page <= version.page_count:
        raise DomainError("bad_page", f"Tài liệu có {version.page_count} trang, không có trang {page}.", status=404)


def etag(version: DocumentVersion, page: int, width: int) -> str:
    return f'"{version.sha256}-{page}-{width}"'


def render_error(code: str, page: int) -> DomainError:
    if code == "bad_page":
        return DomainError("bad_page", f"Trang {page} có khung trang không hợp lệ, không dựng được ảnh.", status=422)
    if code == "busy":
        return DomainError("render_busy", "Máy chủ đang bận dựng ảnh trang, vui lòng thử lại sau giây lát.", status=503)
    return DomainError(
        "page_unrenderable", f"Không dựng được ảnh trang {page}: trang quá phức tạp hoặc tệp bị hỏng.", status=422
    )


def _lock(table: dict, key) -> threading.Lock:
    with _guard:
        return table.setdefault(key, threading.Lock())


def _wait_s() -> float:
    return getattr(settings, "AGENDA_PDF_WAIT_S", 30.0)


def page_png(version: DocumentVersion, page: int, width: int) -> bytes:
    """The PNG of a page, from the cache or rendered (and cached, when the disk allows) now."""
    check_request(version, page, width)
    path = storage.page_path(version.sha256, page, width)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    sandbox.release_db_connection()
    key = (version.sha256, page, width)
    # One render per key: a room of 40 screens asking for the same page at once
    # waits for the first render instead of queueing 40 renders.
    lock = _lock(_inflight, key)
    if not lock.acquire(timeout=_wait_s()):
        raise render_error("busy", page)
    try:
        if path.exists():
            return path.read_bytes()
        data = _render(version.sha256, page, width)
        try:
            storage.write_atomic(path, data)
        except OSError as exc:  # a full disk: the reader still gets the page, the next one renders again
            log.warning("page image not cached (%s): %s", path.name, exc)
        return data
    finally:
        lock.release()
        with _guard:
            _inflight.pop(key, None)


def _render(sha256: str, page: int, width: int) -> bytes:
    key = (sha256, page, width)
    with _guard:
        failed = _failed.get(key)
    if failed and failed[0] > time.monotonic():
        raise render_error(failed[1], page)
    document = _lock(_documents, sha256)
    if not document.acquire(timeout=_wait_s()):
        raise render_error("busy", page)
    try:
        with metrics.PDF_RENDER_SECONDS.time():
            return sandbox.render(storage.pdf_path(sha256), page, width)
    except PdfError as exc:
        if exc.code != "busy":
            log.warning("page %s of %s at %s px not rendered: %s", page, sha256, width, exc.code)
            with _guard:
                _failed[key] = (
                    time.monotonic() + (FAILED_FOR_S if exc.code == "bad_page" else TRANSIENT_FAILED_FOR_S),
                    exc.code,
                )
                while len(_failed) > FAILED_KEEP:
                    _failed.popitem(last=False)
        raise render_error(exc.code, page) from None
    finally:
        document.release()
        with _guard:
            if len(_documents) > DOCUMENT_LOCKS_KEEP:  # forget the idle ones
                for k in [k for k, v in _documents.items() if not v.locked()]:
                    del _documents[k]

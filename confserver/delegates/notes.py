"""Private notes: a delegate's note on one page of a paper, read and written by its author only (the
author is whoever the request proves to be; no other delegate's, chair's or room's request reaches it)."""

from confserver.agenda.models import DocumentVersion
from confserver.errors import DomainError, NotFound

from .models import Delegate, Note

MAX_TEXT = 4000


def _version(delegate: Delegate, version_id: int, page: int) -> DocumentVersion:
    v = DocumentVersion.objects.filter(pk=version_id, document__meeting_id=delegate.meeting_id).first()
    if v is None:
        raise NotFound("version_not_found", "Không có tài liệu này trong cuộc họp.")
    if not 1 <= page <= max(1, v.page_count):
        raise DomainError("bad_page", f"Tài liệu không có trang {page}.")
    return v


def read(delegate: Delegate, version_id: int, page: int) -> Note | None:
    _version(delegate, version_id, page)
    return Note.objects.filter(delegate=delegate, version_id=version_id, page=page).first()


def write(delegate: Delegate, version_id: int, page: int, text: str) -> Note | None:
    """Store the author's note on that page (empty text removes it)."""
    v = _version(delegate, version_id, page)
    if len(text) > MAX_TEXT:
        raise DomainError("note_too_long", f"Ghi chú dài quá {MAX_TEXT} ký tự.")
    if not text.strip():
        Note.objects.filter(delegate=delegate, version=v, page=page).delete()
        return None
    note, _ = Note.objects.update_or_create(delegate=delegate, version=v, page=page, defaults={"text": text})
    return note


def mine(delegate: Delegate) -> list[Note]:
    """Every note of the author in this meeting (kept after the meeting)."""
    return list(
        Note.objects.filter(delegate=delegate)
        .select_related("version__document")
        .order_by("version__document_id", "version_id", "page")
    )

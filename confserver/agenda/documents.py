"""Meeting documents: upload (checked, hashed, indexed, signature-checked), versions,
listing and opening. A refused upload leaves no row and no file."""

import mmap
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from confserver.edge.limits import too_large_message
from confserver.errors import Conflict, DomainError, NotFound
from confserver.rooms import timeline
from confserver.rooms.models import Meeting

from . import access, fold, pdf, receipts, sandbox, storage
from .agenda import check_editable, lock_meeting
from .models import AgendaItem, Document, DocumentPage, DocumentVersion

UNSET = object()


def max_upload_bytes() -> int:
    return getattr(settings, "AGENDA_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)


@dataclass
class Checked:
    spooled: storage.Spooled
    info: pdf.PdfInfo
    signatures: dict


def _chunks(fileobj):
    if hasattr(fileobj, "chunks"):  # Django UploadedFile
        yield from fileobj.chunks(storage.CHUNK)
        return
    while chunk := fileobj.read(storage.CHUNK):
        yield chunk


def check_file(fileobj) -> Checked:
    """Spool and check an upload: size, PDF magic, then every page's size, images and text in a
    sandboxed PDFium process (sandbox.py). Raises a coded DomainError with the spool removed."""
    spooled = _spool(fileobj)
    try:
        if not pdf.looks_like_pdf(spooled.head):
            raise DomainError("not_pdf", "Tệp tải lên không phải PDF.", status=415)
        sandbox.release_db_connection()
        try:
            info = sandbox.check(spooled.path)
        except pdf.PdfError as exc:
            raise pdf_refusal(exc) from None
        try:
            report = _signature_report(spooled.path)
        except pdf.PdfError as exc:  # busy
            raise pdf_refusal(exc) from None
        sandbox.warm_renders()
        return Checked(spooled, info, report)
    except BaseException:
        spooled.discard()
        raise


def _signature_report(path) -> dict:
    # A signature's /ByteRange is in the file's raw bytes (the digest skips its /Contents by offset), so
    # a file without one is unsigned: pyHanko (a second to load on a fresh worker) need not read it.
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m.find(b"/ByteRange") < 0:
            return {"signed": False, "status": "unsigned", "signatures": []}
    return sandbox.signatures(path)  # pyHanko parses it in a sandboxed worker, not here


def _spool(fileobj) -> storage.Spooled:
    """The upload in the spool: already there when it came over HTTP (uploads.py), else copied now."""
    if getattr(fileobj, "upload_error", None) is not None:
        raise fileobj.upload_error
    if getattr(fileobj, "spooled", None) is not None:
        return fileobj.spooled
    limit = max_upload_bytes()
    size = getattr(fileobj, "size", None)
    if size is not None and size > limit:
        raise too_large(limit)
    try:
        return storage.spool(_chunks(fileobj), limit)
    except storage.TooLarge:
        raise too_large(limit) from None
    except storage.StorageFull:
        raise storage_full() from None


def too_large(limit: int) -> DomainError:
    return DomainError("file_too_large", too_large_message(limit, "Tệp"), status=413)


def storage_full() -> DomainError:
    return DomainError(
        "storage_full", "Máy chủ đã hết chỗ lưu trữ, chưa lưu được tệp; xin báo quản trị hệ thống.", status=507
    )


def pdf_refusal(exc: pdf.PdfError) -> DomainError:
    """The coded answer to a PDF the sandbox refused (or could not check in time)."""
    on_page = f"Trang {exc.page}" if exc.page else "Một trang"
    if exc.code == "busy":
        return DomainError(
            "upload_busy", "Máy chủ đang bận kiểm tra các tệp khác, vui lòng thử lại sau giây lát.", status=503
        )
    code, message = {
        "pdf_password": ("pdf_password", "Tệp PDF có mật khẩu, không mở được; hãy gửi bản không đặt mật khẩu."),
        "pdf_too_many_pages": (
            "pdf_too_many_pages",
            f"Tệp PDF có quá nhiều trang (tối đa {sandbox.limits().max_pages} trang).",
        ),
        "pdf_page_too_large": (
            "pdf_page_too_large",
            f"{on_page} của tệp PDF quá lớn (mỗi cạnh trang tối đa 14.400 điểm, tức 5,08 m).",
        ),
        "pdf_page_too_small": (
            "pdf_page_too_small",
            f"{on_page} của tệp PDF có khung trang không hợp lệ (rỗng hoặc quá nhỏ).",
        ),
        "pdf_too_complex": (
            "pdf_too_complex",
            "Tệp PDF quá phức tạp để xử lý (ảnh hoặc nội dung nén giải ra quá lớn).",
        ),
        "pdf_timeout": ("pdf_timeout", "Kiểm tra tệp PDF quá thời gian cho phép: tệp quá phức tạp hoặc bị hỏng."),
    }.get(exc.code, ("pdf_unreadable", "Tệp PDF bị hỏng hoặc không đọc được."))
    return DomainError(code, message, status=422)


def _store(checked: Checked, write_rows):
    """Run `write_rows` in a transaction and put the file in place; undo the file
    if the rows do not commit."""
    created = False
    try:
        with transaction.atomic():
            result = write_rows()
            try:
                created = storage.place(checked.spooled)
            except storage.StorageFull:
                raise storage_full() from None
        return result
    except BaseException:
        checked.spooled.discard()
        if created and not DocumentVersion.objects.filter(sha256=checked.spooled.sha256).exists():
            storage.pdf_path(checked.spooled.sha256).unlink(missing_ok=True)
        raise


def _add_version(user, document: Document, checked: Checked, filename: str, number: int) -> DocumentVersion:
    now = timezone.now()
    DocumentVersion.objects.filter(document=document, is_current=True).update(is_current=False, superseded_at=now)
    sig = checked.signatures
    version = DocumentVersion.objects.create(
        document=document,
        number=number,
        filename=filename[:255] or "tai-lieu.pdf",
        sha256=checked.spooled.sha256,
        size=checked.spooled.size,
        page_count=checked.info.page_count,
        uploaded_by=user,
        signature_status=sig["status"],
        signatures=sig,
    )
    DocumentPage.objects.bulk_create(
        [
            DocumentPage(version=version, number=i, text=text, folded=fold.index_text(text))
            for i, text in enumerate(checked.info.texts, start=1)
        ],
        batch_size=500,
    )
    timeline.record(
        document.meeting,
        "document_version",
        actor=user,
        document_id=document.id,
        version_id=version.id,
        number=number,
        title=document.title,
    )
    return version


def _item_of(meeting: Meeting, item_id: int | None) -> AgendaItem | None:
    if item_id is None:
        return None
    item = AgendaItem.objects.filter(pk=item_id, meeting=meeting).first()
    if item is None:
        raise NotFound("item_not_found", f"Cuộc họp không có nội dung họp số {item_id}.")
    return item


def title_from_filename(filename: str) -> str:
    """What rooms see for a document uploaded without a title (issue 12, item 14): the file's name without its
    folder and extension, its separators as spaces ("bao-cao_KTXH-2025.pdf" -> "Bao cao KTXH 2025"); a name already
    written with spaces keeps its hyphens ("Báo cáo kinh tế - xã hội.pdf")."""
    import re
    import unicodedata

    name = unicodedata.normalize("NFC", re.split(r"[\\/]", filename or "")[-1])
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", name)
    if " " not in stem.strip():
        stem = re.sub(r"(?<=[^\W_])[-.+](?=[^\W_])", " ", stem)  # a slug: its hyphens and dots were the spaces
    stem = stem.replace("_", " ")
    stem = " ".join(stem.split())
    return (stem[:1].upper() + stem[1:]) if stem else "Tài liệu"


def upload(
    user,
    meeting: Meeting,
    fileobj,
    *,
    filename: str,
    title: str | None = None,
    item_id: int | None = None,
    confidential: bool = False,
) -> DocumentVersion:
    """A new document of `meeting` with `fileobj` (a PDF) as version 1."""
    check_editable(user, meeting)  # refuse early, before reading the file
    checked = check_file(fileobj)

    def rows():
        m = lock_meeting(meeting.pk)
        check_editable(user, m)
        doc = Document.objects.create(
            meeting=m,
            item=_item_of(m, item_id),
            confidential=confidential,
            title=(title or title_from_filename(filename))[:300],
            created_by=user,
        )
        return _add_version(user, doc, checked, filename, 1)

    return _store(checked, rows)


def upload_version(user, document: Document, fileobj, *, filename: str) -> DocumentVersion:
    """A new version of `document`; the current one is marked superseded and stays readable."""
    check_editable(user, document.meeting)
    checked = check_file(fileobj)

    def rows():
        m = lock_meeting(document.meeting_id)
        check_editable(user, m)
        doc = Document.objects.select_for_update().get(pk=document.pk)
        current = doc.versions.filter(is_current=True).first()
        if current and current.sha256 == checked.spooled.sha256:
            raise Conflict("same_version", "Tệp này giống hệt phiên bản hiện hành.")
        last = doc.versions.order_by("-number").values_list("number", flat=True).first() or 0
        return _add_version(user, doc, checked, filename, last + 1)

    return _store(checked, rows)


@transaction.atomic
def update_document(user, document: Document, *, title=UNSET, item_id=UNSET, confidential=UNSET) -> Document:
    meeting = lock_meeting(document.meeting_id)
    check_editable(user, meeting)
    doc = Document.objects.get(pk=document.pk)
    if title is not UNSET:
        doc.title = title
    if item_id is not UNSET:
        doc.item = _item_of(meeting, item_id)
    if confidential is not UNSET:
        doc.confidential = confidential
    doc.save()
    return doc


def get_document(document_id: int) -> Document:
    try:
        return Document.objects.select_related("meeting__host_unit", "item").get(pk=document_id)
    except Document.DoesNotExist:
        raise NotFound("document_not_found", f"Không có tài liệu số {document_id}.") from None


def get_version(version_id: int) -> DocumentVersion:
    try:
        return DocumentVersion.objects.select_related("document__meeting__host_unit").get(pk=version_id)
    except DocumentVersion.DoesNotExist:
        raise NotFound("version_not_found", f"Không có phiên bản tài liệu số {version_id}.") from None


def documents_for(user, meeting: Meeting) -> list[Document]:
    """The documents `user` may see in `meeting`, each with its versions (oldest first)."""
    role = access.check_can_read(user, meeting)
    qs = (
        meeting.documents.select_related("item")
        .prefetch_related("versions")
        .order_by(F("item__position").asc(nulls_last=True), "id")
    )
    if role == access.REVIEWER:
        qs = qs.filter(confidential=False)
    return list(qs)


def current_version(document: Document) -> DocumentVersion | None:
    return next((v for v in document.versions.all() if v.is_current), None)


def open_version(user, version: DocumentVersion, *, record: bool = True) -> DocumentVersion:
    """Authorise opening a version (file or page image) and note a room's read receipt."""
    access.check_can_open(user, version.document)
    if record:
        receipts.record_open(user, version)
    return version

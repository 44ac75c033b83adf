"""HTTP API of agenda, documents, publication, receipts, search and sync state
(mounted at /api/agenda in confserver/api.py). Thin: parse, call the domain, shape."""

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseNotModified
from ninja import File, Form, Router, UploadedFile

from confserver.errors import DomainError
from confserver.rooms import meetings
from confserver.rooms.schemas import ErrorOut

from . import access, agenda, documents, publish, receipts, render, search, storage, sync
from .models import AgendaItem, Document, DocumentVersion
from .schemas import (
    DocumentOut,
    DocumentPatch,
    ItemIn,
    ItemOut,
    ItemPatch,
    OrderIn,
    PublicationOut,
    ReceiptsOut,
    SearchHitOut,
    SignatureReportOut,
    SyncStateOut,
    VersionOut,
)

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    415: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
    507: ErrorOut,
}
# Page images and files never change for a given sha256; "private" because access is per user.
IMMUTABLE = "private, max-age=31536000, immutable"

router = Router(tags=["agenda"])


def item_out(i: AgendaItem) -> ItemOut:
    u = i.presenter_unit
    return ItemOut(
        id=i.id,
        position=i.position,
        title=i.title,
        presenter_unit=u.code if u else None,
        presenter_unit_name=u.name if u else None,
        planned_start=i.planned_start,
        planned_minutes=i.planned_minutes,
    )


def version_out(v: DocumentVersion) -> VersionOut:
    return VersionOut(
        id=v.id,
        number=v.number,
        is_current=v.is_current,
        superseded_at=v.superseded_at,
        filename=v.filename,
        sha256=v.sha256,
        size=v.size,
        page_count=v.page_count,
        uploaded_at=v.uploaded_at,
        signature_status=v.signature_status,
        file_url=publish.file_url(v.id),
        page_url=f"/api/agenda/versions/{v.id}/pages/{{page}}",
    )


def document_out(d: Document) -> DocumentOut:
    versions = sorted(d.versions.all(), key=lambda v: v.number)
    current = next((v for v in versions if v.is_current), None)
    return DocumentOut(
        id=d.id,
        meeting_id=d.meeting_id,
        item_id=d.item_id,
        title=d.title,
        confidential=d.confidential,
        current=version_out(current) if current else None,
        versions=[version_out(v) for v in versions],
    )


def _patch(payload, *names) -> dict:
    return {k: getattr(payload, k) for k in names if k in payload.model_fields_set}


# --- agenda items -----------------------------------------------------------------


@router.get("/meetings/{meeting_id}/items", response={200: list[ItemOut], **ERRORS})
def list_items(request: HttpRequest, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    access.check_can_read(request.auth, m)
    return [item_out(i) for i in agenda.items(m)]


@router.post("/meetings/{meeting_id}/items", response={201: ItemOut, **ERRORS})
def create_item(request, meeting_id: int, payload: ItemIn):
    i = agenda.create_item(request.auth, meetings.get_meeting(meeting_id), **payload.model_dump())
    return 201, item_out(i)


@router.put("/meetings/{meeting_id}/items/order", response={200: list[ItemOut], **ERRORS})
def reorder_items(request, meeting_id: int, payload: OrderIn):
    return [item_out(i) for i in agenda.reorder(request.auth, meetings.get_meeting(meeting_id), payload.item_ids)]


@router.patch("/items/{item_id}", response={200: ItemOut, **ERRORS})
def update_item(request, item_id: int, payload: ItemPatch):
    if "title" in payload.model_fields_set and payload.title is None:
        raise DomainError("title_required", "Nội dung họp phải có tiêu đề.")
    fields = _patch(payload, "title", "presenter_unit", "planned_start", "planned_minutes")
    return item_out(agenda.update_item(request.auth, agenda.get_item(item_id), **fields))


@router.delete("/items/{item_id}", response={204: None, **ERRORS})
def delete_item(request, item_id: int):
    agenda.delete_item(request.auth, agenda.get_item(item_id))
    return 204, None


# --- documents --------------------------------------------------------------------


@router.post("/meetings/{meeting_id}/documents", response={201: DocumentOut, **ERRORS})
def upload_document(
    request,
    meeting_id: int,
    file: File[UploadedFile],
    title: Form[str | None] = None,
    item_id: Form[int | None] = None,
    confidential: Form[bool] = False,
):
    """Upload a PDF as a new document (version 1)."""
    v = documents.upload(
        request.auth,
        meetings.get_meeting(meeting_id),
        file,
        filename=file.name or "",
        title=title,
        item_id=item_id,
        confidential=confidential,
    )
    return 201, document_out(documents.get_document(v.document_id))


@router.post("/documents/{document_id}/versions", response={201: DocumentOut, **ERRORS})
def upload_version(request, document_id: int, file: File[UploadedFile]):
    """Upload a new version; the previous one is kept, marked superseded."""
    v = documents.upload_version(request.auth, documents.get_document(document_id), file, filename=file.name or "")
    return 201, document_out(documents.get_document(v.document_id))


@router.get("/meetings/{meeting_id}/documents", response={200: list[DocumentOut], **ERRORS})
def list_documents(request, meeting_id: int):
    return [document_out(d) for d in documents.documents_for(request.auth, meetings.get_meeting(meeting_id))]


@router.get("/documents/{document_id}", response={200: DocumentOut, **ERRORS})
def read_document(request, document_id: int):
    d = documents.get_document(document_id)
    access.check_can_open(request.auth, d)
    return document_out(d)


@router.patch("/documents/{document_id}", response={200: DocumentOut, **ERRORS})
def update_document(request, document_id: int, payload: DocumentPatch):
    fields = _patch(payload, "title", "item_id", "confidential")
    if fields.get("title", "") is None or ("confidential" in fields and fields["confidential"] is None):
        raise DomainError("bad_patch", "Tên tài liệu và trường mật không được để trống.")
    d = documents.update_document(request.auth, documents.get_document(document_id), **fields)
    return document_out(documents.get_document(d.id))


def _not_modified(request, tag: str) -> bool:
    return tag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]


@router.get("/versions/{version_id}/file", response={200: None, 304: None, **ERRORS})
def download(request, version_id: int):
    """The original PDF, as uploaded."""
    v = documents.open_version(request.auth, documents.get_version(version_id))
    tag = f'"{v.sha256}"'
    if _not_modified(request, tag):
        resp = HttpResponseNotModified()
    else:
        resp = FileResponse(
            open(storage.pdf_path(v.sha256), "rb"),
            content_type="application/pdf",
            filename=v.filename,
            as_attachment=False,
        )
    resp["ETag"] = tag
    resp["Cache-Control"] = IMMUTABLE
    return resp


@router.get("/versions/{version_id}/pages/{page}", response={200: None, 304: None, **ERRORS})
def page_image(request, version_id: int, page: int, width: int = 960):
    """Page `page` (1-based) as a PNG `width` px wide (480, 960 or 1600; narrower for a page too large
    for the pixel budget). A page that cannot be rendered is 422 bad_page or page_unrenderable."""
    v = documents.get_version(version_id)
    access.check_can_open(request.auth, v.document)  # before the page checks: no page count for outsiders
    render.check_request(v, page, width)
    receipts.record_open(request.auth, v)
    tag = render.etag(v, page, width)
    if _not_modified(request, tag):
        resp = HttpResponseNotModified()
    else:
        resp = HttpResponse(render.page_png(v, page, width), content_type=render.CONTENT_TYPE)
    resp["ETag"] = tag
    resp["Cache-Control"] = IMMUTABLE
    return resp


@router.get("/versions/{version_id}/signatures", response={200: SignatureReportOut, **ERRORS})
def signature_report(request, version_id: int):
    v = documents.get_version(version_id)
    access.check_can_open(request.auth, v.document)
    r = v.signatures or {}
    return SignatureReportOut(
        version_id=v.id, signed=r.get("signed", False), status=v.signature_status, signatures=r.get("signatures", [])
    )


# --- publication, receipts, search, sync ------------------------------------------


@router.post("/meetings/{meeting_id}/publish", response={201: PublicationOut, **ERRORS})
def publish_agenda(request, meeting_id: int):
    """Send the agenda ahead to the invited rooms (and the webhook)."""
    from confserver.signaling.consumers import notify_sync

    pub, event = publish.publish(request.auth, meetings.get_meeting(meeting_id))
    notify_sync(meeting_id, event)  # rooms connected now see it at once; others on their next fetch
    return 201, PublicationOut(id=pub.id, number=pub.number, published_at=pub.published_at, event=event)


@router.get("/meetings/{meeting_id}/publications", response={200: list[PublicationOut], **ERRORS})
def list_publications(request, meeting_id: int):
    m = meetings.get_meeting(meeting_id)
    readable = access.title_readable_ids(access.check_can_read(request.auth, m), m)
    return [
        PublicationOut(
            id=p.id, number=p.number, published_at=p.published_at, event=access.publication_for(p.snapshot, readable)
        )
        for p in m.agenda_publications.order_by("number")
    ]


@router.get("/meetings/{meeting_id}/receipts", response={200: ReceiptsOut, **ERRORS})
def receipts_report(request, meeting_id: int):
    """For the chair: who opened which document, and when."""
    return receipts.report(request.auth, meetings.get_meeting(meeting_id))


@router.get("/meetings/{meeting_id}/search", response={200: list[SearchHitOut], **ERRORS})
def search_meeting(request, meeting_id: int, q: str, limit: int = 20):
    hits = search.search(request.auth, q, meeting=meetings.get_meeting(meeting_id), limit=limit)
    return [SearchHitOut(**h.__dict__) for h in hits]


@router.get("/search", response={200: list[SearchHitOut], **ERRORS})
def search_all(request, q: str, limit: int = 20):
    """Search every document the caller may open."""
    return [SearchHitOut(**h.__dict__) for h in search.search(request.auth, q, limit=limit)]


@router.get("/meetings/{meeting_id}/sync", response={200: SyncStateOut, **ERRORS})
def sync_state(request, meeting_id: int):
    """The current agenda item and synced page, for a client (re)joining the synced view."""
    m = meetings.get_meeting(meeting_id)
    return sync.get_sync_state(m, access.check_can_read(request.auth, m))

"""Upload: what is stored for a good PDF, and that a refused one leaves no row and no file."""

import hashlib
import io

import pytest

from confserver.agenda import documents, storage
from confserver.agenda.models import Document, DocumentPage, DocumentVersion
from confserver.errors import Conflict, DomainError, Forbidden
from confserver.rooms import meetings
from confserver.rooms.models import TimelineEvent

from .conftest import PHRASE, files_under, make_pdf


def assert_nothing_stored(media):
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert not DocumentPage.objects.exists()
    assert files_under(media) == []


def test_upload_stores_file_hash_pages_and_text(world, item, phrase_pdf, media):
    v = world.upload(phrase_pdf, title="Báo cáo tình hình", item_id=item.id)
    assert v.number == 1 and v.is_current and v.superseded_at is None
    assert v.sha256 == hashlib.sha256(phrase_pdf).hexdigest() and v.size == len(phrase_pdf)
    assert v.page_count == 5 and v.uploaded_by == world.users["host"]
    assert v.document.item == item and v.document.title == "Báo cáo tình hình" and not v.document.confidential
    assert storage.pdf_path(v.sha256).read_bytes() == phrase_pdf
    assert files_under(media) == [storage.pdf_path(v.sha256)]  # the spool is gone
    pages = list(v.pages.order_by("number"))
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert PHRASE in pages[3].text.replace("\n", " ")
    assert " hop khong giay tai dong ha va da nang " in pages[3].folded
    assert TimelineEvent.objects.filter(meeting=world.meeting, kind="document_version").count() == 1


def test_same_bytes_in_two_documents_are_stored_once(world, phrase_pdf, media):
    a = world.upload(phrase_pdf)
    b = world.upload(phrase_pdf, meeting=world.other_meeting)
    assert a.sha256 == b.sha256 and a.document_id != b.document_id
    assert files_under(media) == [storage.pdf_path(a.sha256)]


@pytest.mark.parametrize(
    "data, code, status",
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 200, "not_pdf", 415),
        ("Biên bản họp".encode() * 50, "not_pdf", 415),
        (b"", "not_pdf", 415),
        (b"%PDF-1.7\n" + b"\x13\x37 not really a pdf " * 200, "pdf_unreadable", 422),
    ],
)
def test_refused_uploads_store_nothing(world, media, data, code, status):
    with pytest.raises(DomainError) as err:
        world.upload(data)
    assert (err.value.code, err.value.status) == (code, status)
    assert_nothing_stored(media)


def test_password_protected_pdf_is_refused(world, media):
    from confserver.agenda.testing import signing

    with pytest.raises(DomainError) as err:
        world.upload(signing.encrypt(make_pdf(2)))
    assert (err.value.code, err.value.status) == ("pdf_password", 422)
    assert_nothing_stored(media)


def test_truncated_pdf_is_unreadable(world, media):
    data = make_pdf(4)
    with pytest.raises(DomainError) as err:
        world.upload(data[: len(data) // 3])
    assert err.value.code == "pdf_unreadable"
    assert_nothing_stored(media)


class Stream(io.RawIOBase):
    """A readable stream with no size, like a chunked request body."""

    def __init__(self, data):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._buf.read(n)


def test_too_large_is_413_whether_or_not_the_size_is_known(world, media, settings):
    data = make_pdf(6)
    settings.AGENDA_MAX_UPLOAD_BYTES = len(data) - 1
    with pytest.raises(DomainError) as err:
        world.upload(data)
    assert (err.value.code, err.value.status) == ("file_too_large", 413)
    with pytest.raises(DomainError) as err:
        documents.upload(world.users["host"], world.meeting, Stream(data), filename="x.pdf")
    assert err.value.code == "file_too_large"
    assert_nothing_stored(media)
    settings.AGENDA_MAX_UPLOAD_BYTES = len(data)
    assert documents.upload(world.users["host"], world.meeting, Stream(data), filename="x.pdf").size == len(data)


@pytest.mark.parametrize("who", ["term_in", "reviewer", "commune_host", "hanoi_host"])
def test_only_the_chair_side_uploads(world, phrase_pdf, media, who):
    with pytest.raises(Forbidden):
        world.upload(phrase_pdf, who=who)
    assert_nothing_stored(media)


def test_no_uploads_once_the_meeting_ended(world, phrase_pdf, media):
    for state in ("test_run", "live", "ended"):
        meetings.change_state(world.users["host"], world.meeting.id, state)
    world.meeting.refresh_from_db()
    with pytest.raises(Conflict) as err:
        world.upload(phrase_pdf)
    assert err.value.code == "meeting_ended"
    assert_nothing_stored(media)


def test_a_new_upload_is_a_new_version_and_the_old_one_stays(world, media):
    v1 = world.upload(make_pdf(3, seed=1), filename="to-trinh-v1.pdf")
    v2 = documents.upload_version(
        world.users["host"], v1.document, io.BytesIO(make_pdf(4, seed=2)), filename="to-trinh-v2.pdf"
    )
    v1.refresh_from_db()
    assert (v2.number, v2.is_current, v2.page_count) == (2, True, 4)
    assert not v1.is_current and v1.superseded_at is not None
    assert storage.pdf_path(v1.sha256).exists() and storage.pdf_path(v2.sha256).exists()
    assert list(v1.document.versions.values_list("number", "is_current")) == [(1, False), (2, True)]
    # the same bytes as the current version are not a new version
    with pytest.raises(Conflict) as err:
        documents.upload_version(world.users["host"], v1.document, io.BytesIO(make_pdf(4, seed=2)), filename="x.pdf")
    assert err.value.code == "same_version"
    # going back to the first content is a new version 3
    v3 = documents.upload_version(world.users["host"], v1.document, io.BytesIO(make_pdf(3, seed=1)), filename="x.pdf")
    assert v3.number == 3 and v3.sha256 == v1.sha256
    assert DocumentVersion.objects.filter(document=v1.document, is_current=True).get() == v3


def test_refused_new_version_leaves_the_document_alone(world, media):
    v1 = world.upload(make_pdf(3))
    before = files_under(media)
    with pytest.raises(DomainError):
        documents.upload_version(world.users["host"], v1.document, io.BytesIO(b"%PDF-1.4 broken"), filename="x.pdf")
    v1.refresh_from_db()
    assert v1.is_current and v1.document.versions.count() == 1 and files_under(media) == before


def test_update_document_moves_it_and_marks_it_confidential(world, item, phrase_pdf):
    v = world.upload(phrase_pdf)
    d = documents.update_document(world.users["host"], v.document, item_id=item.id, confidential=True, title="Mật")
    assert (d.item_id, d.confidential, d.title) == (item.id, True, "Mật")
    with pytest.raises(Forbidden):
        documents.update_document(world.users["reviewer"], d, confidential=False)


def test_upload_over_http(world, item, phrase_pdf, client, media, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world.users["host"])
    url = f"/api/agenda/meetings/{world.meeting.id}/documents"
    r = client.post(
        url,
        {
            "file": SimpleUploadedFile("Tờ trình số 12.pdf", phrase_pdf, "application/pdf"),
            "title": "Tờ trình số 12",
            "item_id": item.id,
            "confidential": "true",
        },
    )
    assert r.status_code == 201, r.content
    doc = r.json()
    assert doc["title"] == "Tờ trình số 12" and doc["confidential"] and doc["item_id"] == item.id
    assert doc["current"]["page_count"] == 5 and doc["current"]["filename"] == "Tờ trình số 12.pdf"
    assert doc["current"]["signature_status"] == "unsigned" and len(doc["versions"]) == 1
    r = client.post(
        f"/api/agenda/documents/{doc['id']}/versions",
        {"file": SimpleUploadedFile("v2.pdf", make_pdf(2, seed=4), "application/pdf")},
    )
    assert r.status_code == 201 and [v["is_current"] for v in r.json()["versions"]] == [False, True]
    listed = client.get(f"/api/agenda/meetings/{world.meeting.id}/documents").json()
    assert [d["current"]["number"] for d in listed] == [2]
    before = files_under(media)
    r = client.post(url, {"file": SimpleUploadedFile("anh.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 99, "image/png")})
    assert r.status_code == 415 and r.json()["code"] == "not_pdf"
    settings.AGENDA_MAX_UPLOAD_BYTES = 1000
    r = client.post(url, {"file": SimpleUploadedFile("lon.pdf", phrase_pdf, "application/pdf")})
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    r = client.post(url, {"title": "không có tệp"})
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    assert Document.objects.count() == 1 and files_under(media) == before

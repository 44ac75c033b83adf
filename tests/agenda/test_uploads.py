"""Uploads on their way in (issue 9, findings 3 and 13): refused by identity or declared size before the
body is read, streamed to the spool, and a full disk answered 507 storage_full with nothing left behind,
while page images are still served when they cannot be cached."""

import io
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, FakePayload, encode_multipart

from confserver.agenda import storage
from confserver.agenda.models import Document, DocumentVersion
from confserver.agenda.testing import pdfgen
from confserver.errors import DomainError

from .conftest import files_under, make_pdf


class CountingPayload(FakePayload):
    """The request body, noting whether anything read it."""

    reads = 0

    def read(self, *args, **kwargs):
        self.reads += 1
        return super().read(*args, **kwargs)


def post_counted(client, url, data: bytes, **extra):
    f = io.BytesIO(data)
    f.name = "tai-lieu.pdf"
    body = encode_multipart(BOUNDARY, {"file": f})
    payload = CountingPayload(body)
    r = client.generic(
        "POST",
        url,
        b"",
        **{"wsgi.input": payload, "CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body)), **extra},
    )
    return r, payload


@pytest.fixture
def host_client(client, world):
    client.force_login(world.users["host"])
    return client


def url_of(world):
    return f"/api/agenda/meetings/{world.meeting.id}/documents"


def test_anonymous_upload_is_refused_before_the_body_is_read(world, media):
    from django.test import Client

    r, payload = post_counted(Client(enforce_csrf_checks=True), url_of(world), make_pdf(2))
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert payload.reads == 0
    assert files_under(media) == []


def test_declared_size_over_the_limit_is_refused_before_the_body_is_read(host_client, world, media, settings):
    settings.AGENDA_MAX_UPLOAD_BYTES = 100 * 1024
    r, payload = post_counted(host_client, url_of(world), make_pdf(2), CONTENT_LENGTH=str(200 * 1024 * 1024))
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    assert payload.reads == 0
    assert files_under(media) == []


def test_a_file_over_the_limit_is_cut_while_it_streams(host_client, world, media, settings):
    settings.AGENDA_MAX_UPLOAD_BYTES = 300 * 1024
    data = pdfgen.scanned_pdf(pages=1, side=700)  # 490 KB: within the declared-size margin, over the limit
    r, _ = post_counted(host_client, url_of(world), data)
    assert r.status_code == 413 and r.json()["code"] == "file_too_large"
    assert files_under(media) == [] and not Document.objects.exists()


def test_an_http_upload_is_spooled_once_and_stored(host_client, world, media):
    data = pdfgen.scanned_pdf(pages=2, side=600)
    r, payload = post_counted(host_client, url_of(world), data)
    assert r.status_code == 201, r.content
    v = DocumentVersion.objects.get()
    assert v.size == len(data) and v.page_count == 2
    assert files_under(media) == [storage.pdf_path(v.sha256)]  # no spool left
    assert payload.reads > 0


@pytest.fixture
def small_disk(tmp_path, settings):
    """MEDIA_ROOT on a 1 MB tmpfs (needs mount rights; skipped without them)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if out.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {out.stderr.strip()}")
    settings.MEDIA_ROOT = mnt / "media"
    try:
        yield mnt / "media"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(root) -> None:
    """Fill the disk under `root` to the last byte."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "filler", "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


def test_upload_to_a_full_disk_is_507_and_leaves_nothing(world, small_disk):
    with pytest.raises(DomainError) as err:
        world.upload(pdfgen.scanned_pdf(pages=1, side=1200))  # 1.4 MB on a 1 MB disk
    assert (err.value.code, err.value.status) == ("storage_full", 507)
    assert "hết chỗ lưu trữ" in err.value.message
    assert files_under(small_disk) == [] and not Document.objects.exists()


def test_http_upload_to_a_full_disk_is_507_and_leaves_nothing(host_client, world, small_disk):
    f = SimpleUploadedFile("lon.pdf", pdfgen.scanned_pdf(pages=1, side=1200), content_type="application/pdf")
    r = host_client.post(url_of(world), {"file": f})
    assert r.status_code == 507 and r.json()["code"] == "storage_full"
    assert files_under(small_disk) == [] and not Document.objects.exists()


def test_page_image_is_served_when_the_cache_cannot_be_written(host_client, world, small_disk):
    v = world.upload(make_pdf(2))
    fill(small_disk / "agenda")
    url = f"/api/agenda/versions/{v.id}/pages/1?width=1600"
    r = host_client.get(url)
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    pages = small_disk / "agenda" / "pages"
    assert [p for p in files_under(pages)] == []  # not cached, and no half-written file left
    (small_disk / "agenda" / "filler").unlink()
    again = host_client.get(url)
    assert again.content == r.content and storage.page_path(v.sha256, 1, 1600).read_bytes() == r.content

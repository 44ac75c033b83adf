"""Page images: exact widths, PNG over HTTP with ETag/304 and caching headers,
the disk cache, and rendering from many threads at once."""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from confserver.agenda import pdf, publish, render, sandbox, storage
from tests.conftest import KEPT_OPEN, needs_postgresql

from .conftest import make_pdf


@pytest.fixture
def version(world, item):
    v = world.upload(make_pdf(4, seed=3), item_id=item.id)
    publish.publish(world.users["host"], world.meeting)
    return v


@pytest.fixture
def host_client(client, world):
    client.force_login(world.users["host"])
    return client


@pytest.mark.parametrize("width", render.WIDTHS)
def test_page_image_has_the_asked_width(host_client, version, width):
    r = host_client.get(f"/api/agenda/versions/{version.id}/pages/2?width={width}")
    assert r.status_code == 200 and r["Content-Type"] == "image/png"
    body = r.content
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    w, h = pdf.png_size(body)
    assert w == width and h == round(width * 842 / 595)  # A4 portrait
    assert r["ETag"] == f'"{version.sha256}-2-{width}"'
    assert "private" in r["Cache-Control"] and "max-age=31536000" in r["Cache-Control"]
    assert storage.page_path(version.sha256, 2, width).read_bytes() == body


def test_cache_hit_returns_the_same_bytes_without_rendering(host_client, version, monkeypatch):
    url = f"/api/agenda/versions/{version.id}/pages/1?width=960"
    first = host_client.get(url).content

    def boom(*a, **k):
        raise AssertionError("rendered again")

    monkeypatch.setattr(sandbox, "render", boom)
    second = host_client.get(url)
    assert second.status_code == 200 and second.content == first


def test_etag_gives_304(host_client, version):
    url = f"/api/agenda/versions/{version.id}/pages/3?width=480"
    tag = host_client.get(url)["ETag"]
    r = host_client.get(url, HTTP_IF_NONE_MATCH=tag)
    assert r.status_code == 304 and r.content == b"" and r["ETag"] == tag
    assert host_client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    f = host_client.get(f"/api/agenda/versions/{version.id}/file")
    assert f.status_code == 200 and f["Content-Type"] == "application/pdf" and f["ETag"] == f'"{version.sha256}"'
    assert b"".join(f.streaming_content) == storage.pdf_path(version.sha256).read_bytes()
    assert host_client.get(f"/api/agenda/versions/{version.id}/file", HTTP_IF_NONE_MATCH=f["ETag"]).status_code == 304


def test_identical_pages_of_two_documents_share_the_cache(world, version, host_client):
    twin = world.upload(make_pdf(4, seed=3), meeting=world.other_meeting)
    a = host_client.get(f"/api/agenda/versions/{version.id}/pages/1?width=480")
    b = host_client.get(f"/api/agenda/versions/{twin.id}/pages/1?width=480")
    assert a.content == b.content and a["ETag"] == b["ETag"]


@pytest.mark.parametrize(
    "query, code, status",
    [
        ("pages/1?width=333", "bad_width", 400),
        ("pages/0?width=480", "bad_page", 404),
        ("pages/5?width=480", "bad_page", 404),
    ],
)
def test_bad_page_requests_are_coded(host_client, version, query, code, status):
    r = host_client.get(f"/api/agenda/versions/{version.id}/{query}")
    assert r.status_code == status and r.json()["code"] == code


def test_unknown_version_is_404(host_client, version):
    r = host_client.get("/api/agenda/versions/999999/pages/1")
    assert r.status_code == 404 and r.json()["code"] == "version_not_found"


def test_many_threads_render_correctly(version, monkeypatch):
    """Renders from many threads at once, through the sandbox's pool: each key is rendered once
    and every caller gets the same bytes."""
    calls = []
    real = sandbox.render

    def counting(path, page, width):
        calls.append((page, width))
        return real(path, page, width)

    monkeypatch.setattr(sandbox, "render", counting)
    jobs = [(p, w) for p in range(1, 5) for w in render.WIDTHS] * 3
    out, errors = {}, []

    def work(p, w):
        try:
            out.setdefault((p, w), set()).add(render.page_png(version, p, w))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(v) == 1 for v in out.values())  # the same bytes for every caller of a key
    assert all(pdf.png_size(next(iter(v)))[0] == w for (p, w), v in out.items())
    assert len(calls) == len(set(calls)) == 12


@pytest.mark.django_db(transaction=True)
def test_no_database_connection_held_while_a_pdf_worker_checks_or_renders(host_client, world, item, monkeypatch):
    """An upload's check and a page's render wait on a PDF worker for up to ~90 s: the request's
    database connection goes back (to the pool) first, so slow documents cannot empty the pool."""
    from django.db import connection

    from confserver.agenda.models import DocumentVersion

    needs_postgresql(KEPT_OPEN)
    held = []
    real_check, real_render = sandbox.check, sandbox.render

    def check(*a, **k):
        held.append(("check", connection.connection is not None))
        return real_check(*a, **k)

    def render_(*a, **k):
        held.append(("render", connection.connection is not None))
        return real_render(*a, **k)

    monkeypatch.setattr(sandbox, "check", check)
    monkeypatch.setattr(sandbox, "render", render_)
    r = host_client.post(
        f"/api/agenda/meetings/{world.meeting.id}/documents",
        {"file": SimpleUploadedFile("bao-cao.pdf", make_pdf(2, seed=11), "application/pdf"), "item_id": item.id},
    )
    assert r.status_code == 201, r.content
    publish.publish(world.users["host"], world.meeting)
    v = DocumentVersion.objects.get()
    assert host_client.get(f"/api/agenda/versions/{v.id}/pages/1?width=480").status_code == 200
    assert held == [("check", False), ("render", False)]


def test_a_render_that_timed_out_is_tried_again_soon(host_client, world, settings, monkeypatch):
    """A timeout (or too complex, or a dead worker) is remembered briefly, not for the 10 minutes a
    page that cannot be rendered at all is."""
    monkeypatch.setattr(render, "TRANSIENT_FAILED_FOR_S", 1)
    settings.AGENDA_PDF_CHECK_TIMEOUT_S = 120
    from confserver.agenda.testing import pdfgen

    v = world.upload(pdfgen.slow_page_pdf(squares=20_000, repeat=100))
    url = f"/api/agenda/versions/{v.id}/pages/1?width=480"
    settings.AGENDA_RENDER_TIMEOUT_S = 0.2
    r = host_client.get(url)
    assert r.status_code == 422 and r.json()["code"] == "page_unrenderable"
    settings.AGENDA_RENDER_TIMEOUT_S = 120
    time.sleep(1.5)
    assert host_client.get(url).status_code == 200


def _pdf_workers() -> list[int]:
    """This process's live PDF worker children."""
    import os
    from pathlib import Path

    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and state != "Z" and b"pdfworker" in cmd:
            found.append(int(d.name))
    return found


def test_a_worker_busy_when_its_pool_is_replaced_is_ended_not_leaked(tmp_path, settings):
    """Changed settings replace a pool; a worker then rendering goes back to the closed pool no more."""
    from confserver.agenda.testing import pdfgen

    path = tmp_path / "slow.pdf"
    path.write_bytes(pdfgen.slow_page_pdf(squares=20_000, repeat=30))
    settings.AGENDA_RENDER_TIMEOUT_S = 60
    sandbox._pool("render").close()  # no idle workers left over from other tests
    sandbox._pools.pop("render", None)
    done = []
    t = threading.Thread(target=lambda: done.append(sandbox.render(path, 1, 480)))
    t.start()
    time.sleep(0.3)  # the job holds its worker
    old = sandbox._pools["render"]  # as a request still running on the old pool holds it
    settings.AGENDA_RENDER_WORKERS = settings.AGENDA_RENDER_WORKERS + 1
    assert sandbox._pool("render") is not old  # replaced: the old pool closed
    assert not done, "the render ended before the pool was replaced"
    t.join(60)
    assert done and done[0].startswith(b"\x89PNG")
    deadline = time.monotonic() + 5
    while _pdf_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pdf_workers() == []
    del old

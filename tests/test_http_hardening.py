"""Issue 9, finding 13 (HTTP): NUL in text, ids past 64 bits, paths out of the static roots, and API docs
without a third-party CDN answer coded errors or work, never 500."""

import json
import re

import pytest
from asgiref.testing import ApplicationCommunicator

from confserver.accounts.models import Role
from confserver.agenda import agenda
from confserver.rooms import meetings
from confserver.rooms.meetings import Selection
from confserver.signaling.protocol import ProtocolError, parse_client

HUGE = "99999999999999999999999"
NUL = "a\x00b"


@pytest.fixture
def chair(client, hue2025, make_user, when):
    host = make_user("chutri", Role.HOST, unit=hue2025)
    client.force_login(host)
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp giao ban",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="subtree"),
    )
    meetings.change_state(host, m.id, "test_run")
    room_id = m.participations.exclude(room__unit=hue2025).first().room_id
    return client, m, agenda.create_item(host, m, title="Báo cáo"), room_id


async def asgi_get(path: str) -> dict:
    """GET through the deployed ASGI app (static files included), as daphne hands it a decoded path."""
    from confserver.asgi import application

    comm = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "path": path,
            "raw_path": path.encode("utf-8"),
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000),
        },
    )
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(10)
    body = b""
    while True:
        msg = await comm.receive_output(10)
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    return {"status": start["status"], "body": body}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body) if body is not None else None, content_type="application/json"
    )


@pytest.mark.django_db
def test_nul_in_any_text_field_is_invalid_field_and_changes_nothing(chair, when):
    client, m, item, room_id = chair
    before = (m.timeline.count(), item.title)
    calls = [
        (
            "post",
            "/api/meetings",
            {
                "title": NUL,
                "host_unit": "46",
                "scheduled_start": when[0].isoformat(),
                "scheduled_end": when[1].isoformat(),
            },
        ),
        (
            "post",
            "/api/meetings",
            {
                "title": "Họp",
                "host_unit": "4\x006",
                "scheduled_start": when[0].isoformat(),
                "scheduled_end": when[1].isoformat(),
            },
        ),
        ("post", f"/api/meetings/{m.id}/invite", {"mode": "units", "unit_codes": ["46", NUL]}),
        ("post", f"/api/meetings/{m.id}/attendance/{room_id}", {"status": "absent", "reason": NUL}),
        ("post", f"/api/agenda/meetings/{m.id}/items", {"title": NUL}),
        ("patch", f"/api/agenda/items/{item.id}", {"title": NUL}),
        ("patch", f"/api/agenda/items/{item.id}", {"title": "ok", "presenter_unit": NUL}),
    ]
    for method, url, body in calls:
        r = send(client, method, url, body)
        assert r.status_code in (400, 422) and r.json()["code"] == "invalid_field", (url, r.status_code, r.content)
    for url in ("/api/units/4%006/subtree", f"/api/agenda/search?q={NUL}", f"/api/meetings?state={NUL}"):
        r = client.get(url)
        assert r.status_code == 400 and r.json()["code"] == "invalid_field", (url, r.status_code, r.content)
    item.refresh_from_db()
    assert (m.timeline.count(), item.title) == before


def test_nul_in_socket_text_is_invalid_field():
    for frame in (
        {"type": "roll_call_mark", "id": 1, "room_id": 2, "status": "absent", "reason": NUL},
        {"type": "sdp_offer", "id": 2, "sdp": "v=0\x00" + "x" * 20},
        {"type": "join", "id": 3, "resume": {"session": NUL, "last_seq": 0}},
    ):
        with pytest.raises(ProtocolError) as e:
            parse_client(json.dumps(frame))
        assert e.value.code == "invalid_field" and e.value.id == frame["id"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,url,code",
    [
        ("get", f"/api/meetings/{HUGE}", "meeting_not_found"),
        ("get", "/api/meetings/0", "meeting_not_found"),
        ("get", f"/api/meetings/{HUGE}/attendance", "meeting_not_found"),
        ("post", f"/api/meetings/{{m}}/attendance/{HUGE}", "room_not_invited"),
        ("get", f"/api/agenda/meetings/{HUGE}/items", "meeting_not_found"),
        ("patch", f"/api/agenda/items/{HUGE}", "item_not_found"),
        ("delete", f"/api/agenda/items/{'9' * 5000}", "item_not_found"),
        ("get", f"/api/agenda/documents/{HUGE}", "document_not_found"),
        ("get", f"/api/agenda/versions/{HUGE}/file", "version_not_found"),
        ("get", f"/api/agenda/versions/{HUGE}/pages/1", "version_not_found"),
        ("get", f"/api/agenda/versions/{HUGE}/signatures", "version_not_found"),
    ],
)
def test_ids_past_64_bits_are_not_found(chair, method, url, code):
    client, m, _, _ = chair
    body = {"title": "x"} if method == "patch" else {"status": "present_in_person"} if method == "post" else None
    r = send(client, method, url.replace("{m}", str(m.id)), body)
    assert r.status_code == 404 and r.json()["code"] == code, r.content


@pytest.mark.django_db
def test_ids_past_64_bits_in_bodies_are_refused(chair):
    client, m, item, _ = chair
    r = send(client, "put", f"/api/agenda/meetings/{m.id}/items/order", {"item_ids": [int(HUGE)]})
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    r = send(client, "put", f"/api/agenda/meetings/{m.id}/items/order", {"item_ids": [item.id]})
    assert r.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    [
        "/static/..%2f..%2fmanage.py",
        "/static/../../manage.py",
        "/static/a%00b",
        "/web/..%2f..%2fmanage.py",
        "/web/../confserver/settings.py",
    ],
)
async def test_paths_out_of_the_static_roots_are_404(path):
    from urllib.parse import unquote

    r = await asgi_get(unquote(path))
    assert r["status"] == 404, (path, r["status"])
    assert b"SECRET_KEY" not in r["body"] and b"django" not in r["body"].lower()


@pytest.mark.django_db(transaction=True)
async def test_api_docs_load_no_third_party_script():
    page = await asgi_get("/api/docs")
    assert page["status"] == 200
    html = page["body"].decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith(".js") for a in assets), html
    for a in assets:
        assert a.startswith("/static/"), a  # no CDN, no other host
        r = await asgi_get(a)
        assert r["status"] == 200, a


@pytest.mark.django_db
def test_nul_in_an_upload_form_field_is_invalid_field_on_postgresql(chair, settings, tmp_path):
    import random

    from django.db import connection

    from confserver.agenda.testing import pdfgen

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores NUL; PostgreSQL refused it with a 500")
    settings.MEDIA_ROOT = tmp_path
    client, m, _, _ = chair
    pdf = pdfgen.make_pdf(pdfgen.vietnamese_pages(random.Random(1), 1))
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = client.post(
        f"/api/agenda/meetings/{m.id}/documents",
        {"file": SimpleUploadedFile("bao-cao.pdf", pdf, "application/pdf"), "title": NUL},
    )
    assert r.status_code in (400, 422) and r.json()["code"] == "invalid_field", r.content
    assert not m.documents.exists()

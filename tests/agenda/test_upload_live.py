"""A legitimate 50 MB upload against a live daphne worker (issue 9, #3): the body streams through to the
agenda's spool, so the worker's memory barely grows (it grew ~630 MB when Twisted parsed the multipart
body in memory and the app copied it around)."""

import http.client
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from confserver.agenda.testing import pdfgen
from confserver.testing import live

ROOT = Path(__file__).resolve().parents[2]
CSRF = "a" * 32

SEED = """
from datetime import timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from confserver.accounts.models import Role, User
from confserver.rooms import meetings
from confserver.rooms.importer import ensure_default_rooms, import_file
from confserver.rooms.models import AdminUnit
from django.conf import settings
import json
import_file(settings.BASE_DIR / "confserver" / "rooms" / "data" / "hue-2025.jsonl")
ensure_default_rooms()
host = User.objects.create(username="live-host", role=Role.HOST, unit=AdminUnit.objects.get(code="46"))
start = timezone.now() + timedelta(hours=1)
m = meetings.create_meeting(host, host_unit_code="46", title="Họp thử tải lên", scheduled_start=start,
                            scheduled_end=start + timedelta(hours=2),
                            selection=meetings.Selection(mode="units", unit_codes=()))
s = SessionStore()
s[SESSION_KEY] = str(host.pk)
s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
s[HASH_SESSION_KEY] = host.get_session_auth_hash()
s.create()
print(json.dumps({"meeting_id": m.id, "session": s.session_key}))
"""


@dataclass
class Worker:
    port: int
    pid: int
    meeting_id: int
    session: str
    media: Path


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upload-live")
    port = live.free_port()
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            PYTHONPATH=str(ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            MEDIA_ROOT=str(tmp / "media"),
            ALLOWED_HOSTS="127.0.0.1",
            LOG_LEVEL="ERROR",
            CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
            CONN_MAX_AGE="0",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.manage(env, "shell", "-c", SEED).strip().splitlines()[-1])
        with live.daphne(env, port, tmp / "daphne.log") as proc:
            yield Worker(port, proc.pid, seed["meeting_id"], seed["session"], tmp / "media")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def multipart(data: bytes, filename="tai-lieu.pdf") -> tuple[bytes, bytes, str]:
    """(head, tail, content type) of a one-file multipart body; the file's bytes go between."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={boundary}"


def post_upload(w: Worker, data: bytes, *, cookie: bool = True, timeout=120):
    head, tail, ctype = multipart(data)
    conn = http.client.HTTPConnection("127.0.0.1", w.port, timeout=timeout)
    headers = {
        "Content-Type": ctype,
        "Content-Length": str(len(head) + len(data) + len(tail)),
        "Origin": f"http://127.0.0.1:{w.port}",
        "Referer": f"http://127.0.0.1:{w.port}/",
    }
    if cookie:
        headers.update({"Cookie": f"sessionid={w.session}; csrftoken={CSRF}", "X-CSRFToken": CSRF})
    conn.putrequest("POST", f"/api/agenda/meetings/{w.meeting_id}/documents")
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        conn.send(head)
        view = memoryview(data)
        for i in range(0, len(data), 1 << 20):
            conn.send(view[i : i + (1 << 20)])
        conn.send(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the whole body was sent
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if body else None


def test_a_50_mb_upload_is_streamed_to_disk(worker):
    small = pdfgen.scanned_pdf(pages=1, side=300, seed=5)
    status, _ = post_upload(worker, small)  # warm up: imports, connections, first PDFium use
    assert status == 201
    time.sleep(0.5)
    base = rss_mb(worker.pid)
    data = pdfgen.scanned_pdf(pages=10, side=2236, seed=6)
    assert 45e6 < len(data) < 50 * 1024 * 1024
    status, body = post_upload(worker, data)
    assert status == 201, body
    assert body["current"]["page_count"] == 10 and body["current"]["size"] == len(data)
    growth = rss_mb(worker.pid, "VmHWM") - base
    print(f"50 MB upload: worker RSS {base:.0f} MB before, peak growth {growth:.0f} MB")
    assert growth < 150, f"the worker grew {growth:.0f} MB for a {len(data) / 1e6:.0f} MB upload"
    assert list((worker.media / "agenda" / "tmp").glob("*")) == []  # nothing left in the spool

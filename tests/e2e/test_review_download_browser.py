"""The review page's one-file recording in headless Chromium (issue 10, item 9): before it is built the player
plays the segments; the download button builds it (a real `nice manage.py finalize_recording` started by the
server), shows its progress in Vietnamese, then downloads one WebM with one audio track that decodes end to end;
the player switches to that file and a chapter after a gap in the recording seeks to its absolute time."""
import json
import os
import re
import subprocess
from pathlib import Path

import av
import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parents[2]
REVIEWER, PASSWORD = "xemlai-hue", "demo12345"

# In the server's environment: an ended meeting of the demo province recorded twice (0-4 s and 10-14 s, the chair
# stopped and restarted), with the floor given to a room at 12 s.
FIXTURE = r"""
import json
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from confserver.rooms import timeline
from confserver.rooms.models import Meeting, MeetingState, Room
from tests.recording.test_export import record

unit = Meeting.objects.order_by("id").first().host_unit
t0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)
m = Meeting.objects.create(host_unit=unit, title="Họp xem lại tệp gộp", state=MeetingState.ENDED,
                           scheduled_start=t0, scheduled_end=t0 + timedelta(hours=1), started_at=t0,
                           ended_at=t0 + timedelta(seconds=15))
record(m, t0, 0, 4, floor=(1000, 2))
record(m, t0 + timedelta(seconds=10), 10_000, 4)
room = Room.objects.filter(unit__parent=unit).order_by("id").first()
timeline.record(m, "state", at=t0, state="live")
timeline.record(m, "floor_granted", room=room, at=t0 + timedelta(seconds=12))
timeline.record(m, "state", at=t0 + timedelta(seconds=15), state="ended")
print(json.dumps({"meeting": m.id, "room": room.name}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (bin/setup --tests)")
    tmp = tmp_path_factory.mktemp("review-server")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [port], DJANGO_SETTINGS_MODULE="tests.e2e.settings", PYTHONPATH=str(ROOT),
                              CONFSERVER_VAR_DIR=str(tmp / "var"), RECORDINGS_ROOT=str(tmp / "recordings"),
                              CSRF_TRUSTED_ORIGINS=origin, ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="WARNING")
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        made = json.loads(_run(env, FIXTURE))
        with live.daphne(env, port, ARTIFACTS / "e2e-review-server.log"):
            yield origin, made


def _run(env, code):
    out = subprocess.run([live.PYTHON, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout.strip().splitlines()[-1]


def test_download_builds_one_file_and_the_player_seeks_it_at_absolute_times(server, tmp_path):
    from playwright.sync_api import sync_playwright

    base, made = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=30000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
            page.set_default_timeout(30000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/web/review.html?meeting={made['meeting']}")
            page.wait_for_url(re.compile(r"/login/"))
            page.fill("#id_username", REVIEWER)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(re.compile(r"/web/review\.html"))
            page.wait_for_function("() => document.querySelector('#rv-export').textContent.length > 0")
            # not built yet: the segments play, and the page says so
            assert "/api/recordings/segments/" in page.eval_on_selector("#rv-video", "v => v.src")
            assert page.text_content("#rv-export") == "Chưa dựng tệp gộp (một tệp cho cả cuộc họp)."
            assert page.text_content("#rv-download") == "Tải về (một tệp)"

            with page.expect_download(timeout=180000) as dl:
                page.click("#rv-download")
                page.wait_for_function("() => /Đang (chờ dựng|dựng) tệp gộp/.test("
                                       "document.querySelector('#rv-export').textContent)")
            saved = tmp_path / "cuoc-hop.webm"
            dl.value.save_as(saved)
            assert dl.value.suggested_filename == f"cuoc-hop-{made['meeting']}.webm"
            page.wait_for_function("() => document.querySelector('#rv-video').src.endsWith('/video')")
            assert page.text_content("#rv-segment") == "Tệp gộp của cả cuộc họp"
            assert page.text_content("#rv-export").startswith("Tệp gộp đã sẵn sàng.")
            page.wait_for_function("() => document.querySelector('#rv-video').readyState >= 1")
            duration = page.eval_on_selector("#rv-video", "v => v.duration")
            assert abs(duration - 14) <= 1.0  # the whole meeting, the gap included

            page.click(f"#rv-chapters li:has-text('{made['room']}')")
            page.wait_for_function("() => Math.abs(document.querySelector('#rv-video').currentTime - 12) < 0.3")
            page.wait_for_function("() => document.querySelector('#rv-pos').textContent === '00:12'")
            page.screenshot(path=str(ARTIFACTS / "review-one-file.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()

    with av.open(str(saved)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        frames = sum(1 for _ in c.decode(*c.streams))  # decodes end to end, or raises
        assert frames > 0 and abs(c.duration / 1e6 - 14) <= 1.0

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

from .conftest import ARTIFACTS, CHROMIUM

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
# For the page's other panels: a roll call, rooms that left (lost their connection, cut by the chair), recording
# stopped and restarted by the chair (the gap).
from confserver.rooms.models import Participation
other, third = Room.objects.filter(unit__parent=unit).order_by("id")[1:3]
Participation.objects.create(meeting=m, room=room, status="joined", roll_call="present_online")
Participation.objects.create(meeting=m, room=other, roll_call="absent", absence_reason="Mất điện")
Participation.objects.create(meeting=m, room=third, status="joined", roll_call="present_in_person")
timeline.record(m, "join", room=other, at=t0 + timedelta(seconds=1))
timeline.record(m, "leave", room=other, at=t0 + timedelta(seconds=2), reason="connection_lost")
timeline.record(m, "join", room=third, at=t0 + timedelta(seconds=3))
timeline.record(m, "leave", room=third, at=t0 + timedelta(seconds=13), reason="dropped")
timeline.record(m, "recording_stopped", at=t0 + timedelta(seconds=4), by="chair")
timeline.record(m, "recording_started", at=t0 + timedelta(seconds=10), by="chair", test_run=False)
print(json.dumps({"meeting": m.id, "room": room.name, "other": other.name, "third": third.name}))
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
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            RECORDINGS_ROOT=str(tmp / "recordings"),
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
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


def reviewer_page(browser, url: str, width: int, height: int):
    """A page of the review app at `url`, signed in as the reviewer on the way; its JavaScript errors are listed."""
    page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    page.set_default_timeout(30000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("#id_username", REVIEWER)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/web/review\.html"))
    return page, errors


def test_download_builds_one_file_and_the_player_seeks_it_at_absolute_times(server, tmp_path, browser):
    base, made = server
    page, errors = reviewer_page(browser, f"{base}/web/review.html?meeting={made['meeting']}", 1280, 800)
    page.wait_for_function("() => document.querySelector('#rv-export').textContent.length > 0")
    # not built yet: the segments play, and the page says so
    assert "/api/recordings/segments/" in page.eval_on_selector("#rv-video", "v => v.src")
    assert page.text_content("#rv-export") == "Chưa dựng tệp gộp (một tệp cho cả cuộc họp)."
    assert page.text_content("#rv-download") == "Tải về (một tệp)"

    with page.expect_download(timeout=180000) as dl:
        page.click("#rv-download")
        page.wait_for_function(
            "() => /Đang (chờ dựng|dựng) tệp gộp/.test(document.querySelector('#rv-export').textContent)"
        )
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

    with av.open(str(saved)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        frames = sum(1 for _ in c.decode(*c.streams))  # decodes end to end, or raises
        assert frames > 0 and abs(c.duration / 1e6 - 14) <= 1.0


CONTRAST = """(sel) => {
  const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const fg = lum(getComputedStyle(document.querySelector(sel)).color);
  const bg = lum(getComputedStyle(document.body).backgroundColor);
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""

LAYOUT = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > innerWidth + 1) out.push(`sideways scroll: ${document.documentElement.scrollWidth}`);
  const controls = [...document.querySelectorAll('.topbar a.btn, .topbar button')].filter((e) => e.offsetParent);
  const boxes = controls.map((e) => [e.textContent.trim(), e.getBoundingClientRect()]);
  for (const [name, b] of boxes) {
    if (b.left < 0 || b.right > innerWidth + 1) out.push(`${name} off screen (${b.left}-${b.right})`);
    if (b.height < 36) out.push(`${name} is ${b.height} px high`);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, p] = boxes[i], [c, q] = boxes[j];
    if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1) out.push(`${a} overlaps ${c}`);
  }
  const title = document.querySelector('#rv-title').getBoundingClientRect();
  for (const [name, b] of boxes) {
    if (title.left < b.right - 1 && b.left < title.right - 1 && title.top < b.bottom - 1 && b.top < title.bottom - 1) out.push(`the title overlaps ${name}`);
  }
  return out;
}"""


def test_the_page_explains_itself_on_a_tablet(server, browser):
    """The list and a meeting at 768x1024 and 1024x768: the status texts readable on the dark theme, the
    roll call, who left and why, and the timeline in Vietnamese (no codes), nothing off screen or covered."""
    base, made = server
    page, errors = reviewer_page(browser, f"{base}/web/review.html", 768, 1024)
    for width, height in ((768, 1024), (1024, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base}/web/review.html")
        row = page.wait_for_selector(f"tr[data-id='{made['meeting']}'] .rv-ok")
        assert "toàn vẹn" in row.text_content()
        assert page.evaluate(CONTRAST, f"tr[data-id='{made['meeting']}'] .rv-ok") >= 4.5
        assert page.evaluate(LAYOUT) == [], width

        page.goto(f"{base}/web/review.html?meeting={made['meeting']}")
        page.wait_for_selector("#rv-timeline li:not(.muted)")  # not 'Đang tải diễn biến…' (load 10+)
        roll = page.text_content("#rv-roll")
        assert "Vắng mặt — Mất điện" in roll and "Có mặt (trực tuyến)" in roll and "Có mặt (trực tiếp)" in roll
        attendance = page.text_content("#rv-attendance")
        assert f"Rời: {made['other']} (mất kết nối)" in attendance
        assert f"Rời: {made['third']} (bị chủ trì ngắt khỏi cuộc họp)" in attendance
        timeline = page.text_content("#rv-timeline")
        for text in (
            "Cuộc họp: Đang họp",
            f"{made['room']} được phát biểu",
            "Dừng ghi hình (chủ trì)",
            "Bắt đầu ghi hình (chủ trì)",
            "Cuộc họp: Đã kết thúc",
        ):
            assert text in timeline, (text, timeline)
        body = page.text_content("main#rv-meeting")
        for code in ("connection_lost", "dropped", "recording_", "floor_granted", "undefined", "null"):
            assert code not in body, code
        assert page.evaluate(LAYOUT) == [], width
        page.screenshot(path=str(ARTIFACTS / f"review-page-{width}.png"), full_page=True)
    assert errors == []

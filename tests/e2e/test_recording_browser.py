"""The chair decides whether the meeting is recorded, in real Chromium against a real server and relay.

Proves: the console (on a tablet-sized screen) and a room page show no recording mark in the test run; the
meeting goes live and both show the red "● Đang ghi hình" mark (the in-process relay records the chair's
camera into segments on disk); the chair stops it after a confirmation and both drop the mark, the timeline
has the stop with the chair's name; "Ghi hình lại" brings it back; the recorder then meets a disk error (its
meeting's directory replaced by a file, so its next segment cannot open), the relay reports it
(recording_failed) and the console shows the failure in Vietnamese while the room drops the mark.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, open_console
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def rec_server(tmp_path_factory):
    """A real confserver whose recorder rolls segments every second (a keyframe asked for every second)."""
    tmp = tmp_path_factory.mktemp("recording-server")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    log = ARTIFACTS / "e2e-recording-server.log"
    recordings = tmp / "recordings"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            RECORDINGS_ROOT=str(recordings),
            RECORDING_DEFAULT_ON="1",
            RECORDING_SEGMENT_S="1",
            RECORDING_KEYFRAME_S="1",
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        with live.daphne(env, port, log):
            yield {"base": origin, "recordings": recordings}


# What a tablet must not get wrong: the header's controls, the recording mark and the recording alert on screen,
# none covering another, nor any other control of the page; no sideways scroll.
COVERED = """() => {
  const out = [];
  const shown = (e) => e.offsetParent !== null && e.getBoundingClientRect().width > 0;
  const name = (e) => (e.id ? `#${e.id}` : e.tagName.toLowerCase()) + ` “${e.textContent.trim().slice(0, 30)}”`;
  const mine = [...document.querySelectorAll('.topbar button, .topbar a, .topbar select, .topbar .badge, .rec-mark, '
    + '#rec-alert, #rec-alert button')].filter(shown);
  const all = [...document.querySelectorAll('button, a, select, input, .badge, .rec-mark, #rec-alert')].filter(shown);
  if (document.documentElement.scrollWidth > innerWidth + 1) out.push(`sideways scroll ${document.documentElement.scrollWidth}`);
  for (const e of mine) {
    const b = e.getBoundingClientRect();
    if (b.left < -1 || b.right > innerWidth + 1) out.push(`${name(e)} off screen`);
    for (const f of all) {
      if (f === e || e.contains(f) || f.contains(e)) continue;
      const c = f.getBoundingClientRect();
      if (b.left < c.right - 1 && c.left < b.right - 1 && b.top < c.bottom - 1 && c.top < b.bottom - 1) {
        out.push(`${name(e)} overlaps ${name(f)}`);
      }
    }
  }
  return [...new Set(out)];
}"""


def marked(page) -> bool:
    return page.is_visible("#rec-mark")


def recording_rows(page, base, meeting_id):
    rows = page.request.get(f"{base}/api/meetings/{meeting_id}/timeline").json()
    return [r for r in rows if r["kind"].startswith("recording_")]


def test_the_chair_stops_restarts_and_sees_a_failure(rec_server, clips, launch, shots):
    base = rec_server["base"]
    host = shots["rec-host"] = new_page(launch(clips["chair"]), 1024, 768)  # a tablet in landscape
    meeting_id = open_console(host, base)
    host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")
    assert not marked(host)
    assert host.inner_text("#btn-rec") == "Bắt đầu ghi hình"  # the chair may record the test run too

    meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
    rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
    links = {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}
    room_id = next(r["room_id"] for r in rooms if r["unit_code"] != meeting["host_unit"])
    room = shots["rec-room"] = new_page(launch(clips["a"]))
    room.goto(base + links[room_id])
    room.click("#join-btn:not([disabled])")
    room.wait_for_selector("#conn-badge.ok")
    assert not marked(room)

    # The meeting goes live: recording starts by itself, both show the mark.
    host.click("#btn-live")
    host.click("dialog .btn-primary")
    host.wait_for_selector("#state-badge.state-live")
    for page in (host, room):
        page.wait_for_selector("#rec-mark", state="visible")
        assert " ".join(page.text_content("#rec-mark").split()) == "● Đang ghi hình"
        colour = page.eval_on_selector("#rec-mark", "e => getComputedStyle(e).backgroundColor")
        r, g, b = map(int, re.findall(r"\d+", colour)[:3])
        assert r > 150 and g < 60 and b < 60, colour  # red
    box = host.locator("#btn-rec").bounding_box()
    assert box["x"] + box["width"] <= 1024 and box["height"] >= 36  # on screen, big enough for a finger
    assert host.inner_text("#btn-rec") == "Dừng ghi hình"
    folder = rec_server["recordings"] / str(meeting_id)
    poll(lambda: any(folder.glob("*.webm")), what="a recorded segment on disk")
    host.screenshot(path=str(ARTIFACTS / "recording-console.png"))
    room.screenshot(path=str(ARTIFACTS / "recording-room.png"))

    # The chair stops it, after a confirmation; both drop the mark; the timeline has the stop.
    host.click("#btn-rec")
    host.wait_for_selector("dialog")
    assert "Dừng ghi hình?" in host.inner_text("dialog h2")
    host.click("dialog .btn-danger")
    for page in (host, room):
        page.wait_for_selector("#rec-mark", state="hidden")
    poll(lambda: host.inner_text("#btn-rec") == "Ghi hình lại", what="the restart button")
    rows = recording_rows(host, base, meeting_id)
    assert [(r["kind"], r["data"]["by"]) for r in rows] == [
        ("recording_started", "auto"),
        ("recording_stopped", "chair"),
    ]
    assert rows[1]["actor"] == "chutri-hue"
    assert "Dừng ghi hình (chủ trì)" in host.inner_text("#log")

    # The chair records again.
    host.click("#btn-rec")
    for page in (host, room):
        page.wait_for_selector("#rec-mark", state="visible")
    stopped_segments = set(folder.glob("*.webm"))
    poll(lambda: set(folder.glob("*.webm")) - stopped_segments, what="a segment of the new recording")

    # The disk fails under the recorder: its next segment cannot open. The relay reports it.
    shutil.move(str(folder), str(folder) + ".moved")
    folder.write_text("not a directory")
    host.wait_for_selector("#rec-alert", state="visible", timeout=30000)
    assert "ổ đĩa" in host.inner_text("#rec-alert")
    for page in (host, room):
        page.wait_for_selector("#rec-mark", state="hidden")
    assert host.inner_text("#btn-rec") == "Ghi hình lại"
    rows = recording_rows(host, base, meeting_id)
    assert rows[-1]["kind"] == "recording_failed" and rows[-1]["data"]["code"] == "disk_error"
    time.sleep(0.5)
    host.screenshot(path=str(ARTIFACTS / "recording-failure-console.png"))
    room.screenshot(path=str(ARTIFACTS / "recording-failure-room.png"))
    assert host.evaluate(COVERED) == []
    # A tablet held upright: the alert and the header still cover nothing.
    for page in (host, room):
        page.set_viewport_size({"width": 768, "height": 1024})
    host.wait_for_function("() => document.querySelector('#rec-alert').getBoundingClientRect().width <= 768")
    assert host.evaluate(COVERED) == [], "console at 768x1024"
    host.screenshot(path=str(ARTIFACTS / "recording-failure-console-768.png"))

    # The alert can be put away; the state stays "stopped".
    host.click("#rec-alert-close")
    host.wait_for_selector("#rec-alert", state="hidden")
    assert not marked(host)

    # The disk is back; "Ghi hình lại" records again; the room's mark (at 768x1024) covers nothing.
    Path(folder).unlink()
    shutil.move(str(folder) + ".moved", str(folder))
    host.click("#btn-rec")
    for page in (host, room):
        page.wait_for_selector("#rec-mark", state="visible")
    assert room.evaluate(COVERED) == [], "room at 768x1024"
    assert host.evaluate(COVERED) == [], "console at 768x1024, recording"
    room.screenshot(path=str(ARTIFACTS / "recording-room-768.png"))

    for name, page in (("host", host), ("room", room)):
        assert not page.js_errors, f"{name}: {page.js_errors}"
    shots.clear()

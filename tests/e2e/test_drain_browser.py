"""A drain seen from a real browser (issue 11; MEDIA_CASCADE on): the chair's console and a room page in Chromium,
the meeting's media on one of two `run_relay`, a `run_relay_monitor`, Redis. The relay is drained
(`run_relay_monitor --drain`): the page gets `relay_move` (reason draining), builds a new peer connection and keeps
the old one playing until the new one has a picture (web/js/media.js `MediaLink._handover`), then closes it. Measured
in the page: the longest wait between two frames the program <video> presented (requestVideoFrameCallback) around
the move, next to the same before the drain."""

import os
import time

import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, open_console
from .test_failover_browser import cascade_server, plan_root  # noqa: F401 (a fixture)
from .test_meeting_browser import new_page, poll, program_source

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the cascade works on Redis"),
]

RECORD = """() => { const v = document.getElementById("program"); window.__presented = [];
  const tick = (now) => { window.__presented.push(now); v.requestVideoFrameCallback(tick); };
  v.requestVideoFrameCallback(tick); return performance.now(); }"""


def longest_gap_ms(times: list[float], lo: float, hi: float) -> float:
    inside = [t for t in times if lo <= t <= hi]
    return max((b - a for a, b in zip(inside, inside[1:])), default=float("inf"))


def test_a_room_page_drained_keeps_its_picture_until_the_new_connection_has_one(cascade_server, clips, launch):
    server, env, procs = cascade_server
    base = server.base_url
    host = new_page(launch(clips["chair"]), 1280, 800)
    meeting_id = open_console(host, base)
    host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")
    meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
    rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
    links = {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}
    room_a = [r["room_id"] for r in rooms if r["unit_code"] != meeting["host_unit"]][0]
    page = new_page(launch(clips["a"]))
    try:
        page.goto(base + links[room_a])
        page.click("#join-btn:not([disabled])")
        page.wait_for_selector("#conn-badge.ok")
        poll(lambda: program_source(page, clips) == "chair", what="the room showing the chair")
        root, epoch, relays = poll(lambda: plan_root(env, meeting_id), what="the meeting's plan")
        generation = page.evaluate("window.confserver.media.generation")
        started = page.evaluate(RECORD)
        time.sleep(3)  # frames before the drain, to compare with
        drain_at = page.evaluate("performance.now()")
        live.manage(env, "run_relay_monitor", "--drain", root)
        poll(
            lambda: page.evaluate("window.confserver.media.generation") > generation,
            timeout=20,
            what="the page building a new peer connection",
        )
        poll(
            lambda: page.evaluate("window.confserver.media.leaving === null"),
            timeout=20,
            what="the page leaving its old connection",
        )
        time.sleep(2)
        poll(lambda: program_source(page, clips) == "chair", timeout=10, what="the chair on the new connection")
        times = page.evaluate("window.__presented")
        end = page.evaluate("performance.now()")
        before = longest_gap_ms(times, started + 500, drain_at)
        around = longest_gap_ms(times, drain_at, end)
        new_root, new_epoch, new_relays = plan_root(env, meeting_id)
        print(
            f"drain in Chromium: longest wait between two presented frames {around:.0f} ms around the move, "
            f"{before:.0f} ms in the 2.5 s before (load {os.getloadavg()[0]:.1f})"
        )
        assert new_epoch == epoch + 1 and root not in new_relays, (root, new_relays)
        assert page.evaluate("window.confserver.client.joins.length") == 1  # the socket stayed
        assert page.evaluate("window.confserver.media.state") == "connected"
        assert times[-1] > end - 500, (times[-1], end)  # frames kept being presented after the switch
        assert around <= max(500, before + 250), (around, before)
        assert not page.js_errors and not host.js_errors, (page.js_errors, host.js_errors)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failed-drain-room.png"))
        (ARTIFACTS / "failed-drain-room.log").write_text("\n".join(page.console_lines + page.js_errors))
        raise

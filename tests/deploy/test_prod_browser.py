"""The production shape, from real browsers (issue 13, item 1): bin/prod brought up by the test (nginx with its
self-signed certificate in front of 2 daphne workers and 2 relay processes, all supervised), the chair's console
and a room page in Chromium over https. A daphne worker holding the room's socket is SIGKILLed: the page's socket
reconnects through nginx to a live worker and the program shows again. The meeting's relay process is SIGKILLed:
its loaded standby serves the channel at once and has the pages told `relay_move` (signaling/relayrestart.py), the
supervisor starts the killed one again, and the room shows the chair again within seconds. Then the meeting ends
and its recording is fetched through nginx (X-Accel-Redirect)."""

import json
import os
import signal
import time
import zlib

import pytest

from confserver.testing import prodshape

from ..e2e.conftest import ARTIFACTS, open_console
from ..e2e.test_meeting_browser import WAIT_MS, frames, poll, program_source

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        or not os.environ.get("REDIS_URL"),
        reason="bin/prod runs on PostgreSQL and Redis",
    ),
]


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    ARTIFACTS.mkdir(exist_ok=True)
    with prodshape.production(
        tmp_path_factory.mktemp("prod"),
        settings_module="tests.e2e.settings",
        log=ARTIFACTS / "prod-browser.log",
        MEDIA_QUALITY_PERIOD_S="1",
    ) as p:
        yield p


def new_page(browser, width=1280, height=720):
    page = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(WAIT_MS)
    errors, console = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.js_errors, page.console_lines = errors, console
    return page


def chair_and_room(prod, clips, launch):
    """The chair's console in the test run (publishing) and one commune room's page showing the chair."""
    base = prod.base_url
    host = new_page(launch(clips["chair"]))
    try:
        meeting_id = open_console(host, base)
    except Exception:
        keep_pictures("prod-console", host)
        raise
    if not host.locator("#state-badge.state-test_run").count():
        host.click("#btn-test-run")
        host.wait_for_selector("#state-badge.state-test_run")
    meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
    rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
    links = {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}
    room_id = [r["room_id"] for r in rooms if r["unit_code"] != meeting["host_unit"]][0]
    page = new_page(launch(clips["a"]))
    page.goto(base + links[room_id])
    page.click("#join-btn:not([disabled])")
    page.wait_for_selector("#conn-badge.ok")
    poll(
        lambda: frames(page) > 10 and program_source(page, clips) == "chair",
        timeout=60,
        what="the room showing the chair over https",
    )
    return host, page, meeting_id, room_id


def worker_of(prod, meeting_id, room_id) -> int | None:
    """The pid of the daphne worker holding the room's place (presence.py: 'worker' is host:pid:token)."""
    import redis

    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        raw = r.hget(f"{prod.env['LIVE_PREFIX']}:live:{meeting_id}:presence", str(room_id))
    finally:
        r.close()
    return int(json.loads(raw)["worker"].split(":")[-2]) if raw else None


def keep_pictures(name, *pages):
    for i, page in enumerate(pages):
        try:
            page.screenshot(path=str(ARTIFACTS / f"failed-{name}-{i}.png"))
            (ARTIFACTS / f"failed-{name}-{i}.log").write_text("\n".join(page.console_lines + page.js_errors))
        except Exception:
            pass


def test_room_over_https_survives_a_killed_worker(prod, clips, launch):
    host, page, meeting_id, room_id = chair_and_room(prod, clips, launch)
    try:
        assert page.evaluate("location.protocol") == "https:"
        workers = {pid: name for name, pid in prod.pids().items() if name.startswith("daphne-")}
        holder = poll(lambda: worker_of(prod, meeting_id, room_id), what="the room's place in the live state")
        assert holder in workers, (holder, workers)
        joins = page.evaluate("window.confserver.client.joins.length")

        os.kill(holder, signal.SIGKILL)
        killed = time.monotonic()
        poll(
            lambda: page.evaluate("window.confserver.client.joins.length") > joins,
            timeout=30,
            what="the room's socket joining again through nginx",
        )
        rejoined = time.monotonic() - killed
        poll(
            lambda: frames(page) > 10 and program_source(page, clips) == "chair",
            timeout=60,
            what="the program showing the chair again",
        )
        shown = time.monotonic() - killed
        now = poll(lambda: worker_of(prod, meeting_id, room_id), what="the room's place again")
        assert now != holder
        print(
            f"worker {workers[holder]} SIGKILLed: the room joined again after {rejoined:.2f} s on "
            f"{workers.get(now, now)}, program shown {shown:.2f} s after (load {os.getloadavg()[0]:.1f})"
        )
        first = frames(page)
        poll(lambda: frames(page) > first, timeout=10, what="frames still decoded")
        assert page.evaluate("window.confserver.client.status") != "closed"
        assert not page.js_errors and not host.js_errors, (page.js_errors, host.js_errors)
    except Exception:
        keep_pictures("prod-worker", page, host)
        raise


# The chair on the room page again after its relay was SIGKILLed: ~2-5 s (takeover, relay_move, new offer, ICE, DTLS,
# keyframe, 10 frames); a bound with room for a loaded two-core machine.
RELAY_SHOWN_S = 12.0


# Chromium's navigation failed once with net::ERR_NETWORK_CHANGED while another process made veth pairs; rerun once.
@pytest.mark.flaky(reruns=1)
def test_killed_relay_comes_back_and_rooms_reoffer(prod, clips, launch):
    host, page, meeting_id, _ = chair_and_room(prod, clips, launch)
    try:
        channels = prod.relay_channels()  # bin/prod's relay-0, relay-1
        name = channels[zlib.crc32(str(meeting_id).encode()) % len(channels)]  # media/remote.py relay_channel
        pid = poll(lambda: prod.serving_relay(name), what=f"the process serving {name}")
        child = next(n for n, p in prod.pids().items() if p == pid)
        generation = page.evaluate("window.confserver.media.generation")

        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        new_pid, took = prod.wait_relay_taken_over(name, pid, since=killed)
        assert took < 5, f"{name} taken over only after {took:.2f} s"
        _, restarted = prod.wait_restarted(child, pid, since=killed)  # the killed one is back, waiting as the standby
        assert restarted < 5, f"{child} restarted only after {restarted:.2f} s"
        # The standby, once it serves, has the sockets told `relay_move` (signaling/relayrestart.py): the page makes
        # a new peer connection at once instead of waiting for the old one to fail (20-37 s before that message).
        poll(
            lambda: page.evaluate("window.confserver.media.generation") > generation,
            timeout=90,
            every=0.1,
            what="the room page making a new offer by itself",
        )
        reoffered = time.monotonic() - killed
        poll(
            lambda: frames(page) > 10 and program_source(page, clips) == "chair",
            timeout=90,
            every=0.2,
            what="the chair's picture again through the restarted relay",
        )
        shown = time.monotonic() - killed
        print(
            f"{name} SIGKILLed: taken over by pid {new_pid} after {took:.2f} s, {child} restarted after "
            f"{restarted:.2f} s; the room page re-offered {reoffered:.2f} s and shows the chair again "
            f"{shown:.2f} s after the kill (load {os.getloadavg()[0]:.1f})"
        )
        assert shown <= RELAY_SHOWN_S, f"the chair shown again only {shown:.1f} s after the relay kill"
        assert page.evaluate("window.confserver.media.state") == "connected"
        assert not page.js_errors and not host.js_errors, (page.js_errors, host.js_errors)
        files_through_nginx(prod, host, meeting_id)
    except Exception:
        keep_pictures("prod-relay", page, host)
        raise


POST_STATE = """([url, state]) => fetch(url, {method: "POST", body: JSON.stringify({state}), headers: {
    "Content-Type": "application/json", "X-CSRFToken": (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || ""}})
    .then(r => r.status)"""


def files_through_nginx(prod, host, meeting_id):
    """The meeting (recorded since its test run) ends; its segments and its one-file download are sent by nginx
    after the application's permission check (X-Accel-Redirect), byte ranges included; static files come from
    nginx's own disk; /metrics is not reachable through the proxy."""
    base = prod.base_url
    for state in ("live", "ended"):
        status = host.evaluate(POST_STATE, [f"/api/meetings/{meeting_id}/state", state])
        assert status == 200, (state, status)
    segments = host.request.get(f"{base}/api/recordings/meetings/{meeting_id}/segments")
    assert segments.ok, segments.text()
    first = segments.json()[0]
    part = host.request.get(f"{base}/api/recordings/segments/{first['id']}/file", headers={"Range": "bytes=0-99"})
    assert part.status == 206 and part.headers["server"] == "nginx", (part.status, part.headers)
    on_disk = prod.var.parent / "app-var" / "recordings" / _segment_path(prod, first["id"])
    assert part.body() == on_disk.read_bytes()[:100]
    # The one file is built by the relay's finalize_recording process: waited for, so none outlives the test.
    export = poll(
        lambda: (
            (e := host.request.get(f"{base}/api/recordings/meetings/{meeting_id}/export").json())["state"]
            in ("ready", "failed")
            and e
        ),
        timeout=180,
        every=1,
        what="the meeting's one file",
    )
    assert export["ready"], export
    whole = host.request.get(f"{base}/api/recordings/meetings/{meeting_id}/download", headers={"Range": "bytes=0-3"})
    assert whole.status == 206 and whole.headers["server"] == "nginx" and whole.body() == b"\x1a\x45\xdf\xa3"
    static = host.request.get(f"{base}/static/ninja/swagger-ui-bundle.js")
    assert static.ok and static.headers["server"] == "nginx" and "content-security-policy" in static.headers
    assert host.request.get(f"{base}/metrics").status == 404  # scraped on the workers' ports, not here


def _segment_path(prod, segment_id) -> str:
    import psycopg

    url = prod.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT path FROM recording_segment WHERE id = %s", (segment_id,)).fetchone()[0]

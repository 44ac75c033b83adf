"""Failover seen from real browsers (issue 11, item 4; MEDIA_CASCADE on): the chair's console and a room page
in Chromium, the meeting's media on one of two `run_relay` processes, a `run_relay_monitor`, Redis. The relay is
killed with SIGKILL: the page gets `relay_move`, builds a new peer connection on the same socket (no new join),
its offer lands on the other relay, and the program shows the chair's camera again."""

import os
import time

import pytest

from confserver.testing import live

from ..media.relayproc import relay, start, stop
from .conftest import ARTIFACTS, Server, open_console
from .test_meeting_browser import frames, new_page, poll, program_source

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the cascade works on Redis"),
]

CHANNELS = ["relay-fob-0", "relay-fob-1"]


@pytest.fixture
def cascade_server(tmp_path):
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp_path / "var"),
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            MEDIA_RELAY_CHANNELS=",".join(CHANNELS),
            MEDIA_CASCADE="1",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        procs = {c: relay(env, tmp_path, c) for c in CHANNELS}
        monitor = start(env, tmp_path, "run_relay_monitor")
        try:
            with live.daphne(env, port, ARTIFACTS / "e2e-failover-server.log"):
                yield Server(base_url=origin, log=ARTIFACTS / "e2e-failover-server.log"), env, procs
        finally:
            stop(monitor)
            for proc in procs.values():
                stop(proc)


def plan_root(env, meeting_id):
    """(root, epoch, relays holding rooms) of the meeting's stored plan (plans.py's hash, read synchronously:
    Playwright's sync API runs an event loop in this thread)."""
    import json

    import redis

    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        epoch, tree, rooms = r.hmget(f"{env['LIVE_PREFIX']}:cascade:plan:{meeting_id}", "epoch", "tree", "rooms")
    finally:
        r.close()
    if not tree:
        return None
    names = json.loads(rooms)["relays"]
    return json.loads(tree)["root"], int(epoch), set(names)


def test_a_room_page_reconnects_its_media_when_its_relay_dies(cascade_server, clips, launch):
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
        assert epoch == 1 and relays == {root}
        generation = page.evaluate("window.confserver.media.generation")

        procs[root].kill()
        killed = time.monotonic()
        poll(
            lambda: page.evaluate("window.confserver.media.generation") > generation,
            timeout=10,
            what="the page building a new peer connection",
        )
        poll(
            lambda: frames(page) > 10 and program_source(page, clips) == "chair",
            timeout=20,
            every=0.1,
            what="the program again on the new relay",
        )
        took = time.monotonic() - killed
        print(f"room page decodes the chair again {took:.2f} s after SIGKILL (load {os.getloadavg()[0]:.1f})")
        new_root, new_epoch, new_relays = plan_root(env, meeting_id)
        assert new_epoch == 2 and new_root != root and new_relays == {new_root}
        assert page.evaluate("window.confserver.client.joins.length") == 1  # the socket stayed
        assert page.evaluate("window.confserver.media.state") == "connected"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "room-after-failover.png"))
        assert not page.js_errors and not host.js_errors, (page.js_errors, host.js_errors)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failed-failover-room.png"))
        (ARTIFACTS / "failed-failover-room.log").write_text("\n".join(page.console_lines + page.js_errors))
        raise

"""The operator's relay page (issue 11, item 7) in real Chromium: two relays registered in Redis with the
registry's own functions are listed with their load; the meeting's tree comes from a plan stored with Plans;
a relay marked dead shows "Mất kết nối" within ~2 s, and the rooms a new plan moves are highlighted."""

import asyncio
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from confserver.media import registry
from confserver.media.placement import RoomSpec, plan
from confserver.media.plans import Plans
from confserver.testing import live

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the relay registry lives in Redis (REDIS_URL)")
PREFIX = f"test-relays-{uuid.uuid4().hex[:10]}"
CASCADE = f"{PREFIX}:cascade"  # registry.prefix() in the server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A daphne of our own: its LIVE_PREFIX is known, so the test writes the registry it reads."""
    tmp = tmp_path_factory.mktemp("relays-server")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
            LIVE_PREFIX=PREFIX,
            RELAY_DEAD_AFTER_S="60",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        with live.daphne(env, port, ARTIFACTS / "e2e-relays-server.log"):
            yield origin
    in_thread(_redis(_clean))


def in_thread(coro):
    """Run `coro` on its own loop in another thread (Playwright's sync API holds this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=30)


async def _redis(fn, *args):
    r = registry.connect(os.environ["REDIS_URL"])
    try:
        return await fn(r, *args)
    finally:
        await r.aclose()


async def _clean(r):
    keys = [k async for k in r.scan_iter(f"{PREFIX}:*")]
    if keys:
        await r.delete(*keys)


async def _register(r):
    reg = registry.Registry(r, CASCADE)
    for rid, capacity, peers in (("relay-a", 100, 60), ("relay-b", 100, 50)):
        assert await reg.register(
            rid, "inc", channel=f"relay.{rid}", address=f"10.1.0.{len(rid)}:7000", capacity=capacity, dead_after_s=60
        )
        assert await reg.beat(rid, "inc", peers, 1)


async def _plan(r, meeting_id, specs, previous=None, exclude=()):
    ps = Plans(r, CASCADE)
    infos = [rec.info() for rec in await ps.registry.live(60)]
    new = plan(meeting_id, specs, infos, previous, exclude=exclude)
    await ps.save(new, previous.epoch if previous else 0)
    return new


async def _mark_dead(r, rid):
    return await registry.Registry(r, CASCADE).mark_dead(rid, "inc")


def test_relays_page_lists_loads_tree_and_death(server, launch, clips):
    in_thread(_redis(_register))
    browser = launch(clips["chair"])
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    page.set_default_timeout(30000)
    logs = []
    page.on("console", lambda m: logs.append(m.text))
    page.on("pageerror", lambda e: logs.append(str(e)))
    page.goto(f"{server}/web/relays.html", timeout=60000)
    page.wait_for_url(re.compile(r"/login/"))
    page.fill("#id_username", HOST_USER)
    page.fill("#id_password", HOST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/web/relays\.html"))

    a, b = page.locator('.rl-card[data-relay="relay-a"]'), page.locator('.rl-card[data-relay="relay-b"]')
    try:
        a.wait_for()
        b.wait_for()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "relays-page-failed.png"), full_page=True)
        raise AssertionError(f"{page.url}\n{page.inner_text('body')}\n{logs}") from None
    assert "60 / 100 phòng" in a.inner_text() and "60%" in a.inner_text()
    assert "50 / 100 phòng" in b.inner_text() and "50%" in b.inner_text()
    assert "Đang chạy" in a.inner_text() and "10.1.0.7:7000" in a.inner_text()

    # The demo meeting's rooms on the two relays (a stored plan, epoch 1), chosen on the page.
    meeting_id = int(page.locator("#rl-meeting option").nth(1).get_attribute("value"))
    rows = page.evaluate(f"fetch('/api/meetings/{meeting_id}/attendance').then(r => r.json())")["rooms"]
    host_level = min(row["level"] for row in rows)
    specs = [RoomSpec(row["room_id"], (row["unit_code"],) if row["level"] > host_level else ()) for row in rows]
    first = in_thread(_redis(_plan, meeting_id, specs))
    assert set(first.rooms.values()) == {"relay-a", "relay-b"}, first.rooms  # both relays carry rooms
    page.select_option("#rl-meeting", str(meeting_id))
    page.locator("#rl-tree-note", has_text="Lượt phương án 1").wait_for()  # the page's CSP forbids eval
    assert f"{len(rows)} phòng trên 2 máy chủ" in page.inner_text("#rl-tree-note")
    root = page.locator(f'.rl-node[data-relay="{first.root}"]')
    root.locator("summary").click()
    name = next(row["room_name"] for row in rows if first.rooms[row["room_id"]] == first.root)
    assert name in root.inner_text()
    page.screenshot(path=str(ARTIFACTS / "relays-page.png"), full_page=True)

    # relay-b dies: its card says so within ~2 s; the monitor's new plan (epoch 2) moves its rooms to relay-a.
    assert in_thread(_redis(_mark_dead, "relay-b"))
    t0 = time.monotonic()
    page.locator('.rl-card[data-relay="relay-b"]', has_text="Mất kết nối").wait_for(timeout=5000)
    shown_after = time.monotonic() - t0
    assert shown_after <= 2.5, shown_after
    assert "flash" in b.get_attribute("class")
    moved = [row["room_name"] for row in rows if first.rooms[row["room_id"]] == "relay-b"]
    in_thread(_redis(_plan, meeting_id, specs, first, ("relay-b",)))
    page.locator("#rl-tree-note", has_text="Lượt phương án 2").wait_for(timeout=5000)
    note = page.locator(".rl-node.flash .rl-moved")
    note.wait_for(timeout=3000)
    assert moved[0] in note.inner_text()
    page.screenshot(path=str(ARTIFACTS / "relays-page-failover.png"), full_page=True)

    # A phone: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(1200)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(ARTIFACTS / "relays-page-390.png"), full_page=True)

    # From the console's header: the page opens on the meeting the console showed.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{server}/web/host.html?meeting={meeting_id}", timeout=60000)
    page.click("#link-relays")
    page.wait_for_url(re.compile(r"/web/relays\.html"))
    page.locator("#rl-tree-note", has_text="Lượt phương án 2").wait_for()
    assert page.input_value("#rl-meeting") == str(meeting_id)

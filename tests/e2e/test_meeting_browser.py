"""A meeting in real browsers: the chair's console and two room pages, media through the real relay.

Proves: the console logs in, starts the test run and publishes; both rooms
decode the chair's video; a room asks for the floor, the chair grants it with
a click, and the other room's program changes to that room's picture (its
fake camera's colour, read from the <video> element's pixels); the console's
multiview decodes both rooms; a room whose socket drops resumes its session
by itself and answers the roll call that started while it was away.
"""

import math
import time

import pytest

from tests.conftest import failed

from .conftest import ARTIFACTS, open_console

pytestmark = pytest.mark.browser

WAIT_MS = 30000  # generous: CI machines are shared


def poll(fn, timeout=30.0, every=0.25, what="condition"):
    """Call fn until it returns something truthy; return it, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def frames(page, slot="video0") -> int:
    """framesDecoded of one incoming video slot, from the page's own RTCPeerConnection.getStats()."""
    stats = page.evaluate("window.confserver.stats()") or {}
    return (stats.get("slots", {}).get(slot) or {}).get("framesDecoded") or 0


def assert_decoding(page, slot="video0", who=""):
    """Frames decoded grow between two reads: media really flows."""
    first = poll(lambda: frames(page, slot), what=f"{who} decoding {slot}")
    second = poll(lambda: (n := frames(page, slot)) > first and n, timeout=5, what=f"{who} {slot} still decoding")
    assert second > first


def nearest(rgb, clips) -> str:
    return min(clips, key=lambda name: math.dist(rgb, clips[name].rgb))


def program_source(page, clips):
    """Whose fake camera the program <video> shows, by its mean colour (None before the first frame)."""
    rgb = page.evaluate("window.confserver.meanColour('program')")
    if not rgb:
        return None
    name = nearest(rgb, clips)
    return name if math.dist(rgb, clips[name].rgb) < 60 else None


def new_page(browser, width=1280, height=720):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(WAIT_MS)
    errors, console = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.js_errors, page.console_lines = errors, console
    return page


@pytest.fixture
def shots(request):
    """Pages to photograph into test-artifacts/ if the test fails."""
    pages = {}
    yield pages
    if not failed(request):
        return
    for name, page in pages.items():
        try:
            (ARTIFACTS / f"failed-{name}.log").write_text("\n".join(page.console_lines + page.js_errors))
            page.screenshot(path=str(ARTIFACTS / f"failed-{name}.png"))
        except Exception:
            pass


def test_floor_goes_from_chair_to_room(e2e_server, clips, launch, shots):
    base = e2e_server.base_url

    # The chair's operator logs in and opens the meeting from the list.
    host = shots["host"] = new_page(launch(clips["chair"]), 1920, 1080)
    meeting_id = open_console(host, base)
    host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")

    # Two commune rooms, by the sign-in links the console hands out.
    meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
    rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
    links = {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}
    room_a, room_b = [r["room_id"] for r in rooms if r["unit_code"] != meeting["host_unit"]][:2]

    pages = {}
    for key, room_id in (("a", room_a), ("b", room_b)):
        page = shots[f"room-{key}"] = new_page(launch(clips[key]))
        page.goto(base + links[room_id])
        page.click("#join-btn:not([disabled])")
        page.wait_for_selector("#conn-badge.ok")
        pages[key] = page
    a, b = pages["a"], pages["b"]

    # Both rooms decode the chair's video, and it is the chair's picture.
    for key, page in pages.items():
        assert_decoding(page, "video0", f"room {key}")
        assert poll(lambda: program_source(page, clips), what=f"room {key} program picture") == "chair"

    # Room A asks for the floor; the chair grants it in the console.
    a.click("#hand-btn")
    grant = host.locator(f'#queue li[data-room-id="{room_a}"] button.grant')
    grant.wait_for()
    grant.click()
    host.wait_for_selector("#speaker:not([hidden])")
    assert "Kết thúc phát biểu" in a.inner_text("#hand-btn")

    # Room B now watches room A: the program picture changed source, and keeps decoding.
    poll(lambda: program_source(b, clips) == "a", what="room B showing room A's camera")
    assert_decoding(b, "video0", "room b (floor)")
    assert b.inner_text("#mode-badge") == "Đang phát biểu"

    # The console's multiview shows both rooms (slots 1 and 2).
    for slot in ("video1", "video2"):
        assert_decoding(host, slot, "console multiview")
    poll(lambda: host.evaluate("Object.keys(window.confserver.state.quality).length") >= 3, what="media quality stats")

    # Room B's connection drops; the chair starts a roll call meanwhile. B comes back by itself,
    # resumes its session (the missed event is replayed) and answers; the console sees it.
    b.evaluate("window.confserver.client.ws.close()")
    host.click("#btn-rc-start")
    poll(lambda: b.evaluate("window.confserver.client.joins.length") >= 2, what="room B rejoining")
    assert b.evaluate("window.confserver.client.joins.at(-1).resumed") is True
    b.click("#present-btn")
    host.wait_for_selector(f'tr[data-room-id="{room_b}"] .tag.present')
    assert_decoding(b, "video0", "room b (after resume)")

    # The chair closes the roll call: every room hears it (a room hears only its own mark).
    host.click("#btn-rc-end")
    host.wait_for_selector("#btn-rc-start:not([hidden])")

    # With the server's backlog bound at 4 unacknowledged notifications, the console and room A
    # acknowledged as they went: more than 4 events each, and never cut off and rejoined.
    for page in (host, a):
        poll(lambda: page.evaluate("window.confserver.client.lastSeq") > 4, what="more than 4 events")
        assert page.evaluate("window.confserver.client.joins.length") == 1

    time.sleep(1.5)  # let the tiles and quality figures settle for the picture
    ARTIFACTS.mkdir(exist_ok=True)
    host.screenshot(path=str(ARTIFACTS / "host-console.png"))
    a.screenshot(path=str(ARTIFACTS / "room-a.png"))
    b.screenshot(path=str(ARTIFACTS / "room-b.png"))

    for name, page in (("host", host), ("room a", a), ("room b", b)):
        assert not page.js_errors, f"{name}: {page.js_errors}"
    shots.clear()  # passed: no failure pictures

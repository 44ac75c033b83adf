"""The speaker's clock in Chromium (issue 12, item 10): the room given the floor and the chair's console show
how long it has spoken, the chair's limit and a warning near its end, and the current agenda item's planned
minutes counted down. The room's own clock is an hour wrong: the page counts from the server's time.
"""

import pytest

from .conftest import ARTIFACTS
from .test_meeting_browser import poll
from .test_viewports_browser import assert_fits, chromium, joined, meeting, room_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

CLOCK = """(sel) => { const c = document.querySelector(sel);
  return {shown: !c.hidden && c.getClientRects().length > 0, state: c.dataset.state, elapsed: Number(c.dataset.elapsed),
          remaining: c.dataset.remaining === undefined ? null : Number(c.dataset.remaining), text: c.innerText,
          warn: c.classList.contains('sc-warn'), over: c.classList.contains('sc-over')}; }"""

SKEW = "(() => { const real = Date.now; Date.now = () => real() - 3600 * 1000; })()"  # this terminal's clock: 1 h slow


def test_speaker_clock_on_the_room_and_the_console(meeting, chromium):  # noqa: F811
    meeting.open()
    host = meeting.host
    item = meeting.api(
        "POST",
        f"/api/agenda/meetings/{meeting.id}/items",
        data={"title": "Thảo luận kế hoạch phòng, chống thiên tai", "planned_minutes": 30},
    )
    host.evaluate("(id) => window.confserver.client.request('agenda_item', {item_id: id})", item["id"])

    ctx = chromium["rooms"].new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    ctx.add_init_script(SKEW)
    room = ctx.new_page()
    room.js_errors = []
    room.on("pageerror", lambda e: room.js_errors.append(str(e)))
    room.goto(meeting.next_link(), wait_until="domcontentloaded", timeout=60000)
    room.click("#join-btn:not([disabled])")
    joined(room)
    room_id = room.evaluate("window.confserver.state.me.room_id")
    assert room.evaluate(CLOCK, "#floor-clock")["shown"] is False  # no floor, no clock

    room.click("#hand-btn")
    host.locator(f'#queue li[data-room-id="{room_id}"] button.grant').click()
    room.wait_for_selector("#floor-box:not([hidden])")
    # The room says what it sees now: the chair, while it speaks.
    assert room.inner_text("#mode-badge") == "Bạn đang phát biểu"
    assert room.inner_text("#program-who").startswith("Đang xem chủ trì")

    # Both clocks run, counted from the server's floor_since (the room's own clock is an hour slow).
    first = poll(
        lambda: (c := room.evaluate(CLOCK, "#floor-clock"))["shown"] and c["state"] == "running" and c,
        what="the room's clock running",
    )
    assert first["elapsed"] < 5 and first["remaining"] is None, first
    poll(lambda: room.evaluate(CLOCK, "#floor-clock")["elapsed"] > first["elapsed"], what="the room's clock moving")
    chair = poll(
        lambda: (c := host.evaluate(CLOCK, "#speaker-clock"))["shown"] and c["state"] == "running" and c,
        what="the console's clock running",
    )
    assert chair["elapsed"] < 6
    # The agenda item's 30 planned minutes count down on both.
    for page, sel in ((room, "#floor-clock"), (host, "#speaker-clock")):
        text = poll(
            lambda: "dự kiến 30 phút · còn 29:" in (t := page.evaluate(CLOCK, sel)["text"]) and t,
            what=f"{sel}: the item's minutes",
        )
        assert "Nội dung" in text

    # The chair picks a limit in the speaker box: the room sees it.
    host.select_option("#speaker-clock select", "60")
    poll(lambda: "/ 01:00 · còn 00:5" in room.evaluate(CLOCK, "#floor-clock")["text"], what="the room seeing 1 minute")
    room.screenshot(path=str(ARTIFACTS / "speaker-clock-room-390.png"))
    assert_fits(room, "390x844 speaking room with its clock")

    # A short limit: counted from the floor's start, it warns when <= 2 s remain, then says the time is up.
    elapsed = host.evaluate(CLOCK, "#speaker-clock")["elapsed"]
    host.evaluate("(s) => window.confserver.client.request('set_floor_limit', {limit_s: s})", elapsed + 6)
    for page, sel in ((room, "#floor-clock"), (host, "#speaker-clock")):
        poll(
            lambda: page.evaluate(CLOCK, sel)["state"] == "running" and page.evaluate(CLOCK, sel)["remaining"] > 2,
            timeout=5,
            every=0.1,
            what=f"{sel}: running before the warning",
        )
    for page, sel in ((room, "#floor-clock"), (host, "#speaker-clock")):
        warn = poll(
            lambda: (c := page.evaluate(CLOCK, sel))["state"] == "warn" and c,
            timeout=10,
            every=0.1,
            what=f"{sel}: the warning",
        )
        assert warn["warn"] and 0 < warn["remaining"] <= 2 and "Sắp hết giờ" in warn["text"], warn
    room.screenshot(path=str(ARTIFACTS / "speaker-clock-room-warn-390.png"))
    host.screenshot(path=str(ARTIFACTS / "speaker-clock-console-warn.png"))
    for page, sel in ((room, "#floor-clock"), (host, "#speaker-clock")):
        over = poll(
            lambda: (c := page.evaluate(CLOCK, sel))["state"] == "over" and c,
            timeout=10,
            every=0.1,
            what=f"{sel}: time is up",
        )
        assert over["over"] and "Hết giờ phát biểu" in over["text"]

    # The floor ends: the clocks go.
    host.evaluate("window.confserver.client.request('revoke_floor')")
    poll(lambda: not room.evaluate(CLOCK, "#floor-clock")["shown"], what="the room's clock gone")
    poll(lambda: not host.evaluate(CLOCK, "#speaker-clock")["shown"], what="the console's clock gone")
    assert not room.js_errors
    ctx.close()

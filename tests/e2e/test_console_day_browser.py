"""The operator's console on meeting day (issue 12, items 5, 6, 8), in real Chromium against a real server holding
Huế in the pre-2025 structure (144 rooms: the province, 9 districts, 134 communes).

Proves: a room whose socket closes is impossible to miss (the alert names it, "Trực tuyến" drops by one, the room is
in the list of rooms lost); "Gọi lại" shows a QR code that a reader decodes to the room's own link, and "Gửi lại liên
kết" reaches the notification webhook for that room; rooms are grouped by district, "select the whole district"
selects exactly its rooms, a district folds and filters, and "thuan hoa" finds "Thuận Hóa"; a reload brings the
"Diễn biến" log and the roll-call summary back from the timeline; the floor is logged once (granting it again to let
the room present is not a second floor), a mute once, in the log and in the timeline.
"""

import io
import json
import os
import threading
import unicodedata
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, open_console
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser


class Hook:
    """The notification webhook's receiver, on loopback: keeps every JSON body it gets."""

    def __init__(self):
        got = self.got = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/rooms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A real confserver with Huế pre-2025, a short grace period (a closed socket is a lost room within seconds)
    and the notification webhook pointed at a receiver here."""
    tmp = tmp_path_factory.mktemp("console-day")
    ARTIFACTS.mkdir(exist_ok=True)
    hook = Hook()
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            [port],
            DJANGO_SETTINGS_MODULE="tests.e2e.settings",
            PYTHONPATH=str(live.ROOT),
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            SIGNALING_GRACE_S="2",
            AGENDA_WEBHOOK_URL=hook.url,
            RECORDING_DEFAULT_ON="0",
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "pre2025")
        try:
            with live.daphne(env, port, ARTIFACTS / "e2e-console-day-server.log"):
                yield {"base": origin, "hook": hook}
        finally:
            hook.close()


def fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if unicodedata.category(c) != "Mn").lower()


def console(launch, clips, base):
    host = new_page(launch(clips["chair"]), 1600, 900)
    meeting_id = open_console(host, base)
    host.wait_for_selector("#rooms-body tr[data-room-id]")
    if host.is_visible("#btn-test-run"):
        host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")
    return host, meeting_id


def room_socket(browser, base, meeting_id, url):
    """A room terminal on the meeting socket only (no camera): the page signs in with the room's link's token."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{base}/web/index.html")
    page.evaluate(
        """async ([mid, token]) => {
      const { MeetingClient } = await import('/web/js/meeting.js');
      window.room = new MeetingClient({ meetingId: mid, token, handlers: {} });
      window.room.connect();
    }""",
        [meeting_id, url.split("#token=", 1)[1]],
    )
    poll(lambda: page.evaluate("window.room.joined"), what="room socket joined")
    return ctx


def rooms_of(host, base, meeting_id):
    return host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]


def links_of(host, base, meeting_id):
    return {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}


def test_a_lost_room_is_alerted_counted_listed_and_called_back(day, clips, launch, shots):
    import zxingcpp
    from PIL import Image

    base = day["base"]
    host, meeting_id = console(launch, clips, base)
    shots["console-lost"] = host
    browser = host.context.browser
    rooms = rooms_of(host, base, meeting_id)
    links = links_of(host, base, meeting_id)
    names = {r["room_id"]: r["room_name"] for r in rooms}
    a, b = sorted(links)[:2]
    invited = len(rooms) - 1  # not the chair's own room
    assert invited == 143
    assert host.inner_text("#rooms-online") == f"Trực tuyến 0/{invited}"

    ctx_a, ctx_b = room_socket(browser, base, meeting_id, links[a]), room_socket(browser, base, meeting_id, links[b])
    poll(lambda: host.inner_text("#rooms-online") == f"Trực tuyến 2/{invited}", what="two rooms online")
    assert host.is_hidden("#lost-alert") and host.is_hidden("#lost-panel")

    # Room A's socket closes (its page is gone): within the grace period it still counts, then it is lost.
    ctx_a.close()
    host.wait_for_selector("#lost-alert:not([hidden])", timeout=30000)
    assert names[a] in host.inner_text("#lost-alert-text") and "mất kết nối" in host.inner_text("#lost-alert-text")
    assert host.inner_text("#rooms-online") == f"Trực tuyến 1/{invited}"
    assert host.eval_on_selector_all("#lost-list li", "els => els.map(e => Number(e.dataset.roomId))") == [a]
    host.screenshot(path=str(ARTIFACTS / "console-room-lost.png"))

    # A reload keeps the list: rebuilt from the timeline's last leave of each room.
    host.reload()
    host.wait_for_selector("#conn-badge.ok")
    host.wait_for_selector(f'#lost-list li[data-room-id="{a}"]')
    assert host.eval_on_selector_all("#lost-list li", "els => els.map(e => Number(e.dataset.roomId))") == [a]
    assert host.inner_text("#rooms-online") == f"Trực tuyến 1/{invited}" and host.is_visible("#lost-alert")

    # On a tablet-sized screen too: no sideways scroll, the alert's buttons and "Gọi lại" are on top, not covered.
    host.set_viewport_size({"width": 1024, "height": 768})
    assert host.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
    for sel in ("#lost-alert-show", "#lost-alert-close", f'#lost-list li[data-room-id="{a}"] .lost-call'):
        host.locator(sel).scroll_into_view_if_needed()
        assert host.eval_on_selector(
            sel,
            """b => { const r = b.getBoundingClientRect();
          return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === b; }""",
        ), sel
    host.screenshot(path=str(ARTIFACTS / "console-room-lost-1024.png"))
    host.set_viewport_size({"width": 1600, "height": 900})

    # "Gọi lại": the QR code on the screen reads as the room's own link (the one the links dialog hands out).
    host.click(f'#lost-list li[data-room-id="{a}"] .lost-call')
    qr = host.wait_for_selector("dialog.callback-dialog #callback-qr svg")
    shot = Image.open(io.BytesIO(host.locator("#callback-qr").screenshot())).convert("L")
    read = [r.text for r in zxingcpp.read_barcodes(shot)]
    assert read == [base + links[a]], read
    assert qr.bounding_box()["width"] >= 200  # big enough for a phone across a desk
    host.screenshot(path=str(ARTIFACTS / "console-callback-qr.png"))

    # "Gửi lại liên kết": the webhook gets that room's link, and only that room's.
    host.click("#callback-resend")
    poll(lambda: day["hook"].got, what="the webhook called")
    [sent] = day["hook"].got
    assert sent["type"] == "room.link" and sent["room"]["id"] == a and sent["url"] == base + links[a]
    host.keyboard.press("Escape")

    # Back online: off the list, the count goes up again.
    ctx_a = room_socket(browser, base, meeting_id, links[a])
    poll(lambda: host.inner_text("#rooms-online") == f"Trực tuyến 2/{invited}", what="room A back")
    host.wait_for_selector("#lost-panel", state="hidden")
    for ctx in (ctx_a, ctx_b):
        ctx.close()
    assert not host.js_errors, host.js_errors
    shots.clear()


def test_rooms_by_district_select_fold_filter_and_search_without_accents(day, clips, launch, shots):
    base = day["base"]
    host, meeting_id = console(launch, clips, base)
    shots["console-districts"] = host
    rooms = rooms_of(host, base, meeting_id)
    units = {u["code"]: u for u in host.request.get(f"{base}/api/units/46/subtree").json()}

    def district(code):
        while units[code]["level"] > 2:
            code = units[code]["parent_code"]
        return code if units[code]["level"] == 2 else ""

    by_district = {}
    for r in rooms:
        by_district.setdefault(district(r["unit_code"]), set()).add(r["room_id"])
    assert len([d for d in by_district if d]) == 9

    # One header per district (and one for the province's own room), each district's rooms under it.
    headers = host.eval_on_selector_all("#rooms-body tr.grp", "els => els.map(e => e.dataset.district)")
    assert sorted(headers) == sorted(by_district)
    assert host.is_visible("#rooms-district")

    # "Select the whole district" (Quận Thuận Hóa): exactly its rooms.
    host.check('#rooms-body tr.grp[data-district="474"] .grp-select')
    picked = host.eval_on_selector_all(
        "#rooms-body input.room-select:checked", "els => els.map(e => Number(e.dataset.roomId))"
    )
    assert set(picked) == by_district["474"] and len(picked) == len(by_district["474"]) > 5
    assert host.inner_text("#bulk-count") == f"Đã chọn {len(picked)} phòng"
    host.screenshot(path=str(ARTIFACTS / "console-districts.png"))
    host.click("#bulk-clear")
    assert host.is_hidden("#rooms-bulk")

    def shown():
        return set(
            host.eval_on_selector_all(
                "#rooms-body tr[data-room-id]:not([hidden])", "els => els.map(e => Number(e.dataset.roomId))"
            )
        )

    # Fold Phú Xuân: its rooms hide, its header stays.
    host.click('#rooms-body tr.grp[data-district="475"] .grp-toggle')
    assert not (shown() & by_district["475"]) and host.is_visible('#rooms-body tr.grp[data-district="475"]')
    host.click('#rooms-body tr.grp[data-district="475"] .grp-toggle')
    assert by_district["475"] <= shown()

    # One district only.
    host.select_option("#rooms-district", "478")
    assert shown() == by_district["478"]
    host.select_option("#rooms-district", "")

    # The search folds accents: "thuan hoa" finds "Thuận Hóa" (the district's rooms and the ward Thuận Hòa).
    host.fill("#rooms-search", "thuan hoa")
    want = {r["room_id"] for r in rooms if "thuan hoa" in fold(r["room_name"])} | by_district["474"]
    assert shown() == want
    names = {r["room_id"]: r["room_name"] for r in rooms}
    assert "Phòng họp Quận Thuận Hóa" in {names[i] for i in shown()}
    assert "Phòng họp Phường Thuận Hòa" in {names[i] for i in shown()}
    host.fill("#rooms-search", "")
    assert not host.js_errors, host.js_errors

    # A fault of the console itself is explained in Vietnamese (issue 12, item 12), not in the browser's English.
    host.evaluate("setTimeout(() => { const me = null; return me.room_id; })")
    toast = host.wait_for_selector("#toasts .toast-error")
    assert "trang gặp lỗi" in toast.inner_text() and "Cannot read" not in toast.inner_text()
    shots.clear()


def test_reload_keeps_the_log_and_roll_call_and_logs_floor_and_mute_once(day, clips, launch, shots):
    base = day["base"]
    host, meeting_id = console(launch, clips, base)
    shots["console-memory"] = host
    links = links_of(host, base, meeting_id)
    names = {r["room_id"]: r["room_name"] for r in rooms_of(host, base, meeting_id)}
    speaker, quiet = sorted(links)[2:4]
    name, quiet_name = names[speaker], names[quiet]
    ctx = room_socket(host.context.browser, base, meeting_id, links[speaker])

    def lines():
        return host.eval_on_selector_all("#log li", "els => els.map(e => e.textContent.replace(/^\\S+ /, ''))")

    # The floor to a muted room (which opens its microphone), then leave to present (a second grant): one floor
    # line. A mute: one line.
    host.click(f'tr[data-room-id="{speaker}"] button[data-action="mute"]')
    poll(lambda: f"Tắt tiếng {name}" in lines(), what="speaker muted")
    host.click(f'tr[data-room-id="{speaker}"] button[data-action="grant"]:not([disabled])')
    host.wait_for_selector("#speaker:not([hidden])")
    host.click("#speaker-present")
    poll(lambda: f"{name} được trình chiếu tài liệu" in lines(), what="presenting leave logged")
    host.click(f'tr[data-room-id="{quiet}"] button[data-action="mute"]')
    poll(lambda: f"Tắt tiếng {quiet_name}" in lines(), what="mute logged")
    host.click("#btn-rc-start")
    host.wait_for_selector("#btn-rc-end:not([hidden])")
    host.click("#btn-rc-end")
    poll(lambda: host.inner_text("#rc-summary"), what="roll-call summary")
    summary = host.inner_text("#rc-summary")
    before = lines()
    assert before.count(f"{name} được phát biểu") == 1, before
    assert before.count(f"Tắt tiếng {quiet_name}") == 1, before
    assert before.count(f"Bật tiếng {name}") == 1, before
    timeline = host.request.get(f"{base}/api/meetings/{meeting_id}/timeline").json()
    assert [e["kind"] for e in timeline if e["room_id"] == quiet and e["kind"] in ("muted", "unmuted")] == ["muted"]
    assert [e["kind"] for e in timeline if e["room_id"] == speaker and e["kind"].startswith("floor_")] == [
        "floor_granted",
        "floor_present",
    ]
    assert [e["kind"] for e in timeline if e["room_id"] == speaker and e["kind"] in ("muted", "unmuted")] == [
        "muted",
        "unmuted",
    ]

    # Reload: the log and the summary come back from the timeline, in the same words, each once.
    host.reload()
    host.wait_for_selector("#conn-badge.ok")
    poll(lambda: f"Tắt tiếng {quiet_name}" in lines(), what="log restored")
    after = lines()
    for line in (
        f"{name} vào họp",
        f"Tắt tiếng {name}",
        f"Bật tiếng {name}",
        f"{name} được phát biểu",
        f"{name} được trình chiếu tài liệu",
        f"Tắt tiếng {quiet_name}",
        "Bắt đầu điểm danh",
        "Kết thúc điểm danh",
        "Cuộc họp: Đang chạy thử",
    ):
        assert after.count(line) == 1, (line, after)
    poll(lambda: host.inner_text("#rc-summary") == summary, what="roll-call summary restored")
    host.screenshot(path=str(ARTIFACTS / "console-after-reload.png"))
    ctx.close()
    assert not host.js_errors, host.js_errors
    shots.clear()

"""Issue 12, items 12 and 13, in real Chromium: the product's own sign-in page (phone and desktop), each role on
its own page after signing in, who is signed in and "Đăng xuất" on the console, the admin in Vietnamese, and the
room page before the meeting opens ("Xin phát biểu" explains itself in Vietnamese, "Tắt micro" follows the mic).
Every page's visible text is scanned for English (tests/accounts/english.py)."""

import re

import pytest

from tests.accounts.english import english_in

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser

# What a person reads on the page: its text, and the titles, placeholders and labels of what is visible.
VISIBLE_TEXT = """() => {
  const out = [document.title, document.body.innerText];
  for (const node of document.querySelectorAll("[title], [placeholder], [aria-label], img[alt], input[type=submit]")) {
    if (!node.getClientRects().length) continue;
    for (const a of ["title", "placeholder", "aria-label", "alt", "value"]) {
      if (a === "value" && node.type !== "submit") continue;
      if (node.getAttribute(a)) out.push(node.getAttribute(a));
    }
  }
  return out.join("\\n");
}"""


def assert_vietnamese(page, where: str) -> str:
    page.wait_for_load_state()
    text = page.evaluate(VISIBLE_TEXT)
    found = english_in(text)
    assert not found, f"{where}: English on the page: {found}"
    return text


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def hit(page, selector) -> bool:
    """The control is what a finger at its centre touches (not covered by anything)."""
    return page.evaluate(
        """(sel) => {
      const el = document.querySelector(sel); const r = el.getBoundingClientRect();
      const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return !!at && (at === el || el.contains(at));
    }""",
        selector,
    )


def sign_in(page, base, user, password, next_url=""):
    page.goto(f"{base}/login/" + (f"?next={next_url}" if next_url else ""))
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_sign_in_on_a_phone_each_role_lands_on_its_page(e2e_server, clips, launch, shots):
    base = e2e_server.base_url
    browser = launch(clips["a"])

    # A phone: the sign-in page is ours, Vietnamese, fits the width; a wrong password is explained.
    phone = shots["signin-phone"] = new_page(browser, 390, 844)
    phone.goto(f"{base}/login/?next=/web/host.html")
    text = assert_vietnamese(phone, "sign-in page (phone)")
    assert "Đăng nhập" in text and "điều hành cuộc họp" in text
    assert no_sideways_scroll(phone) and hit(phone, "input[type=submit]") and hit(phone, "#id_password")
    assert phone.evaluate("document.querySelector('#id_username').getBoundingClientRect().height") >= 44
    phone.screenshot(path=str(ARTIFACTS / "signin-phone.png"))
    phone.fill("#id_username", HOST_USER)
    phone.fill("#id_password", "sai-mat-khau")
    phone.click("input[type=submit]")
    phone.wait_for_selector(".errornote")
    assert_vietnamese(phone, "sign-in page after a wrong password")

    # The reviewer lands on the review list, not on the console that would refuse them.
    reviewer = shots["reviewer"] = new_page(browser, 1024, 768)  # a context of its own: no cookies shared
    sign_in(reviewer, base, "xemlai-hue", HOST_PASSWORD)
    reviewer.wait_for_url(re.compile(r"/web/review\.html$"))

    # The administrator chooses; the admin is Vietnamese.
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    boss = shots["admin"] = ctx.new_page()
    boss.js_errors, boss.console_lines = [], []
    sign_in(boss, base, "quantri", HOST_PASSWORD)
    boss.wait_for_url(re.compile(r"/home/$"))
    assert_vietnamese(boss, "administrator's choice page")
    boss.screenshot(path=str(ARTIFACTS / "admin-choice.png"))
    boss.click("text=Quản trị hệ thống")
    boss.wait_for_url(re.compile(r"/admin/$"))
    text = assert_vietnamese(boss, "admin index")
    assert "Diễn biến cuộc họp" in text and "Quản trị hệ thống hội nghị trực tuyến" in text
    boss.screenshot(path=str(ARTIFACTS / "admin-index.png"))
    for model in ("rooms/timelineevent", "rooms/meeting", "agenda/publication", "agenda/readreceipt"):
        boss.goto(f"{base}/admin/{model}/")
        assert_vietnamese(boss, f"admin {model} list")
    boss.goto(f"{base}/admin/rooms/meeting/")
    boss.click("#result_list tbody tr a")
    boss.wait_for_url(re.compile(r"/admin/rooms/meeting/\d+/change/$"))
    assert_vietnamese(boss, "admin meeting form")
    boss.screenshot(path=str(ARTIFACTS / "admin-meeting.png"))
    ctx.close()
    shots.clear()


def test_console_says_who_is_signed_in_and_signs_out(e2e_server, clips, launch, shots):
    base = e2e_server.base_url
    host = shots["host"] = new_page(launch(clips["chair"]), 1366, 768)
    host.goto(f"{base}/web/host.html")
    host.wait_for_url(re.compile(r"/login/"))
    assert_vietnamese(host, "sign-in page (desktop)")
    host.fill("#id_username", HOST_USER)
    host.fill("#id_password", HOST_PASSWORD)
    host.click("input[type=submit]")
    host.wait_for_url(re.compile(r"/web/host\.html$"))

    # The meeting list: who is signed in, and Vietnamese only.
    host.wait_for_selector("#account-name")
    assert host.inner_text("#account-name") == HOST_USER
    assert "Điều hành (chủ trì)" in host.inner_text("#account-chip")
    host.wait_for_selector("#meeting-rows a.btn")
    assert_vietnamese(host, "console, meeting list")

    # In the meeting's console too; every control of the header reachable.
    host.click("#meeting-rows a.btn")
    host.wait_for_selector("#conn-badge.ok")
    host.wait_for_selector("#signout-btn")
    assert hit(host, "#signout-btn") and hit(host, "#btn-test-run")
    assert_vietnamese(host, "console, meeting")
    host.screenshot(path=str(ARTIFACTS / "console-signed-in.png"))

    # Signing out asks first (the meeting goes on), then lands on the sign-in page, signed out.
    host.click("#signout-btn")
    host.wait_for_selector("dialog[open]")
    assert "Cuộc họp vẫn tiếp tục" in host.inner_text("dialog[open]")
    host.click("dialog[open] button[type=submit]")
    host.wait_for_url(re.compile(r"/login/$"))
    assert host.request.get(f"{base}/api/accounts/me").status == 401
    host.goto(f"{base}/web/host.html")
    host.wait_for_url(re.compile(r"/login/"))
    assert not host.js_errors, host.js_errors
    shots.clear()


def test_room_page_before_the_meeting_opens(e2e_server, clips, launch, shots):
    """The meeting is scheduled, not open: the room has joined its page and waits. "Xin phát biểu" explains
    in Vietnamese (it showed "Cannot read properties of null (reading 'room_id')"), and "Tắt micro" changes
    its label with the microphone (it changed the mic only)."""
    base = e2e_server.base_url
    browser = launch(clips["b"])
    chair = browser.new_context().new_page()
    sign_in(chair, base, HOST_USER, HOST_PASSWORD, next_url="/web/host.html")
    chair.wait_for_url(re.compile(r"/web/host\.html$"))
    meeting = chair.request.get(f"{base}/api/meetings").json()[0]
    assert meeting["state"] == "scheduled", meeting
    link = chair.request.get(f"{base}/api/meetings/{meeting['id']}/room-tokens").json()[-1]["url"]

    room = shots["room-waiting"] = new_page(browser, 1024, 768)
    room.goto(base + link)
    room.click("#join-btn:not([disabled])")
    room.wait_for_selector("#conn-badge.warn")
    poll(lambda: room.evaluate("window.confserver.client.status") == "waiting", what="the room waiting")

    # aria-disabled (below): Playwright would wait for it to become usable; a person presses it anyway.
    room.click("#hand-btn", force=True)
    toast = room.wait_for_selector(".toast")
    said = toast.inner_text()
    assert "Cuộc họp chưa mở" in said, said
    assert not english_in(said) and "null" not in said
    assert room.get_attribute("#hand-btn", "aria-disabled") == "true"

    poll(
        lambda: room.evaluate("!window.confserver.local || !!window.confserver.local.audioTrack"),
        what="the fake microphone open",
    )
    assert room.inner_text("#mic-btn") == "Tắt micro"
    room.click("#mic-btn")
    assert room.inner_text("#mic-btn") == "Bật micro"
    mic_on = "window.confserver.local.audioTrack.enabled"
    assert room.evaluate(mic_on) is False
    room.click("#mic-btn")
    assert room.inner_text("#mic-btn") == "Tắt micro" and room.evaluate(mic_on) is True

    assert_vietnamese(room, "room page, waiting for the meeting to open")
    room.screenshot(path=str(ARTIFACTS / "room-waiting.png"))
    assert not room.js_errors, room.js_errors
    shots.clear()

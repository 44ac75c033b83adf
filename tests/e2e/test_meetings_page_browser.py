"""The host operator plans meetings on the meetings page, in real Chromium against a real server (issue 12,
item 4, "Done when": a meeting created through the page for "all communes of a district" invites exactly those
rooms).

Huế in its pre-2025 structure (9 districts, 134 communes). The host signs in at /web/meetings.html, opens the
form, finds the district by typing without accents ("thuan hoa" shows Quận Thuận Hóa and Phường Thuận Hòa, not
the other units), clears the preset selection, ticks "all communes" of Quận Thuận Hóa, sees the count
(19 communes + the chair's own room) before saving, and saves. The API then lists exactly those invited rooms.
The host edits it (adds the district itself) and copies it at a new time: the copy invites the same rooms;
an edit saved after the meeting went live is refused on the page, in Vietnamese, and changes nothing.
No sideways scroll and the save button hit-testable at 1024x768 and 390x844; no page error; screenshots in
test-artifacts/: meetings-page.png (the form with its count), meetings-page-390.png, meetings-list(-390).png.
"""

import os
import re

import pytest

from confserver.testing import live
from tests.accounts.english import english_in

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER, ROOT
from .test_signin_browser import VISIBLE_TEXT

pytestmark = pytest.mark.browser

WAIT_MS = 60000  # a loaded 2-core machine is slow
DISTRICT = "474"  # Quận Thuận Hóa


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real confserver with Huế's pre-2025 structure (districts), on 127.0.0.1:<free port>."""
    tmp = tmp_path_factory.mktemp("e2e-meetings")
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
            CSRF_TRUSTED_ORIGINS=origin,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "pre2025")
        with live.daphne(env, port, ARTIFACTS / "e2e-meetings-server.log"):
            yield origin


def no_sideways_scroll(page, what):
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{what}: page {widths[0]} px wide in a {widths[1]} px viewport"


def hit_testable(page, selector):
    """The control is on screen (scrolled to) and is what a tap at its centre reaches."""
    page.locator(selector).scroll_into_view_if_needed()
    return page.evaluate(
        """(sel) => {
        const e = document.querySelector(sel); const r = e.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return r.width > 0 && (hit === e || e.contains(hit));
    }""",
        selector,
    )


def vietnamese_only(page, where):
    found = english_in(page.evaluate(VISIBLE_TEXT))
    assert not found, f"{where}: English on the page: {found}"


def api(page, path):
    r = page.request.get(page.url.split("/web/")[0] + path)
    assert r.ok, (path, r.status, r.text())
    return r.json()


def invited_units(page, meeting_id) -> set[str]:
    return {row["unit_code"] for row in api(page, f"/api/meetings/{meeting_id}/attendance")["rooms"]}


def meeting_titled(page, title) -> dict:
    found = [m for m in api(page, "/api/meetings") if m["title"] == title]
    assert len(found) == 1, found
    return found[0]


def save(page, title):
    page.click("#btn-save")
    page.wait_for_selector(f"#mt-list:not([hidden]) .mt-card:has-text('{title}')", timeout=WAIT_MS)


def test_host_creates_a_meeting_for_all_communes_of_a_district(server, browser):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, locale="vi-VN")
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/web/meetings.html")
    page.wait_for_url(re.compile(r"/login/"), timeout=WAIT_MS)
    page.fill("#id_username", HOST_USER)
    page.fill("#id_password", HOST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/web/meetings\.html$"), timeout=WAIT_MS)
    page.wait_for_selector("#btn-new:not([hidden])", timeout=WAIT_MS)
    no_sideways_scroll(page, "list at 1024x768")

    communes = {u["code"] for u in api(page, f"/api/units/{DISTRICT}/subtree?only_level=commune")}
    assert len(communes) == 19

    page.click("#btn-new")
    page.wait_for_selector(f".mt-node[data-code='{DISTRICT}']", timeout=WAIT_MS)
    # Accent-folded search: "thuan hoa" finds Quận Thuận Hóa (and Phường Thuận Hòa) and nothing unrelated.
    page.fill("#mt-search", "thuan hoa")
    shown = page.eval_on_selector_all(".mt-node.match:not([hidden])", "rows => rows.map(r => r.dataset.code)")
    assert set(shown) == {DISTRICT, "19762"}, shown
    assert page.locator(".mt-node[data-code='19777']").is_hidden()  # a commune of 474 whose name does not match
    page.fill("#mt-search", "")

    page.get_by_role("button", name="Bỏ chọn hết").click()
    assert page.text_content("#mt-count") == "1 phòng"  # the chair's own room always takes part
    page.click(f"[data-below='{DISTRICT}']")  # "Chọn cả 19 xã, phường"
    assert page.text_content("#mt-count") == f"{len(communes) + 1} phòng"
    assert "19 xã, phường, thị trấn" in page.text_content("#mt-count-detail")
    assert not page.is_checked(f"#u-{DISTRICT}")
    page.fill("#mt-title", "Hội nghị các phường Thuận Hóa")
    page.fill("#mt-place", "Hội trường UBND thành phố")
    page.click(f".mt-node[data-code='{DISTRICT}'] .mt-twist")  # open the district: its communes ticked
    no_sideways_scroll(page, "form at 1024x768")
    vietnamese_only(page, "the form")
    # The time fields are drawn in the browser's language; under each, the chosen time in Vietnamese.
    assert re.fullmatch(r"Thứ .+, \d\d/\d\d/\d{4} lúc 08:00", page.text_content("[data-when-for='mt-start']"))
    assert hit_testable(page, "#btn-save")
    page.screenshot(path=str(ARTIFACTS / "meetings-page.png"), full_page=False)
    save(page, "Hội nghị các phường Thuận Hóa")

    assert page.text_content("#mt-done") == "Đã tạo cuộc họp “Hội nghị các phường Thuận Hóa”: mời 20 phòng."
    vietnamese_only(page, "the list")
    m = meeting_titled(page, "Hội nghị các phường Thuận Hóa")
    assert invited_units(page, m["id"]) == communes | {"46"}
    assert m["invited_rooms"] == len(communes) + 1 and m["place"] == "Hội trường UBND thành phố"
    assert m["test_run_at"] is not None  # the form's default test run, before the start

    # Edit before the meeting: the district itself too.
    page.click(f"[data-edit='{m['id']}']")
    page.wait_for_selector("#mt-form:not([aria-busy])", timeout=WAIT_MS)  # the count before it is the last form's
    page.wait_for_function("() => document.querySelector('#mt-count').textContent === '20 phòng'", timeout=WAIT_MS)
    page.check(f"#u-{DISTRICT}")
    assert page.text_content("#mt-count") == "21 phòng"
    page.click("#btn-save")
    page.wait_for_selector(f"[data-meeting='{m['id']}'] .mt-rooms:text-is('21')", timeout=WAIT_MS)
    assert invited_units(page, m["id"]) == communes | {"46", DISTRICT}

    # Copy at a new time: the same rooms.
    page.click(f"[data-copy='{m['id']}']")
    page.wait_for_selector("#mt-form:not([aria-busy])", timeout=WAIT_MS)  # the count before it is the last form's
    page.wait_for_function("() => document.querySelector('#mt-count').textContent === '21 phòng'", timeout=WAIT_MS)
    page.fill("#mt-title", "Hội nghị các phường Thuận Hóa (lần 2)")
    page.fill("#mt-start", "2030-01-07T08:00")
    page.fill("#mt-end", "2030-01-07T10:00")
    page.fill("#mt-test-run", "2030-01-07T07:30")
    save(page, "Hội nghị các phường Thuận Hóa (lần 2)")
    copy = meeting_titled(page, "Hội nghị các phường Thuận Hóa (lần 2)")
    assert copy["id"] != m["id"] and invited_units(page, copy["id"]) == communes | {"46", DISTRICT}

    page.screenshot(path=str(ARTIFACTS / "meetings-list.png"), full_page=False)

    # During the test run (started from the console) invited units can no longer be cleared, others ticked.
    csrf = next(c["value"] for c in ctx.cookies() if c["name"] == "csrftoken")

    def move_to(state):
        r = page.request.post(
            f"{server}/api/meetings/{copy['id']}/state",
            data={"state": state},
            headers={"X-CSRFToken": csrf, "Referer": server + "/"},
        )
        assert r.ok, r.text()

    move_to("test_run")
    page.reload()
    page.click(f"[data-edit='{copy['id']}']")
    page.wait_for_selector("#mt-form:not([aria-busy])", timeout=WAIT_MS)  # the count before it is the last form's
    page.wait_for_function("() => document.querySelector('#mt-count').textContent === '21 phòng'", timeout=WAIT_MS)
    assert page.is_checked("#u-19777") and page.is_disabled("#u-19777")  # invited: stays
    assert not page.is_checked("#u-19762") and page.is_enabled("#u-19762")  # may still be invited
    # The form was opened, then the meeting went live: saving is refused, said in Vietnamese.
    move_to("live")
    page.fill("#mt-title", "Đổi tên khi đang họp")
    page.click("#btn-save")
    page.wait_for_selector("#mt-error:not([hidden])", timeout=WAIT_MS)
    assert page.text_content("#mt-error") == "Cuộc họp đang họp: không sửa được thông tin và danh sách mời nữa."
    page.click("#btn-cancel")
    assert api(page, f"/api/meetings/{copy['id']}")["title"] == "Hội nghị các phường Thuận Hóa (lần 2)"
    page.wait_for_selector(f"#mt-live [data-meeting='{copy['id']}']", timeout=WAIT_MS)
    assert not page.locator(f"[data-edit='{copy['id']}']").count()  # a live meeting offers no "Sửa"
    # A phone: no sideways scroll, the form's save button reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page, "list at 390x844")
    assert hit_testable(page, f"[data-copy='{m['id']}']") and hit_testable(page, "#btn-new")
    page.screenshot(path=str(ARTIFACTS / "meetings-list-390.png"), full_page=False)
    page.click("#btn-new")
    page.wait_for_selector(f".mt-node[data-code='{DISTRICT}']", timeout=WAIT_MS)
    page.click(f".mt-node[data-code='{DISTRICT}'] .mt-twist")
    no_sideways_scroll(page, "form at 390x844")
    assert hit_testable(page, "#btn-save") and hit_testable(page, f"[data-below='{DISTRICT}']")
    page.screenshot(path=str(ARTIFACTS / "meetings-page-390.png"), full_page=False)
    assert not errors, errors
    ctx.close()

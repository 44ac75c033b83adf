"""A paperless meeting in real browsers: the chair's console presents a document, a room's page follows.

Proves: the chair side creates an agenda item and uploads a multi-page Vietnamese
PDF over the HTTP API (and a second one through the console's upload form); the
console's agenda editor adds an item, moves it up, renames and removes it;
a room's page shows the agenda, hears of its publication, the current item moves live, and the room opens
the document itself (page images fetched with its token). The console presents
page 1 and turns to page 3 with clicks: the room's viewer follows within a
second, the server-rendered image really loaded. The room leaves the synced view
("Xem riêng") and reads page 2 while the presenter turns to page 4; it stays on
2 until it clicks "Theo người trình bày", which shows page 4. The console's
read-receipts tab then lists the room as having opened the document. Last, the
room gets the floor with the chair's leave to present, presents pages 5 and 4
from its own viewer (the console follows), and stops.
"""

import random
import time

import pytest

from confserver.agenda.testing.pdfgen import make_pdf, vietnamese_pages

from .conftest import ARTIFACTS, open_console
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser

FOLLOW_S = 1.0  # the synced view must follow a page turn within this


def shown(page, prefix="doc") -> dict:
    """What a viewer shows: the page number in the pager, and the page image (which page, loaded or not)."""
    img_id = "#doc-page-img" if prefix == "doc" else "#h-page-img"
    num_id = "#doc-page-num" if prefix == "doc" else "#hdoc-page"
    return page.evaluate(
        """([imgId, numId]) => {
        const i = document.querySelector(imgId);
        return {num: document.querySelector(numId).textContent.trim(), img: i.hidden ? null : Number(i.dataset.page),
                width: i.naturalWidth, complete: i.complete};
    }""",
        [img_id, num_id],
    )


def shows_page(page, n, prefix="doc") -> bool:
    s = shown(page, prefix)
    return s["num"] == str(n) and s["img"] == n and s["complete"] and s["width"] > 0


def wait_page(page, n, what, timeout=10.0, prefix="doc") -> float:
    """Wait until the viewer shows page n with its image loaded; returns how long it took."""
    t0 = time.monotonic()
    poll(lambda: shows_page(page, n, prefix), timeout=timeout, every=0.05, what=f"{what} showing page {n}")
    return time.monotonic() - t0


def test_room_follows_the_presenter(e2e_server, clips, launch, shots):  # noqa: F811
    base = e2e_server.base_url

    # The chair's operator logs in and opens the meeting (a laptop-sized console).
    host = shots["host"] = new_page(launch(clips["chair"]), 1366, 768)
    host.set_default_timeout(15000)
    meeting_id = open_console(host, base)

    # The agenda over the HTTP API, as the logged-in host (session cookie + CSRF header).
    csrf = next(c["value"] for c in host.context.cookies() if c["name"] == "csrftoken")
    hdr = {"X-CSRFToken": csrf, "Referer": f"{base}/web/host.html"}
    resp = host.request.post(
        f"{base}/api/agenda/meetings/{meeting_id}/items",
        headers=hdr,
        data={"title": "Báo cáo kinh tế – xã hội sáu tháng đầu năm", "planned_minutes": 30},
    )
    assert resp.status == 201, resp.text()
    item = resp.json()
    resp = host.request.post(
        f"{base}/api/agenda/meetings/{meeting_id}/items", headers=hdr, data={"title": "Thảo luận, kết luận"}
    )
    assert resp.status == 201, resp.text()
    pdf = make_pdf(
        vietnamese_pages(random.Random(7), 5, extra={3: "Trang bốn: chỉ tiêu tăng trưởng đạt 8,2 phần trăm."}),
        title="Báo cáo tình hình kinh tế – xã hội",
    )
    resp = host.request.post(
        f"{base}/api/agenda/meetings/{meeting_id}/documents",
        headers=hdr,
        multipart={
            "file": {"name": "bao-cao-6-thang.pdf", "mimeType": "application/pdf", "buffer": pdf},
            "title": "Báo cáo tình hình kinh tế – xã hội",
            "item_id": str(item["id"]),
        },
    )
    assert resp.status == 201, resp.text()
    doc = resp.json()
    assert doc["current"]["page_count"] == 5

    # The console lists it; a second, small document goes up through the console's own form.
    host.click("#tab-docs")
    host.wait_for_selector(f'#h-agenda .doc-open[data-document-id="{doc["id"]}"]')
    small = ARTIFACTS / "e2e-du-thao.pdf"
    small.write_bytes(make_pdf(["Dự thảo kết luận của chủ tọa.\nĐồng ý thông qua báo cáo."], title="Dự thảo"))
    host.click("#upload-box summary")
    host.set_input_files("#up-file", str(small))
    host.fill("#up-title", "Dự thảo kết luận")
    host.click("#up-btn")
    host.wait_for_selector('#h-agenda .doc-open:has-text("Dự thảo kết luận")')
    small.unlink()

    # The agenda editor: add an item with its planned minutes, move it up, rename it, remove it.
    def titles():
        return [i["title"] for i in host.request.get(f"{base}/api/agenda/meetings/{meeting_id}/items").json()]

    host.click("#item-box summary")
    host.fill("#item-title", "Các vấn đề phát sinh")
    host.fill("#item-minutes", "15")
    host.click("#item-add")
    added = host.locator('#h-agenda li.agenda-item:has-text("Các vấn đề phát sinh")')
    added.wait_for()
    assert "15 phút" in added.inner_text()
    assert titles() == ["Báo cáo kinh tế – xã hội sáu tháng đầu năm", "Thảo luận, kết luận", "Các vấn đề phát sinh"]
    added.locator("[data-tool=item-up]").click()
    poll(lambda: titles()[1] == "Các vấn đề phát sinh", what="the item moved up")
    host.wait_for_selector('#h-agenda li.agenda-item:nth-child(2):has-text("Các vấn đề phát sinh")')
    added.locator("[data-tool=item-rename]").click()
    host.fill("dialog input", "Các vấn đề phát sinh khác")
    host.click("dialog .btn-primary")
    poll(lambda: "Các vấn đề phát sinh khác" in titles(), what="the item renamed")
    host.locator('#h-agenda li.agenda-item:has-text("phát sinh khác") [data-tool=item-delete]').click()
    host.click("dialog .btn-danger")
    poll(lambda: len(titles()) == 2, what="the item removed")
    host.wait_for_selector('#h-agenda li.agenda-item:has-text("phát sinh")', state="detached")
    assert titles() == ["Báo cáo kinh tế – xã hội sáu tháng đầu năm", "Thảo luận, kết luận"]

    host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")

    # A commune room joins with its link and opens the documents tab: the agenda is there.
    meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
    rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
    links = {t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()}
    room_id = next(r["room_id"] for r in rooms if r["unit_code"] != meeting["host_unit"])
    room = shots["room"] = new_page(launch(clips["a"]))
    room.set_default_timeout(15000)
    room.goto(base + links[room_id])
    room.click("#join-btn:not([disabled])")
    room.wait_for_selector("#conn-badge.ok")
    room.click("#tab-docs")
    room.wait_for_selector(f'#agenda-list li[data-item-id="{item["id"]}"]')
    assert "Báo cáo tình hình kinh tế – xã hội" in room.inner_text("#agenda-list")

    # The chair (re)publishes the agenda: the connected room hears of it at once.
    host.click("#btn-publish")
    host.click("dialog .btn-primary")
    room.wait_for_selector("#agenda-pub:has-text('Phát hành')")

    # The chair moves to item 1: the room's agenda highlights it live.
    host.click(f'#h-agenda li[data-item-id="{item["id"]}"] .item-go')
    room.wait_for_selector(f'#agenda-list li.current[data-item-id="{item["id"]}"]')

    # The room opens the document itself: page 1, a real image from the server.
    room.click(f'#agenda-list .doc-open[data-document-id="{doc["id"]}"]')
    wait_page(room, 1, "room (own reading)")

    # The console opens it and presents page 1, then turns to page 3 with two clicks.
    host.click(f'#h-agenda .doc-open[data-document-id="{doc["id"]}"]')
    wait_page(host, 1, "console preview", prefix="h")
    host.click("#hdoc-present")
    room.wait_for_selector("#sync-badge.ok")
    wait_page(room, 1, "room (synced)")
    host.click("#hdoc-next")
    wait_page(room, 2, "room (synced)")
    host.click("#hdoc-next")
    t0 = time.monotonic()
    wait_page(room, 3, "room (synced)")
    follow_s = time.monotonic() - t0
    assert follow_s < FOLLOW_S, f"the room followed the page turn in {follow_s:.2f} s"
    print(f"room followed page 3 in {follow_s * 1000:.0f} ms")
    wait_page(host, 3, "console preview", prefix="h")

    # The room reads on its own: page 2, while the presenter turns to page 4.
    room.click("#btn-private")
    room.click("#doc-prev")
    wait_page(room, 2, "room (private)")
    host.click("#hdoc-next")
    wait_page(host, 4, "console preview", prefix="h")
    poll(
        lambda: room.evaluate("window.confserver.docs.present && window.confserver.docs.present.page") == 4,
        timeout=5,
        what="the room hearing of page 4",
    )
    time.sleep(0.3)
    assert shows_page(room, 2), shown(room)
    assert "trang 4" in room.inner_text("#sync-badge")
    assert room.is_visible("#btn-follow")

    # Back to the synced view: the presenter's page 4.
    room.click("#btn-follow")
    wait_page(room, 4, "room (back in the synced view)")
    assert room.inner_text("#sync-badge") == "Đang theo người trình bày"
    assert room.is_visible(f'#agenda-list li.current[data-item-id="{item["id"]}"]')

    # The console's read receipts: the room opened the document.
    host.click("#tab-receipts")
    cell = host.locator(f'#receipts-table tr[data-room-id="{room_id}"]')
    cell.wait_for()
    assert "✓" in cell.inner_text()
    host.click("#tab-docs")

    time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    room.screenshot(path=str(ARTIFACTS / "room-documents.png"))
    host.screenshot(path=str(ARTIFACTS / "host-documents.png"))
    host.click("#tab-mv")  # the presenting chip stays in the header while the operator watches the rooms
    assert host.is_visible("#present-chip") and host.is_visible("#mv-grid")
    host.screenshot(path=str(ARTIFACTS / "host-multiview-1366.png"))

    # The room asks for the floor; the chair grants it, then lets it present. The room turns to page 5
    # and presents it: the console's preview follows; it turns back to 4 while presenting, then stops.
    host.click("#tab-docs")
    room.click("#hand-btn")
    grant = host.locator(f'#queue li[data-room-id="{room_id}"] button.grant')
    grant.wait_for()
    grant.click()
    host.wait_for_selector("#speaker:not([hidden])")
    time.sleep(0.3)
    assert not room.is_visible("#btn-present")  # the floor alone does not let a room present
    host.click("#speaker-present")
    room.wait_for_selector("#btn-present:not([hidden])")
    assert host.inner_text("#speaker-present") == "Thôi trình chiếu"
    room.click("#doc-next")
    wait_page(room, 5, "room (reading ahead)")
    room.click("#btn-present")
    wait_page(host, 5, "console preview (the room presents)", prefix="h")
    assert room.inner_text("#sync-badge") == "Phòng của bạn đang trình chiếu"
    room.screenshot(path=str(ARTIFACTS / "room-presenting.png"))
    room.click("#doc-prev")
    wait_page(host, 4, "console preview (the room turned back)", prefix="h")
    room.click("#btn-present-stop")
    host.wait_for_selector("#present-chip", state="hidden")
    # the chair takes the floor back: the room can no longer present
    host.click("#speaker-revoke")
    room.wait_for_selector("#btn-present", state="hidden")
    assert room.inner_text("#hand-btn") == "Xin phát biểu"

    for name, page in (("host", host), ("room", room)):
        assert not page.js_errors, f"{name}: {page.js_errors}"
    shots.clear()

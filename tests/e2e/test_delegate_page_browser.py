"""Issue 14 (delegates), the delegate's own page in real Chromium at tablet and phone sizes.

A delegate opens their personal link read off its QR code (tablet, 1024x768), then the hall's QR link on the same
tablet: they are checked in (qr), and the chair's API counts them present. They open a paper (the page image
loads with their own link), turn a page, and write a private note on it; the note is still there after a reload.
A second delegate (tablet upright, 768x1024) opening the same page sees no note, and their API call for it gets
their own (empty) note. The page fits a phone (390x844) without sideways scrolling. The chair's receipts list the
first delegate as having opened the paper.
"""

import io
import random
import re

import pytest

from confserver.agenda.testing.pdfgen import make_pdf, vietnamese_pages

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER
from .test_meeting_browser import poll

pytestmark = pytest.mark.browser


def page_of(browser, width, height, pages, name):
    ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=True)
    page = ctx.new_page()
    page.set_default_timeout(20000)
    page.js_errors = []
    page.on("pageerror", lambda e: page.js_errors.append(str(e)))
    pages[name] = page
    return page


def read_qr(page, svg: str) -> str:
    """What a phone reads off the QR code: the SVG drawn in a page, photographed, decoded."""
    import zxingcpp
    from PIL import Image

    page.set_content(f'<div id="qr" style="width:300px;background:#fff">{svg}</div>')
    page.eval_on_selector("#qr svg", "s => { s.style.width = '300px'; s.style.height = '300px'; }")
    shot = Image.open(io.BytesIO(page.locator("#qr").screenshot())).convert("L")
    found = [r.text for r in zxingcpp.read_barcodes(shot)]
    assert len(found) == 1, found
    return found[0]


def image_page(page) -> dict:
    return page.evaluate("""() => { const i = document.querySelector('#page-img');
        return {page: Number(i.dataset.page || 0), width: i.naturalWidth, complete: i.complete,
                label: document.querySelector('#page-label').textContent}; }""")


def test_delegate_checks_in_reads_and_keeps_a_private_note(e2e_server, browser):
    base = e2e_server.base_url
    pages = {}
    try:
        _run(base, browser, pages)
    except BaseException:
        for name, p in pages.items():
            try:
                p.screenshot(path=str(ARTIFACTS / f"failed-delegate-{name}.png"))
                (ARTIFACTS / f"failed-delegate-{name}.log").write_text("\n".join(p.js_errors))
            except Exception:
                pass
        raise


def _run(base, chromium, pages):
    # The chair's operator signs in (no console needed) and prepares the meeting over the HTTP API.
    host = page_of(chromium, 1366, 768, pages, "host")
    host.goto(f"{base}/login/")
    host.fill("#id_username", HOST_USER)
    host.fill("#id_password", HOST_PASSWORD)
    host.click("input[type=submit]")
    host.wait_for_url(re.compile(r"/web/"))
    csrf = next(c["value"] for c in host.context.cookies() if c["name"] == "csrftoken")
    hdr = {"X-CSRFToken": csrf, "Referer": f"{base}/web/host.html"}
    api = host.request
    meeting_id = api.get(f"{base}/api/meetings").json()[0]["id"]
    item = api.post(
        f"{base}/api/agenda/meetings/{meeting_id}/items",
        headers=hdr,
        data={"title": "Tờ trình về kế hoạch đầu tư công"},
    ).json()
    pdf = make_pdf(vietnamese_pages(random.Random(3), 3), title="Tờ trình kế hoạch đầu tư công")
    resp = api.post(
        f"{base}/api/agenda/meetings/{meeting_id}/documents",
        headers=hdr,
        multipart={
            "file": {"name": "to-trinh.pdf", "mimeType": "application/pdf", "buffer": pdf},
            "title": "Tờ trình kế hoạch đầu tư công",
            "item_id": str(item["id"]),
        },
    )
    assert resp.status == 201, resp.text()
    doc = resp.json()
    assert api.post(f"{base}/api/agenda/meetings/{meeting_id}/publish", headers=hdr).status == 201
    dg = f"{base}/api/delegates/meetings/{meeting_id}"
    made = []
    for body in (
        {
            "name": "Nguyễn Thị Hoa",
            "position": "Đại biểu HĐND tỉnh",
            "unit": "Sở Kế hoạch và Đầu tư",
            "phone": "0905123001",
        },
        {"name": "Trần Văn Quang", "position": "Đại biểu HĐND tỉnh", "phone": "0905123002"},
    ):
        resp = api.post(f"{dg}/delegates", headers=hdr, data=body)
        assert resp.status == 201, resp.text()
        made.append(resp.json())
    hoa, quang = made
    link_hoa = api.get(f"{dg}/delegates/{hoa['id']}/link").json()
    link_quang = api.get(f"{dg}/delegates/{quang['id']}/link").json()
    hall = api.get(f"{dg}/hall").json()

    # The delegate's tablet reads her personal QR code and opens it.
    tablet = page_of(chromium, 1024, 768, pages, "tablet")
    camera = chromium.new_page()  # the tablet's QR reader: a page of its own, not the delegate page
    url = read_qr(camera, link_hoa["qr_svg"])
    assert url == link_hoa["url"] and "#token=" in url
    tablet.goto(url)
    tablet.wait_for_selector("#delegate-main:not([hidden])")
    assert "Nguyễn Thị Hoa" in tablet.inner_text("#delegate-name")
    assert tablet.inner_text("#checkin-badge") == "Chưa điểm danh"
    assert "#token=" not in tablet.url  # the token left the address bar
    tablet.wait_for_function(f"window.delegateSession && window.delegateSession.delegate.id === {hoa['id']}")

    # At the hall's door she reads the hall's QR code with the same tablet: checked in.
    hall_url = read_qr(camera, hall["qr_svg"])
    assert hall_url == hall["url"]
    tablet.goto(hall_url)
    tablet.wait_for_selector("#checkin-badge:text('Đã điểm danh')")
    assert "Đã điểm danh có mặt" in tablet.inner_text("#delegate-alert")
    listing = api.get(f"{dg}/delegates").json()
    assert listing["quorum"]["present"] == 1 and listing["quorum"]["expected"] == 2
    assert [d["checked_in_by"] for d in listing["delegates"] if d["id"] == hoa["id"]] == ["qr"]
    poll(lambda: tablet.inner_text("#quorum-badge").startswith("Có mặt 1/2"), what="the quorum badge")

    # She opens the paper and turns to page 2: the image is the server's rendering, fetched with her link.
    tablet.click(f'#agenda-list button[data-document="{doc["id"]}"]')
    poll(lambda: image_page(tablet)["page"] == 1 and image_page(tablet)["width"] > 0, what="page 1 shown")
    tablet.click("#page-next")
    poll(
        lambda: (s := image_page(tablet))["page"] == 2 and s["width"] > 0 and s["label"] == "Trang 2/3",
        what="page 2 shown",
    )
    note = "Đề nghị làm rõ nguồn vốn ở mục 2.3"
    tablet.fill("#note-text", note)
    tablet.click("#note-save")
    tablet.wait_for_selector("#note-status:text('Đã lưu ghi chú.')")
    tablet.screenshot(path=str(ARTIFACTS / "delegate-tablet.png"))

    # Kept: after a reload (the token is kept on this tablet) the same page shows her note.
    tablet.goto(f"{base}/web/delegate.html?meeting={meeting_id}")
    tablet.wait_for_selector("#delegate-main:not([hidden])")
    tablet.click(f'#agenda-list button[data-document="{doc["id"]}"]')
    poll(lambda: image_page(tablet)["page"] == 1, what="page 1 after the reload")  # before turning: the viewer is open
    tablet.click("#page-next")
    poll(lambda: tablet.input_value("#note-text") == note, what="her note back after a reload")
    assert tablet.text_content("#my-notes-count") == "1" and "trang 2" in tablet.text_content("#my-notes-list")

    # On a slow network she types on page 3 before its (empty) note arrives: what she typed stays (before: the late
    # answer blanked it, and "Lưu" then erased the page's note).
    held = []  # the page-3 note request, answered only once she has typed
    tablet.route("**/notes/*/3", lambda route: held.append(route))
    tablet.click("#page-next")
    poll(lambda: image_page(tablet)["page"] == 3 and held, what="page 3 and its note request held")
    tablet.fill("#note-text", "Gõ trước khi ghi chú tải xong")
    held[0].continue_()
    tablet.wait_for_timeout(1500)
    assert tablet.input_value("#note-text") == "Gõ trước khi ghi chú tải xong"
    tablet.unroute("**/notes/*/3")

    # Another delegate, tablet upright, on the same page: no note; his API call gets his own (empty) note.
    other = page_of(chromium, 768, 1024, pages, "other")
    other.goto(link_quang["url"])
    other.wait_for_selector("#delegate-main:not([hidden])")
    other.click(f'#agenda-list button[data-document="{doc["id"]}"]')
    other.click("#page-next")
    poll(lambda: image_page(other)["page"] == 2 and image_page(other)["width"] > 0, what="page 2 for the other")
    other.wait_for_timeout(500)
    assert other.input_value("#note-text") == ""
    version_id = doc["current"]["id"]
    seen = other.evaluate(
        "(p) => window.delegateSession.api(p)", f"/api/delegates/meetings/{meeting_id}/notes/{version_id}/2"
    )
    assert seen["text"] == ""
    assert other.evaluate("(p) => window.delegateSession.api(p)", f"/api/delegates/meetings/{meeting_id}/notes") == []
    assert other.inner_text("#checkin-badge") == "Chưa điểm danh"
    other.screenshot(path=str(ARTIFACTS / "delegate-tablet-portrait.png"))

    # A phone: one column, no sideways scroll.
    other.set_viewport_size({"width": 390, "height": 844})
    other.wait_for_timeout(300)
    assert other.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
    assert other.locator("#note-save").is_visible()
    other.screenshot(path=str(ARTIFACTS / "delegate-phone.png"), full_page=True)

    # The chair sees who opened the paper.
    receipts = api.get(f"{dg}/receipts").json()
    opened = {r["delegate_id"]: [o["version_id"] for o in r["opened"]] for r in receipts}
    assert opened[hoa["id"]] == [version_id] and opened[quang["id"]] == [version_id]
    for name, p in pages.items():
        assert not p.js_errors, (name, p.js_errors)


def test_secretary_and_clerk_check_in_and_the_chair_sees_it_live(e2e_server, clips, launch):
    """The console's panel counts present / expected live: the secretary marks a hall delegate in the console's
    list, a remote room's clerk marks the room's delegate from the room page; the quorum is met."""
    from .conftest import open_console
    from .test_meeting_browser import new_page

    base = e2e_server.base_url
    pages = {}
    try:
        host = pages["console"] = new_page(launch(clips["chair"]), 1366, 768)
        meeting_id = open_console(host, base)
        host.click("#btn-test-run")
        host.wait_for_selector("#state-badge.state-test_run")
        csrf = next(c["value"] for c in host.context.cookies() if c["name"] == "csrftoken")
        hdr = {"X-CSRFToken": csrf, "Referer": f"{base}/web/host.html"}
        meeting = host.request.get(f"{base}/api/meetings/{meeting_id}").json()
        rooms = host.request.get(f"{base}/api/meetings/{meeting_id}/attendance").json()["rooms"]
        links = {
            t["room_id"]: t["url"] for t in host.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()
        }
        room = next(r for r in rooms if r["unit_code"] != meeting["host_unit"] and r["room_id"] in links)
        dg = f"{base}/api/delegates/meetings/{meeting_id}"
        hall_one = host.request.post(
            f"{dg}/delegates", headers=hdr, data={"name": "Võ Thị Mai", "phone": "0905777001"}
        ).json()
        room_one = host.request.post(
            f"{dg}/delegates",
            headers=hdr,
            data={"name": "Hồ Văn Nam", "seat": "room", "room_id": room["room_id"], "phone": "0905777002"},
        ).json()
        assert room_one["room_name"] == room["room_name"]
        q = host.request.get(f"{dg}/delegates").json()["quorum"]
        host.reload()
        host.wait_for_selector("#conn-badge.ok")
        poll(lambda: host.inner_text("#dg-count") == f"{q['present']}/{q['expected']}", what="the console's count")

        # The secretary, in the console's list.
        host.click("#dg-open")
        row = host.locator(f'#dg-rows tr[data-delegate-id="{hall_one["id"]}"]')
        row.locator("button:has-text('Điểm danh')").click()
        poll(lambda: "Có mặt" in row.inner_text() and "thư ký" in row.inner_text(), what="marked by the secretary")
        poll(lambda: host.inner_text("#dg-count") == f"{q['present'] + 1}/{q['expected']}", what="count + 1")
        host.click("#dg-dialog .dialog-actions button:has-text('Đóng')")

        # The remote room's clerk, from the room page: the console counts it without a reload.
        page = pages["room"] = new_page(launch(clips["a"]))
        page.goto(base + links[room["room_id"]])
        page.click("#join-btn:not([disabled])")
        page.wait_for_selector("#conn-badge.ok")
        page.wait_for_selector("#room-delegates:not([hidden])")
        assert "Hồ Văn Nam" in page.inner_text("#room-delegates")
        assert "Võ Thị Mai" not in page.inner_text("#room-delegates")  # not this room's
        page.click(f'#room-delegates li[data-delegate-id="{room_one["id"]}"] button')
        page.wait_for_selector("#rd-count:text('1/1 có mặt')")
        poll(lambda: host.inner_text("#dg-count") == f"{q['present'] + 2}/{q['expected']}", what="count + 2, live")
        assert "Đại biểu Hồ Văn Nam có mặt (cán bộ điểm cầu)" in host.inner_text("#log")
        final = host.request.get(f"{dg}/delegates").json()
        by = {d["id"]: d["checked_in_by"] for d in final["delegates"]}
        assert by[hall_one["id"]] == "secretary" and by[room_one["id"]] == "clerk"
        assert host.text_content("#dg-quorum") == ("Đủ số" if final["quorum"]["met"] else "Chưa đủ số")
        timeline = host.request.get(f"{base}/api/meetings/{meeting_id}/timeline").json()
        marks = [(e["data"]["delegate_id"], e["data"]["by"]) for e in timeline if e["kind"] == "delegate_checkin"]
        assert (hall_one["id"], "secretary") in marks and (room_one["id"], "clerk") in marks
        # The meeting's rule: more than two thirds; the panel says how many are needed.
        host.click("#dg-open")
        host.select_option("#dg-rule", "2/3")
        needed = final["quorum"]["expected"] * 2 // 3 + 1
        poll(lambda: host.request.get(f"{dg}/delegates").json()["rule"] == "2/3", what="the rule saved")
        poll(
            lambda: (
                f"cần ít nhất {needed}" in host.inner_text("#dg-text") or f"cần {needed}" in host.inner_text("#dg-text")
            ),
            what="the panel's needed count",
        )
        host.screenshot(path=str(ARTIFACTS / "console-delegates.png"))
        # After a reload the console's log gets its check-ins back from the timeline.
        host.reload()
        host.wait_for_selector("#conn-badge.ok")
        poll(lambda: "Đại biểu Võ Thị Mai có mặt (thư ký)" in host.inner_text("#log"), what="the log from the timeline")
        for name, p in pages.items():
            assert not p.js_errors, (name, p.js_errors)
    except BaseException:
        for name, p in pages.items():
            try:
                p.screenshot(path=str(ARTIFACTS / f"failed-delegate-{name}.png"))
                (ARTIFACTS / f"failed-delegate-{name}.log").write_text("\n".join(p.console_lines + p.js_errors))
            except Exception:
                pass
        raise

"""Issue 14 (delegates), end to end in real Chromium at tablet size: a delegate opens her QR link, checks in at the
hall's QR code, opens a paper and writes a note another delegate cannot see, registers to speak, is called from the
console (her clock runs, on her tablet and on the hall's projector), and votes; a remote room's delegate, checked in
by the room's clerk, votes from a phone; the chair sees the live count, closes the vote, and the hall's projector and
both tablets show the result, both ballots counted."""

import random
import re

import pytest

from confserver.agenda.testing.pdfgen import make_pdf, vietnamese_pages

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER
from .test_delegate_page_browser import image_page, page_of, read_qr
from .test_meeting_browser import poll

pytestmark = pytest.mark.browser

CLOCK = """(sel) => { const c = document.querySelector(sel); return c ? {state: c.dataset.state,
    elapsed: Number(c.dataset.elapsed ?? -1), hidden: c.hidden} : null; }"""


def test_delegate_speaks_and_votes_and_the_hall_shows_the_result(e2e_server, browser):
    pages = {}
    try:
        _run(e2e_server.base_url, browser, pages)
    except BaseException:
        for name, p in pages.items():
            try:
                p.screenshot(path=str(ARTIFACTS / f"failed-votes-{name}.png"), full_page=True)
                (ARTIFACTS / f"failed-votes-{name}.log").write_text("\n".join(p.js_errors))
            except Exception:
                pass
        raise


def _run(base, chromium, pages):
    # The chair's operator signs in and prepares the meeting over the HTTP API.
    host = page_of(chromium, 1366, 900, pages, "host")
    host.goto(f"{base}/login/")
    host.fill("#id_username", HOST_USER)
    host.fill("#id_password", HOST_PASSWORD)
    host.click("input[type=submit]")
    host.wait_for_url(re.compile(r"/web/"))
    csrf = next(c["value"] for c in host.context.cookies() if c["name"] == "csrftoken")
    hdr = {"X-CSRFToken": csrf, "Referer": f"{base}/web/host.html"}
    api = host.request
    meeting_id = api.get(f"{base}/api/meetings").json()[0]["id"]
    r = api.post(f"{base}/api/meetings/{meeting_id}/state", headers=hdr, data={"state": "test_run"})
    assert r.status == 200, r.text()
    item = api.post(
        f"{base}/api/agenda/meetings/{meeting_id}/items",
        headers=hdr,
        data={"title": "Tờ trình về kế hoạch đầu tư công"},
    ).json()
    pdf = make_pdf(vietnamese_pages(random.Random(5), 2), title="Tờ trình kế hoạch đầu tư công")
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
    rooms = api.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()
    remote_room = rooms[-1]
    dg = f"{base}/api/delegates/meetings/{meeting_id}"
    made = []
    for body in (
        {"name": "Nguyễn Thị Hoa", "position": "Đại biểu HĐND tỉnh", "phone": "0905123001"},
        {"name": "Trần Văn Quang", "position": "Đại biểu HĐND tỉnh", "phone": "0905123002"},
        {
            "name": "Lê Thị Lan",
            "position": "Đại biểu HĐND tỉnh",
            "phone": "0905123003",
            "seat": "room",
            "room_id": remote_room["room_id"],
        },
    ):
        resp = api.post(f"{dg}/delegates", headers=hdr, data=body)
        assert resp.status == 201, resp.text()
        made.append(resp.json())
    hoa, quang, lan = made
    link = {d["id"]: api.get(f"{dg}/delegates/{d['id']}/link").json() for d in made}
    hall_qr = api.get(f"{dg}/hall").json()

    # Hoa's tablet (1024x768) reads her QR code, then the hall's: checked in.
    # (The codes are read on a page of their own: set_content on the tablet's live page would pull its DOM from
    # under the page's scripts still loading.)
    camera = page_of(chromium, 800, 600, pages, "camera")
    tablet = page_of(chromium, 1024, 768, pages, "hoa")
    tablet.goto(read_qr(camera, link[hoa["id"]]["qr_svg"]))
    tablet.wait_for_selector("#delegate-main:not([hidden])")
    tablet.goto(read_qr(camera, hall_qr["qr_svg"]))
    tablet.wait_for_selector("#checkin-badge:text('Đã điểm danh')")

    # She opens the paper and writes a note on page 1; Quang's call for that page's note gets his own (empty) one.
    tablet.click(f'#agenda-list button[data-document="{doc["id"]}"]')
    poll(lambda: image_page(tablet)["page"] == 1 and image_page(tablet)["width"] > 0, what="the paper's page 1")
    tablet.fill("#note-text", "Hỏi về nguồn vốn")
    tablet.click("#note-save")
    tablet.wait_for_selector("#note-status:text('Đã lưu ghi chú.')")
    quang_page = page_of(chromium, 768, 1024, pages, "quang")
    quang_page.goto(link[quang["id"]]["url"])
    quang_page.wait_for_selector("#delegate-main:not([hidden])")
    seen = quang_page.evaluate(
        "(p) => window.delegateSession.api(p)", f"/api/delegates/meetings/{meeting_id}/notes/{doc['current']['id']}/1"
    )
    assert seen["text"] == ""

    # The remote room's clerk checks Lan in with the room's own link; she opens her link on a phone.
    clerk = chromium.new_context()  # the room's terminal: its link, no session
    r = clerk.request.post(
        f"{dg}/delegates/{lan['id']}/checkin", headers={"Authorization": f"Bearer {remote_room['token']}"}
    )
    assert r.status == 200 and r.json()["delegate"]["checked_in_by"] == "clerk", r.text()
    clerk.close()
    phone = page_of(chromium, 390, 844, pages, "lan")
    phone.goto(link[lan["id"]]["url"])
    phone.wait_for_selector("#delegate-main:not([hidden])")

    # Hoa registers to speak.
    tablet.wait_for_selector("#speak-topic")
    tablet.fill("#speak-topic", "Về nguồn vốn đầu tư công")
    tablet.click("#speak-register")
    tablet.wait_for_selector("#speak-mine")
    assert "thứ tự 1/1" in tablet.inner_text("#speak-mine")

    # The console: her registration is in the queue; the chair calls her with 2 minutes.
    console = host  # the operator's signed-in page opens the console
    console.goto(f"{base}/web/host.html?meeting={meeting_id}")
    console.wait_for_selector("#conn-badge.ok")
    console.wait_for_selector("#vt-queue li .vt-call")
    assert "Nguyễn Thị Hoa" in console.inner_text("#vt-queue")
    console.select_option("#vt-limit", "120")
    console.click("#vt-queue li .vt-call")
    tablet.wait_for_selector("#speak-now.mine")
    first = poll(
        lambda: (c := tablet.evaluate(CLOCK, "#speak-clock")) and c["state"] == "running" and c,
        what="her clock running",
    )
    poll(lambda: tablet.evaluate(CLOCK, "#speak-clock")["elapsed"] > first["elapsed"], what="her clock moving")
    console.wait_for_selector("#vt-current")
    projector = host.context.new_page()  # the projector's PC, signed in on the chair's side
    projector.set_viewport_size({"width": 1280, "height": 720})
    projector.js_errors = []
    projector.on("pageerror", lambda e: projector.js_errors.append(str(e)))
    pages["hall"] = projector
    projector.goto(f"{base}/web/hall.html?meeting={meeting_id}")
    projector.wait_for_selector("#hall-speaker-name:text('Nguyễn Thị Hoa')")
    poll(lambda: (c := projector.evaluate(CLOCK, "#hall-clock")) and c["state"] == "running", what="the hall's clock")
    tablet.screenshot(path=str(ARTIFACTS / "votes-tablet-speaking.png"))
    console.click("#vt-end")
    tablet.wait_for_selector("#speak-now", state="detached")

    # The chair opens a vote on the question; both delegates vote, Hoa from the hall, Lan from her room.
    console.fill("#vt-question", "Thông qua Tờ trình về kế hoạch đầu tư công")
    console.select_option("#vt-time", "300")
    console.click("#vt-open")
    for page, choice in ((tablet, "yes"), (phone, "no")):
        page.wait_for_selector(f"#vote-{choice}")
        assert "Thông qua Tờ trình" in page.inner_text("#vote-question")
        page.click(f"#vote-{choice}")
        page.click("#vote-send")
        page.wait_for_selector("#vote-done")
    assert "Tán thành" in tablet.inner_text("#vote-done") and "Không tán thành" in phone.inner_text("#vote-done")
    # Quang is not checked in: no choice offered.
    quang_page.wait_for_selector("#vote-question")
    assert quang_page.locator("#vote-yes").count() == 0 and "điểm danh" in quang_page.inner_text("#vote")
    poll(lambda: "Đã biểu quyết 2/2" in console.inner_text("#vt-live"), what="the chair's live count")
    projector.wait_for_selector("#hall-count")
    # The count refreshes each second in place: the close button is not replaced under the chair's finger.
    close = console.query_selector("#vt-close")
    left = console.inner_text("#vt-left")
    poll(lambda: console.inner_text("#vt-left") != left, what="the time left refreshed")
    assert close.evaluate("(b) => b.isConnected"), "the close button was replaced by a refresh"
    close.click()

    # The result, with its rule, on the projector and both tablets: 1 for, 1 against of 3 delegates -> not passed.
    projector.wait_for_selector("#hall-result")
    text = projector.inner_text("#hall-result")
    assert "Tán thành: 1" in text and "Không tán thành: 1" in text and "KHÔNG ĐƯỢC THÔNG QUA" in text
    assert "Quá nửa tổng số đại biểu" in text and "2/3" in text
    for page in (tablet, phone):
        page.wait_for_selector("#vote-result")
        assert "KHÔNG ĐƯỢC THÔNG QUA" in page.inner_text("#vote-result")
    projector.screenshot(path=str(ARTIFACTS / "votes-hall.png"))
    phone.screenshot(path=str(ARTIFACTS / "votes-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
    votes = api.get(f"{base}/api/votes/meetings/{meeting_id}/votes").json()["votes"]
    assert votes[0]["result"]["voters"] == 2 and votes[0]["result"]["yes"] == 1 and votes[0]["result"]["no"] == 1
    kinds = [e["kind"] for e in api.get(f"{base}/api/meetings/{meeting_id}/timeline").json()]
    assert {"speaker_registered", "speaker_called", "speaker_ended", "vote_opened", "vote_closed"} <= set(kinds)
    for name, p in pages.items():
        assert not p.js_errors, (name, p.js_errors)

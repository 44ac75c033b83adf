"""Search in the documents on the room page and in the console (issue 12, item 7), in Chromium.

A delegate types "thien tai" (no diacritics) in the documents tab: the hits name the document, the page and a
snippet with "thiên tai" highlighted; a click opens that document at that page in "Xem riêng" (what the other
rooms see does not change: the chair's presentation goes on at its page). The same at 390x844, with no
sideways scroll. The console's documents panel has the same box: a hit opens its preview at the page.
"""

import pytest

from confserver.agenda.testing.pdfgen import make_pdf

from .conftest import ARTIFACTS
from .test_meeting_browser import poll
from .test_viewports_browser import assert_fits, chromium, joined, meeting, room_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PHRASE = "Kế hoạch ứng phó thiên tai và tìm kiếm cứu nạn mùa mưa bão được Ủy ban thông qua."
TITLE = "Kế hoạch ứng phó thiên tai"

HITS = """(prefix) => [...document.querySelectorAll(`#${prefix}-hits .ds-hit`)].map((b) => ({
  doc: Number(b.dataset.documentId), page: Number(b.dataset.page), text: b.innerText,
  marks: [...b.querySelectorAll("mark")].map((m) => m.textContent)}))"""

VIEW = """() => { const i = document.querySelector('#doc-page-img');
  return {num: document.querySelector('#doc-page-num').textContent.trim(), img: i.hidden ? null : Number(i.dataset.page),
          version: Number(i.dataset.versionId), loaded: i.complete && i.naturalWidth > 0,
          title: document.querySelector('#doc-title').textContent, badge: document.querySelector('#sync-badge').textContent}; }"""


@pytest.fixture(scope="module")
def plan(meeting):  # noqa: F811
    """The meeting in its test run, presenting page 1 of its first document; a second document has the phrase on page 3."""
    meeting.open()
    pages = [
        "Trang 1\nMục tiêu: bảo đảm an toàn cho người dân.",
        "Trang 2\nNguồn lực: lực lượng, phương tiện, vật tư.",
        f"Trang 3\n{PHRASE}",
        "Trang 4\nTổ chức thực hiện.",
    ]
    pdf = make_pdf(pages, title=TITLE)
    doc = meeting.api(
        "POST",
        f"/api/agenda/meetings/{meeting.id}/documents",
        multipart={"file": {"name": "ke-hoach.pdf", "mimeType": "application/pdf", "buffer": pdf}, "title": TITLE},
    )
    meeting.present(1)
    return doc


def search_and_open(page, doc, where):
    page.click("#tab-docs")
    page.fill("#ds-q", "thien tai")
    hits = poll(lambda: page.evaluate(HITS, "ds"), what=f"{where}: search hits")
    mine = [h for h in hits if h["doc"] == doc["id"]]
    assert [h["page"] for h in mine] == [3], f"{where}: {hits}"
    assert TITLE in mine[0]["text"] and "Trang 3" in mine[0]["text"]
    assert [m.lower() for m in mine[0]["marks"]] == ["thiên", "tai"], mine[0]  # the words found, highlighted
    page.click(f'#ds-hits .ds-hit[data-document-id="{doc["id"]}"][data-page="3"]')
    view = poll(
        lambda: (v := page.evaluate(VIEW))["loaded"] and v["img"] == 3 and v["version"] == doc["current"]["id"] and v,
        what=f"{where}: the viewer on the hit's page",
    )
    assert view["num"] == "3" and view["title"] == TITLE
    assert view["badge"].startswith("Đang xem riêng"), view  # the room reads privately
    # Nobody else's view moved: the presentation is still the first document's page 1.
    present = page.evaluate("window.confserver.docs.present")
    assert present["page"] == 1 and present["document_id"] != doc["id"]


def test_room_search_opens_the_hit(meeting, chromium, plan):  # noqa: F811
    desk = room_page(meeting, chromium, 1600, 900)
    joined(desk)
    search_and_open(desk, plan, "1600x900")
    assert not desk.js_errors
    desk.screenshot(path=str(ARTIFACTS / "doc-search-1600.png"))
    desk.context.close()


def test_room_search_on_a_phone(meeting, chromium, plan):  # noqa: F811
    phone = room_page(meeting, chromium, 390, 844)
    joined(phone)
    phone.click("#tab-docs")
    phone.fill("#ds-q", "thien tai")
    poll(lambda: phone.evaluate(HITS, "ds"), what="390x844: search hits")
    phone.locator("#ds-hits").scroll_into_view_if_needed()
    assert_fits(phone, "390x844 with search hits")
    phone.screenshot(path=str(ARTIFACTS / "doc-search-390.png"))
    search_and_open(phone, plan, "390x844")
    # The viewer is brought on screen and fills the width.
    r = phone.evaluate(
        "(() => { const r = document.querySelector('#doc-page-img').getBoundingClientRect(); return {top: r.top, w: r.width}; })()"
    )
    assert r["top"] < 844 and r["w"] >= 0.9 * 390 * 0.9, r
    assert_fits(phone, "390x844 on the hit's page")
    assert not phone.js_errors
    phone.context.close()


def test_console_search_opens_the_preview(meeting, plan):  # noqa: F811
    host = meeting.host
    host.click("#tab-docs")
    host.fill("#hds-q", "thien tai")
    hits = poll(lambda: host.evaluate(HITS, "hds"), what="console: search hits")
    assert any(h["doc"] == plan["id"] and h["page"] == 3 for h in hits), hits
    host.click(f'#hds-hits .ds-hit[data-document-id="{plan["id"]}"][data-page="3"]')
    poll(
        lambda: host.evaluate("""() => { const i = document.querySelector('#h-page-img');
        return !i.hidden && i.dataset.page === '3' && document.querySelector('#hdoc-page').textContent.trim() === '3'
               && document.querySelector('#hdoc-title').textContent.includes('ứng phó thiên tai'); }"""),
        what="console preview on page 3",
    )
    # A preview only: the rooms are still shown page 1 of the other document.
    assert host.evaluate("window.confserver.docs.present.page") == 1
    host.screenshot(path=str(ARTIFACTS / "doc-search-console.png"))

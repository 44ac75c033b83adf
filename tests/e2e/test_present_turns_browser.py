"""The console's quick page turns while presenting, in real Chromium against a real server.

The server answers a `present` request ("ok") before its `present` event reaches the console. The console used
to follow the presented page as soon as the answer came, i.e. the page before: its preview went back a page
for a moment, and a second "Trang sau" clicked in that moment presented the same page again, so every room
stayed a page behind. Here the console's `present` events are held back 0.7 s in the page (messages keep their
order), which makes that moment long; two clicks 0.25 s apart must still move every room two pages on.
Fails without the fix in web/js/host-docs.js (presentPage asks for sync_state instead of following at once).
"""

import random
import time

import pytest

from confserver.agenda.testing.pdfgen import make_pdf, vietnamese_pages

from .conftest import open_console
from .test_documents_browser import wait_page
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser

# Hold back every incoming `present` event 0.7 s; later messages wait behind it (the socket's order is kept).
LATE_PRESENT_EVENTS = """(() => {
  const Orig = window.WebSocket;
  window.WebSocket = class extends Orig {
    set onmessage(fn) {
      const queue = [];
      let busy = false;
      const pump = () => {
        if (busy || !queue.length) return;
        const e = queue.shift();
        busy = true;
        setTimeout(() => { busy = false; fn.call(this, e); pump(); }, /"event":"present"/.test(e.data) ? 700 : 0);
      };
      super.onmessage = (e) => { queue.push(e); pump(); };
    }
  };
})();"""


def test_two_quick_page_turns_move_every_room_two_pages(e2e_server, clips, launch, shots):  # noqa: F811
    base = e2e_server.base_url
    host = shots["turns-host"] = new_page(launch(clips["chair"]), 1366, 768)
    host.add_init_script(LATE_PRESENT_EVENTS)
    meeting_id = open_console(host, base)
    csrf = next(c["value"] for c in host.context.cookies() if c["name"] == "csrftoken")
    hdr = {"X-CSRFToken": csrf, "Referer": f"{base}/web/host.html"}
    resp = host.request.post(
        f"{base}/api/agenda/meetings/{meeting_id}/documents",
        headers=hdr,
        multipart={
            "file": {
                "name": "ke-hoach.pdf",
                "mimeType": "application/pdf",
                "buffer": make_pdf(vietnamese_pages(random.Random(3), 5), title="Kế hoạch"),
            },
            "title": "Kế hoạch năm",
        },
    )
    assert resp.status == 201, resp.text()
    doc = resp.json()

    host.click("#btn-test-run")
    host.wait_for_selector("#state-badge.state-test_run")
    host.click("#tab-docs")
    host.click(f'#h-agenda .doc-open[data-document-id="{doc["id"]}"]')
    wait_page(host, 1, "console preview", timeout=30, prefix="h")
    host.click("#hdoc-present")
    host.wait_for_selector("#hdoc-badge:has-text('Mọi phòng đang xem trang 1')")

    def presented():
        return host.request.get(f"{base}/api/agenda/meetings/{meeting_id}/sync").json()

    for start in (1, 3):
        host.click("#hdoc-next")
        time.sleep(0.25)  # the operator's second click: after the first one's answer, before its event
        host.click("#hdoc-next")
        want = f"Mọi phòng đang xem trang {start + 2}"
        poll(lambda: host.text_content("#hdoc-badge") == want, timeout=15, what=want)
        wait_page(host, start + 2, "console preview", timeout=15, prefix="h")
    assert presented()["present"]["page"] == 5  # what the server holds for every room
    assert not host.js_errors, host.js_errors
    shots.clear()

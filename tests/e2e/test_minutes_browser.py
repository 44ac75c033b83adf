"""The minutes (biên bản) editor in real Chromium, against a real server that signs finalised minutes.

Proves: the chair's operator, on a tablet-sized screen (768 x 1024), opens web/minutes.html?meeting=N of an
ended meeting with a recording, gets the draft from the record, edits the number, a line and the conclusions;
a save that fails (the connection drops) says so and keeps every edit, and leaving the page then warns; after
a reload the unsaved edits are offered back; a save sticks across a reload; finalising asks first and leaves
the page read-only; the downloaded PDF holds the conclusions and the last segment hash, and is signed (pyHanko:
intact, whole file). A reviewer reads the minutes and cannot edit them.
"""

import hashlib
import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from confserver.agenda.testing.signing import make_identity
from confserver.testing import live

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
SIGNER_CN = "Văn phòng UBND thành phố Huế"
REVIEWER = "xemlai-hue"

# Run inside the server's environment (manage.py shell): end the demo meeting as its host, give it a
# recording of two chained segments, print the meeting id and the last hash.
PREPARE = """
import hashlib
from datetime import timedelta
from django.utils import timezone
from confserver.accounts.models import User
from confserver.recording.models import Segment, SegmentState
from confserver.rooms import meetings
from confserver.rooms.models import Meeting
host = User.objects.get(username="chutri-hue")
m = Meeting.objects.filter(title__startswith="Hội nghị trực tuyến (demo)").get()
for state in ("test_run", "live", "ended"):
    meetings.change_state(host, m.id, state)
prev, start = "", timezone.now() - timedelta(minutes=10)
for i in range(2):
    digest = hashlib.sha256(f"segment {i} {prev}".encode()).hexdigest()
    Segment.objects.create(meeting=m, index=i, started_at=start + timedelta(minutes=5 * i),
                           ended_at=start + timedelta(minutes=5 * i + 5), path=f"{m.id}/{i}.webm", bytes=1,
                           sha256=digest, previous_sha256=prev, state=SegmentState.CLOSED)
    prev = digest
print(f"MEETING {m.id} {prev}")
"""


def last_hash() -> str:
    prev = ""
    for i in range(2):
        prev = hashlib.sha256(f"segment {i} {prev}".encode()).hexdigest()
    return prev


@pytest.fixture(scope="module")
def minutes_server(tmp_path_factory):
    """A real confserver with a signing certificate configured and an ended demo meeting that was recorded."""
    tmp = tmp_path_factory.mktemp("minutes-server")
    ARTIFACTS.mkdir(exist_ok=True)
    ident = make_identity(signer_cn=SIGNER_CN)
    p12 = tmp / "ky-so.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bien-ban",
            serialization.load_der_private_key(ident.key_der, None),
            x509.load_der_x509_certificate(ident.cert_der),
            [x509.load_der_x509_certificate(ident.ca_der)],
            serialization.BestAvailableEncryption(b"mat-khau"),
        )
    )
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
            MINUTES_SIGNING_P12=str(p12),
            MINUTES_SIGNING_PASSWORD="mat-khau",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        out = live.manage(env, "shell", "-c", PREPARE)
        meeting_id, digest = re.search(r"MEETING (\d+) ([0-9a-f]{64})", out).groups()
        assert digest == last_hash()
        with live.daphne(env, port, ARTIFACTS / "e2e-minutes-server.log"):
            yield {"base": origin, "meeting": int(meeting_id), "ca_der": ident.ca_der}


def sign_in(page, base, url, user, password):
    page.goto(f"{base}/login/?next={url}")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(re.escape(url.split("?")[0])))


def section_line(page, heading_prefix: str):
    """The first line's textarea of the section whose heading starts with `heading_prefix`."""
    i = page.evaluate(
        "p => [...document.querySelectorAll('.mn-heading')].findIndex(h => h.value.startsWith(p))", heading_prefix
    )
    assert i >= 0, heading_prefix
    return page.locator(".mn-section").nth(i).locator(".mn-line-text").first


def fits(page) -> bool:
    """Nothing wider than the screen (a tablet must not scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_edit_save_finalise_download(minutes_server, browser, shots, tmp_path):  # noqa: F811
    base, mid = minutes_server["base"], minutes_server["meeting"]
    url = f"/web/minutes.html?meeting={mid}"
    page = shots["minutes"] = new_page(browser, 768, 1024)  # a tablet held upright
    sign_in(page, base, url, HOST_USER, HOST_PASSWORD)

    # The draft from the record.
    page.wait_for_selector("#mn-form:not([hidden])")
    assert "chưa lưu" in page.inner_text("#mn-state")
    headings = page.eval_on_selector_all(".mn-heading", "els => els.map(e => e.value)")
    assert "Thành phần tham dự" in headings and "Hình thức" in headings
    assert last_hash() in page.inner_text("#mn-seal-edit")

    # Edits: number, one line, the conclusions.
    page.fill("#mn-number", "21/BB-UBND")
    page.fill("#mn-secretary", "Trần Thị Hương")
    line = section_line(page, "Hình thức")
    line.fill("Họp trực tuyến từ Phòng họp Thành phố Huế tới 40 điểm cầu xã, phường.")
    conclusions = "Giao Sở Tài chính chủ trì, tổng hợp kinh phí phòng chống lụt bão; báo cáo trước ngày 20/12."
    page.fill("#mn-conclusions", conclusions)
    assert "chưa lưu" in page.inner_text("#mn-status")

    # A save that fails: the connection drops. The page says so and keeps everything.
    page.route(
        re.compile(r".*/api/minutes/meetings/\d+$"),
        lambda route: route.abort() if route.request.method == "PUT" else route.continue_(),
    )
    page.click("#mn-save")
    poll(lambda: "không thành công" in page.inner_text("#mn-status"), what="the failed save reported")
    assert page.get_attribute("#mn-status", "class") == "bad"
    assert page.input_value("#mn-conclusions") == conclusions and page.input_value("#mn-number") == "21/BB-UBND"
    page.unroute(re.compile(r".*/api/minutes/meetings/\d+$"))

    # Leaving with unsaved edits asks first; after the reload the edits are offered back.
    asked = []

    def on_dialog(d):
        asked.append(d.type)
        d.accept()

    page.on("dialog", on_dialog)
    page.reload()
    page.remove_listener("dialog", on_dialog)
    assert asked == ["beforeunload"]
    page.wait_for_selector("#mn-restore:not([hidden])")
    assert page.input_value("#mn-conclusions") == ""  # the server never had them
    page.click("#mn-restore-yes")
    assert page.input_value("#mn-conclusions") == conclusions
    assert page.input_value("#mn-number") == "21/BB-UBND"

    # Now the save goes through and sticks across a reload.
    page.click("#mn-save")
    poll(lambda: "Đã lưu" in page.inner_text("#mn-status"), what="the save confirmed")
    page.reload()
    page.wait_for_selector("#mn-form:not([hidden])")
    assert page.input_value("#mn-conclusions") == conclusions
    assert page.input_value("#mn-number") == "21/BB-UBND"
    assert page.input_value("#mn-secretary") == "Trần Thị Hương"
    assert (
        section_line(page, "Hình thức").input_value()
        == "Họp trực tuyến từ Phòng họp Thành phố Huế tới 40 điểm cầu xã, phường."
    )
    assert page.is_hidden("#mn-restore")
    assert fits(page)
    page.screenshot(path=str(ARTIFACTS / "minutes-editor-768.png"), full_page=True)

    # Finalise: a confirmation, then read-only and signed.
    page.click("#mn-finalize")
    page.wait_for_selector("dialog[open]")
    assert "ký số" in page.inner_text("dialog[open]")
    page.click("dialog[open] .btn-primary")
    page.wait_for_selector("#mn-view:not([hidden])")
    assert page.is_hidden("#mn-form") and page.is_hidden("#mn-save") and page.is_hidden("#mn-finalize")
    assert "đã ký số" in page.inner_text("#mn-state")
    assert page.inner_text("#mn-view-conclusions") == conclusions
    assert page.inner_text("#mn-hash") == last_hash()
    view = page.inner_text("#mn-view")
    for expected in (
        "21/BB-UBND",
        "Trần Thị Hương",
        "Thành phần tham dự",
        "Họp trực tuyến từ Phòng họp Thành phố Huế tới 40 điểm cầu xã, phường.",
    ):
        assert expected in view, expected
    assert "[object" not in view
    assert fits(page)

    # The PDF downloads, holds the conclusions and the hash, and its signature covers the whole file.
    with page.expect_download() as dl:
        page.click("#mn-pdf")
    path = tmp_path / "bien-ban.pdf"
    dl.value.save_as(path)
    data = path.read_bytes()
    doc = pypdfium2.PdfDocument(io.BytesIO(data))
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    doc.close()
    flat = re.sub(r"\s+", " ", text)
    assert re.sub(r"\s+", " ", conclusions) in flat and "21/BB-UBND" in flat and last_hash() in text
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures
    assert len(sig) == 1
    from asn1crypto import x509 as asn1_x509

    ctx = ValidationContext(trust_roots=[asn1_x509.Certificate.load(minutes_server["ca_der"])], allow_fetching=False)
    with ThreadPoolExecutor(1) as pool:  # pyHanko runs its own event loop; Playwright's holds this thread
        st = pool.submit(validate_pdf_signature, sig[0], ctx).result(timeout=60)
    assert st.intact and st.trusted and st.coverage.name == "ENTIRE_FILE"
    page.screenshot(path=str(ARTIFACTS / "minutes-final-768.png"), full_page=True)
    assert page.js_errors == []

    # A reviewer reads it; nothing to edit.
    reader = shots["minutes-reviewer"] = new_page(browser, 1024, 768)  # its own context
    sign_in(reader, base, url, REVIEWER, HOST_PASSWORD)
    reader.wait_for_selector("#mn-view:not([hidden])")
    assert reader.inner_text("#mn-view-conclusions") == conclusions and "21/BB-UBND" in reader.inner_text("#mn-view")
    assert reader.is_hidden("#mn-save") and reader.is_hidden("#mn-finalize") and reader.is_hidden("#mn-form")
    assert reader.js_errors == []

"""Issue 13, item 4 in real Chromium at tablet size (768 x 1024): a host whose role must use a second factor
(OTP_REQUIRED_ROLES=host,admin) signs in with the demo password, enrols (the QR code on the screen reads as the
secret shown for manual entry), enters the app's code, keeps the backup codes and reaches the console; the next
sign-in asks the code: a wrong one is refused in Vietnamese, a backup code works once. Room links never meet it."""

import io
import os
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from confserver.testing import live

from .conftest import ARTIFACTS, HOST_PASSWORD, HOST_USER, ROOT, Server
from .test_meeting_browser import new_page, poll, shots  # noqa: F401  (shots is a fixture)
from .test_signin_browser import assert_vietnamese, no_sideways_scroll, sign_in

pytestmark = pytest.mark.browser
TABLET = {"width": 768, "height": 1024}


@pytest.fixture(scope="module")
def otp_server(tmp_path_factory):
    """Like tests/e2e's server, with the second factor required for hosts and administrators."""
    tmp = tmp_path_factory.mktemp("e2e-2fa")
    ARTIFACTS.mkdir(exist_ok=True)
    port = live.free_port()
    origin = f"http://127.0.0.1:{port}"
    log = ARTIFACTS / "e2e-2fa-server.log"
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
            OTP_REQUIRED_ROLES="host,admin",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        with live.daphne(env, port, log):
            yield Server(base_url=origin, log=log)


def read_qr(page) -> str:
    import zxingcpp
    from PIL import Image

    shot = Image.open(io.BytesIO(page.locator("#otp-qr").screenshot())).convert("L")
    read = [r.text for r in zxingcpp.read_barcodes(shot)]
    assert len(read) == 1, read
    return read[0]


def test_enrol_then_sign_in_with_a_code_and_a_backup_code_on_a_tablet(otp_server, clips, launch, shots):
    base = otp_server.base_url
    browser = launch(clips["a"])

    # The password alone: the enrolment page, not the console.
    ctx = browser.new_context(viewport=TABLET)
    page = ctx.new_page()
    shots["2fa-enrol"] = page
    page.js_errors, page.console_lines = [], []
    sign_in(page, base, HOST_USER, HOST_PASSWORD, "/web/host.html")
    page.wait_for_url("**/login/otp/enrol/")
    assert_vietnamese(page, "enrolment page")
    assert no_sideways_scroll(page)
    secret = page.inner_text("#otp-secret").replace(" ", "")
    uri = read_qr(page)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp" and HOST_USER in unquote(parsed.path)
    assert parse_qs(parsed.query)["secret"] == [secret]
    assert page.locator("#otp-qr").bounding_box()["width"] >= 200
    page.screenshot(path=str(ARTIFACTS / "2fa-enrol-tablet.png"), full_page=True)
    # The console's API refuses this browser until the code is in.
    assert page.evaluate("fetch('/api/accounts/me').then(r => r.status)") == 401

    totp = pyotp.TOTP(secret)
    page.fill("#id_code", "000000" if totp.now() != "000000" else "111111")
    page.click("#otp-form input[type=submit]")
    page.wait_for_selector("#otp-error")
    assert "Mã không đúng" in page.inner_text("#otp-error")
    page.fill("#id_code", totp.now())
    page.click("#otp-form input[type=submit]")
    page.wait_for_selector("#otp-codes")
    codes = [c.strip() for c in page.locator("#otp-codes code").all_inner_texts()]
    assert len(codes) == 10
    assert_vietnamese(page, "backup codes page")
    assert no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "2fa-backup-codes-tablet.png"), full_page=True)
    page.click("#otp-continue")
    page.wait_for_url("**/web/host.html**")
    page.wait_for_selector("#account-name")
    assert page.inner_text("#account-name") == HOST_USER

    # A room's signed link (handed out by this host) opens the room page's lobby with no password and no code.
    meeting_id = page.request.get(f"{base}/api/meetings").json()[0]["id"]
    link = page.request.get(f"{base}/api/meetings/{meeting_id}/room-tokens").json()[0]
    room_ctx = browser.new_context(viewport=TABLET)
    room = room_ctx.new_page()
    room.goto(base + link["url"])
    room.wait_for_selector("#lobby-room")
    assert "/login/" not in room.url and room.inner_text("#lobby-room").strip()
    room_ctx.close()
    ctx.close()

    # The next sign-in asks the code; a wrong one is refused, a backup code lets in, once.
    ctx = browser.new_context(viewport=TABLET)
    page = ctx.new_page()
    shots["2fa-verify"] = page
    page.js_errors, page.console_lines = [], []
    sign_in(page, base, HOST_USER, HOST_PASSWORD, "/web/host.html")
    page.wait_for_url("**/login/otp/")
    assert_vietnamese(page, "code page")
    assert no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "2fa-verify-tablet.png"), full_page=True)
    page.fill("#id_code", codes[0])
    page.click("#otp-form input[type=submit]")
    page.wait_for_url("**/web/host.html**")
    page.wait_for_selector("#account-name")
    ctx.close()

    ctx = browser.new_context(viewport=TABLET)
    page = ctx.new_page()
    sign_in(page, base, HOST_USER, HOST_PASSWORD, "/web/host.html")
    page.wait_for_url("**/login/otp/")
    page.fill("#id_code", codes[0])
    page.click("#otp-form input[type=submit]")
    page.wait_for_selector("#otp-error")
    assert "/login/otp/" in page.url
    assert poll(lambda: page.evaluate("fetch('/api/accounts/me').then(r => r.status)") == 401, what="still out")
    ctx.close()

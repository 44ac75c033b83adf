"""Issue 13, item 4: a second factor (TOTP) for hosts and administrators, required by a setting. The password alone
reaches neither the console's API nor the admin; a wrong or replayed code is refused; a backup code works once;
codes are throttled like passwords; an administrator resets a lost phone; room links never meet it."""

import json
import os
import re
import time
import uuid

import pyotp
import pytest
from django.test import Client

from confserver.accounts.models import Role
from confserver.audit.models import AuditEvent
from confserver.twofactor import factor
from confserver.twofactor.models import BackupCode, TOTPDevice
from tests.accounts.english import english_in, visible_text

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123456"  # make_user's


@pytest.fixture(autouse=True)
def required(settings):
    """Hosts and administrators must pass the factor; throttle counters of this test's own (real Redis)."""
    settings.OTP_REQUIRED_ROLES = ["host", "admin"]
    prefix = f"test-2fa-{uuid.uuid4().hex}"
    if os.environ.get("REDIS_URL"):
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": os.environ["REDIS_URL"],
                "KEY_PREFIX": prefix,
            }
        }
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}}
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5


@pytest.fixture
def host(hue2025, make_user):
    return make_user("chutri-2fa", Role.HOST, unit=hue2025)


def enrolled(user) -> pyotp.TOTP:
    device = factor.start_enrolment(user)
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed_at="2026-01-01T00:00:00Z")
    return pyotp.TOTP(device.secret)


def code_at(totp, offset_steps=0):
    return totp.at(time.time() + 30 * offset_steps)


def password(client, user, url="/login/", next_url=""):
    body = {"username": user.get_username(), "password": PASSWORD}
    if next_url:
        body["next"] = next_url
    return client.post(url, body, REMOTE_ADDR="10.2.0.1")


def send_code(client, code, url="/login/otp/"):
    return client.post(url, {"code": code}, REMOTE_ADDR="10.2.0.1")


def actions(user=None):
    rows = AuditEvent.objects.order_by("id")
    return [e.action for e in (rows.filter(user_id=user.pk) if user else rows)]


def test_password_alone_reaches_neither_console_api_nor_admin(client, host, hue2025, make_user):
    totp = enrolled(host)
    r = password(client, host, next_url="/web/host.html")
    assert r.status_code == 302 and r["Location"] == "/login/otp/"
    assert "_auth_user_id" not in client.session
    me = client.get("/api/accounts/me")
    assert me.status_code == 401 and me.json()["code"] == "unauthenticated"
    assert client.get("/api/meetings").status_code == 401

    # A session signed in by the password alone (before the setting, or any path that skipped the code): refused.
    other = Client()
    other.force_login(host)
    r = other.get("/api/meetings")
    assert r.status_code == 401 and r.json()["code"] == "otp_required"
    assert "xác thực hai lớp" in r.json()["message"]
    admin = make_user("quantri-2fa", Role.ADMIN, unit=hue2025)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    staff = Client()
    staff.force_login(admin)
    r = staff.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/admin/login/")
    page = client.get("/login/otp/")
    assert page.status_code == 200 and not english_in(visible_text(page.content.decode()))

    r = send_code(client, code_at(totp))
    assert r.status_code == 302 and r["Location"] == "/web/host.html"
    assert client.get("/api/accounts/me").json()["username"] == "chutri-2fa"
    assert client.get("/api/meetings").status_code == 200
    assert {"auth.sign_in", "auth.otp_passed"} <= set(actions(host))


def test_wrong_and_replayed_codes_are_refused(client, host):
    totp = enrolled(host)
    password(client, host)
    good = code_at(totp)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    r = send_code(client, wrong)
    assert r.status_code == 200 and "_auth_user_id" not in client.session
    assert "Mã không đúng hoặc đã được dùng" in r.content.decode()
    assert actions(host)[-1] == "auth.otp_failed"
    assert send_code(client, good).status_code == 302

    # The same code again, within its 30 s window, in a fresh sign-in: refused; an older step's code too.
    again = Client()
    password(again, host)
    r = send_code(again, good)
    assert r.status_code == 200 and "_auth_user_id" not in again.session
    assert send_code(again, code_at(totp, -1)).status_code == 200
    # The next step's code (a phone a little ahead) is accepted, once.
    assert send_code(again, code_at(totp, +1)).status_code == 302
    third = Client()
    password(third, host)
    assert send_code(third, code_at(totp, +1)).status_code == 200


def test_a_backup_code_works_once(client, host):
    enrolled(host)
    codes = factor.new_backup_codes(host)
    assert len(codes) == 10 and BackupCode.objects.filter(user=host).count() == 10
    assert not BackupCode.objects.filter(code_hash__in=codes).exists()  # only hashes are kept
    password(client, host)
    r = send_code(client, codes[3].upper())
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(host.pk)
    used = AuditEvent.objects.filter(action="auth.otp_backup_used").get()
    assert used.user_id == host.pk and used.data["left"] == 9

    again = Client()
    password(again, host)
    assert send_code(again, codes[3]).status_code == 200 and "_auth_user_id" not in again.session
    assert send_code(again, codes[4]).status_code == 302


def test_codes_are_throttled_like_passwords(client, host):
    totp = enrolled(host)
    password(client, host)
    statuses = [send_code(client, "000000" if code_at(totp) != "000000" else "111111").status_code for _ in range(5)]
    assert statuses == [200] * 5
    r = send_code(client, code_at(totp))
    assert r.status_code == 429 and "Đăng nhập sai quá nhiều lần" in r.content.decode()
    assert "_auth_user_id" not in client.session
    # A right password does not wipe the count of wrong codes.
    password(Client(), host)
    fresh = Client()
    password(fresh, host)
    assert send_code(fresh, code_at(totp)).status_code == 429


def test_enrolment_with_qr_code_and_secret_then_backup_codes(client, host):
    r = password(client, host)
    assert r.status_code == 302 and r["Location"] == "/login/otp/enrol/"
    page = client.get("/login/otp/enrol/")
    text = page.content.decode()
    assert page.status_code == 200 and not english_in(visible_text(text))
    assert 'src="data:image/svg+xml;base64,' in text
    secret = re.search(r'id="otp-secret">([A-Z2-7 ]+)<', text).group(1).replace(" ", "")
    device = TOTPDevice.objects.get(user=host)
    assert secret == device.secret and device.confirmed_at is None
    totp = pyotp.TOTP(secret)
    r = send_code(client, "123", "/login/otp/enrol/")
    assert r.status_code == 200 and "Mã không đúng" in r.content.decode() and "_auth_user_id" not in client.session
    r = send_code(client, code_at(totp), "/login/otp/enrol/")
    body = r.content.decode()
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", body)
    assert r.status_code == 200 and len(codes) == 10 and not english_in(visible_text(body))
    assert 'href="/web/host.html"' in body
    assert client.get("/api/accounts/me").status_code == 200
    assert TOTPDevice.objects.get(user=host).confirmed_at is not None
    assert "auth.otp_enrolled" in actions(host)
    # Enrolled: the enrolment page is no longer offered, the next sign-in asks the code.
    fresh = Client()
    assert password(fresh, host)["Location"] == "/login/otp/"
    assert fresh.get("/login/otp/enrol/")["Location"] == "/login/otp/"


def test_admin_sign_in_asks_the_code_and_an_administrator_resets_it(client, host, hue2025, make_user):
    admin = make_user("quantri-2fa", Role.ADMIN, unit=hue2025)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    admin_totp = enrolled(admin)
    r = password(client, admin, url="/admin/login/?next=/admin/")
    assert r.status_code == 302 and r["Location"] == "/login/otp/"
    assert client.get("/admin/").status_code == 302
    r = send_code(client, code_at(admin_totp))
    assert r.status_code == 302 and r["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200

    host_totp = enrolled(host)
    hosts = Client()
    password(hosts, host)
    send_code(hosts, code_at(host_totp))
    assert hosts.get("/api/meetings").status_code == 200
    device = TOTPDevice.objects.get(user=host)
    listing = client.get("/admin/twofactor/totpdevice/")
    assert listing.status_code == 200 and not english_in(visible_text(listing.content.decode()))
    r = client.post("/admin/twofactor/totpdevice/", {"action": "reset_second_factor", "_selected_action": [device.pk]})
    assert r.status_code == 302
    assert not TOTPDevice.objects.filter(user=host).exists()
    reset = AuditEvent.objects.get(action="auth.otp_reset")
    assert reset.user_id == admin.pk and reset.object_id == str(host.pk)
    # The host's session passed the old phone's code: it no longer counts; the next sign-in enrols again.
    assert hosts.get("/api/meetings").json()["code"] == "otp_required"
    assert password(Client(), host)["Location"] == "/login/otp/enrol/"


def test_room_links_never_meet_the_factor(client, host, make_user, when, settings):
    from confserver.rooms.models import Room

    settings.OTP_REQUIRED = True
    totp = enrolled(host)
    password(client, host)
    send_code(client, code_at(totp))
    body = {
        "title": "Hội nghị",
        "host_unit": "46",
        "scheduled_start": when[0].isoformat(),
        "scheduled_end": when[1].isoformat(),
    }
    mid = client.post("/api/meetings", json.dumps(body), content_type="application/json").json()["id"]
    room = Room.objects.get(unit__code="19768")
    make_user("t-2fa", Role.TERMINAL, unit=room.unit, room=room)
    token = next(x["token"] for x in client.get(f"/api/meetings/{mid}/room-tokens").json() if x["room_id"] == room.id)
    terminal = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert terminal.get(f"/api/meetings/{mid}", **auth).json()["id"] == mid
    assert terminal.post(f"/api/meetings/{mid}/confirm", **auth).status_code == 200
    assert not factor.is_required(room.terminals.get())


def test_off_by_default_a_password_signs_in(client, host, settings):
    settings.OTP_REQUIRED_ROLES = []
    r = password(client, host)
    assert r.status_code == 302 and r["Location"] == "/web/host.html"
    assert client.get("/api/meetings").status_code == 200

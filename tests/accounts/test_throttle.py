"""Issue 9, finding 10: failed sign-ins are throttled per account and per address, before hashing."""

import logging
import os
import re
import time
import uuid

import pytest

from confserver.accounts.models import Role

from . import hashers

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123456"  # make_user's


@pytest.fixture(autouse=True)
def own_counters(settings):
    """The real cache (Redis when REDIS_URL is set), under a prefix no other test or worker shares."""
    prefix = f"test-signin-{uuid.uuid4().hex}"
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
    settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL = 50
    settings.LOGIN_FAILURES_PER_ADDRESS = 20
    settings.LOGIN_THROTTLE_WINDOW_S = 900
    settings.PASSWORD_HASHERS = ["tests.accounts.hashers.CountingHasher"]


def sign_in(client, username, password, addr="10.1.0.1", url="/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=addr)


def error_text(resp) -> str:
    m = re.search(r'<p class="errornote">\s*(.*?)\s*</p>', resp.content.decode(), re.S)
    return m.group(1) if m else ""


def test_hundred_wrong_passwords_then_even_the_right_one_refused(client, make_user):
    make_user("chutri-x", Role.HOST)
    statuses = [sign_in(client, "chutri-x", f"wrong-{i}").status_code for i in range(100)]
    first = statuses.index(429)
    assert first + 1 <= 10 and set(statuses[:first]) == {200} and set(statuses[first:]) == {429}
    refused = sign_in(client, "chutri-x", PASSWORD)
    assert refused.status_code == 429 and "_auth_user_id" not in client.session
    assert "Đăng nhập sai quá nhiều lần" in error_text(refused)


def test_right_password_works_again_when_the_window_ends(client, make_user, settings):
    settings.LOGIN_THROTTLE_WINDOW_S = 2
    make_user("chutri-w", Role.HOST)
    for i in range(6):
        sign_in(client, "chutri-w", f"wrong-{i}")
    assert sign_in(client, "chutri-w", PASSWORD).status_code == 429
    time.sleep(2.5)
    assert sign_in(client, "chutri-w", PASSWORD).status_code == 302
    assert "_auth_user_id" in client.session


def test_throttled_attempts_hash_nothing(client, make_user):
    make_user("chutri-y", Role.HOST)
    for i in range(5):
        sign_in(client, "chutri-y", f"wrong-{i}")
    before = hashers.CALLS["n"]
    for i in range(20):
        assert sign_in(client, "chutri-y", f"wrong-{i}").status_code == 429
    assert hashers.CALLS["n"] == before


def test_address_throttled_across_accounts(client, make_user):
    make_user("xemlai-z", Role.REVIEWER)
    for i in range(20):  # one failure each on 20 accounts, existing or not: no account reaches its own limit
        assert sign_in(client, f"guess-{i}", "nope", addr="10.2.0.9").status_code == 200
    assert sign_in(client, "xemlai-z", PASSWORD, addr="10.2.0.9").status_code == 429
    assert sign_in(client, "xemlai-z", PASSWORD, addr="10.2.0.10").status_code == 302


def test_nothing_tells_whether_the_account_exists(client, make_user):
    make_user("real-user", Role.HOST)
    seen = {}
    for name in ("real-user", "ghost-user"):
        answers = [sign_in(client, name, "wrong", addr=f"10.3.0.{len(seen)}") for _ in range(7)]
        seen[name] = [(r.status_code, error_text(r)) for r in answers]
    assert seen["real-user"] == seen["ghost-user"]


def test_admin_login_throttled_too(client, make_user):
    u = make_user("quantri-x", Role.ADMIN)
    u.is_staff = True
    u.save()
    statuses = [sign_in(client, "quantri-x", "wrong", url="/admin/login/").status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429] * 3
    refused = sign_in(client, "quantri-x", PASSWORD, url="/admin/login/")
    assert refused.status_code == 429 and "Đăng nhập sai quá nhiều lần" in error_text(refused)


def test_failures_logged_with_username_and_address_never_the_password(client, make_user, caplog):
    make_user("chutri-log", Role.HOST)
    with caplog.at_level(logging.WARNING, logger="confserver.auth"):
        for _ in range(6):
            sign_in(client, "chutri-log", "s3cret-guess-XYZ", addr="10.4.0.4")
    records = [r for r in caplog.records if r.name == "confserver.auth"]
    assert len(records) == 6
    assert all("chutri-log" in r.getMessage() and "10.4.0.4" in r.getMessage() for r in records)
    assert not any("s3cret-guess-XYZ" in r.getMessage() for r in records)


def test_busy_hashing_refused_with_429(client, make_user, settings):
    from confserver.accounts import throttle

    make_user("chutri-busy", Role.HOST)
    settings.LOGIN_HASH_WAIT_S = 0.05
    slots = [throttle.hashing_slot() for _ in range(settings.LOGIN_HASH_CONCURRENCY)]
    try:
        assert all(s.__enter__() for s in slots)
        busy = sign_in(client, "chutri-busy", PASSWORD)
    finally:
        for s in slots:
            s.__exit__(None, None, None)
    assert busy.status_code == 429 and "bận" in error_text(busy)
    assert sign_in(client, "chutri-busy", PASSWORD).status_code == 302


def test_sign_in_page_is_vietnamese(client):
    page = client.get("/login/").content.decode()
    assert "Mật khẩu" in page and "Đăng nhập" in page


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_hash_at_most_the_limit(make_user, settings):
    """30 wrong passwords for one account at once: each is counted before its password is checked,
    so no more than the limit reach the hasher (checked once, then hashed, 19 of 30 did)."""
    import threading

    from django.db import connection
    from django.test import Client

    make_user("chutri-par", Role.HOST)
    settings.LOGIN_HASH_WAIT_S = 30
    start = threading.Barrier(30)
    statuses = []

    def attempt(i):
        try:
            start.wait()
            statuses.append(sign_in(Client(), "chutri-par", f"wrong-{i}", addr="10.5.0.1").status_code)
        finally:
            connection.close()

    hashers.DELAY_S["s"] = 0.05
    before = hashers.CALLS["n"]
    try:
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        hashers.DELAY_S["s"] = 0.0
    assert hashers.CALLS["n"] - before <= 5
    assert sorted(statuses) == [200] * (hashers.CALLS["n"] - before) + [429] * (30 - (hashers.CALLS["n"] - before))


def test_an_attackers_address_does_not_lock_the_account_for_others(client, make_user):
    make_user("chutri-lock", Role.HOST)
    statuses = [sign_in(client, "chutri-lock", f"wrong-{i}", addr="10.6.0.66").status_code for i in range(60)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    assert sign_in(client, "chutri-lock", PASSWORD, addr="10.6.0.66").status_code == 429
    assert sign_in(client, "chutri-lock", PASSWORD, addr="10.6.1.1").status_code == 302
    assert "_auth_user_id" in client.session


def test_account_as_a_whole_limited_across_addresses(client, make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL = 8
    make_user("chutri-all", Role.HOST)
    statuses = [sign_in(client, "chutri-all", "wrong", addr=f"10.7.0.{i}").status_code for i in range(10)]
    assert statuses == [200] * 8 + [429] * 2
    assert sign_in(client, "chutri-all", PASSWORD, addr="10.7.1.1").status_code == 429


def test_ipv6_addresses_counted_by_their_64(client, make_user):
    """One subscriber holds a whole /64: new addresses in it are the same client to the throttle."""
    make_user("xemlai-v6", Role.REVIEWER)
    for i in range(20):
        assert sign_in(client, f"guess6-{i}", "nope", addr=f"2001:db8:5:6::{i + 1:x}").status_code == 200
    assert sign_in(client, "xemlai-v6", PASSWORD, addr="2001:db8:5:6:ffff:1:2:3").status_code == 429
    assert sign_in(client, "xemlai-v6", PASSWORD, addr="2001:db8:5:7::1").status_code == 302

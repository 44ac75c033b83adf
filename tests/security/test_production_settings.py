"""Issue 13, item 2: PRODUCTION=1 turns on secure cookies, HSTS, the redirect to https and the proxy's TLS header;
`manage.py check --deploy` is clean with them; the embedded default keeps plain http on localhost."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def settings_in(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    clean.update(
        DJANGO_SETTINGS_MODULE="confserver.settings",
        CONFSERVER_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY=secrets.token_urlsafe(64),
        **env,
    )
    return clean


def run(args, env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = settings_in(
        tmp_path, PRODUCTION="1", ALLOWED_HOSTS="meet.example.gov.vn", WS_ALLOWED_ORIGINS="https://meet.example.gov.vn"
    )
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    r = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues" in r.stdout and "WARNINGS" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_check_deploy_warns_without_them(tmp_path):
    """The embedded default is for plain http on localhost: the same check names what production must set."""
    r = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], settings_in(tmp_path))
    assert r.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in r.stdout + r.stderr


PRINT = (
    "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps([s."
    + ", s.".join(
        [
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "SECURE_SSL_REDIRECT",
            "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS",
            "SECURE_HSTS_PRELOAD",
            "SECURE_PROXY_SSL_HEADER",
        ]
    )
    + "]))"
)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, [False, False, False, 0, False, False, None]),
        ({"PRODUCTION": "1"}, [True, True, True, 31536000, True, True, ["HTTP_X_FORWARDED_PROTO", "https"]]),
        (
            {
                "PRODUCTION": "1",
                "SECURE_HSTS_SECONDS": "600",
                "SECURE_HSTS_PRELOAD": "0",
                "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Scheme: HTTPS",
                "SECURE_SSL_REDIRECT": "0",
            },
            [True, True, False, 600, True, False, ["HTTP_X_FORWARDED_SCHEME", "HTTPS"]],
        ),
        (
            {"SESSION_COOKIE_SECURE": "1", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"},
            [True, False, False, 0, False, False, ["HTTP_X_FORWARDED_PROTO", "https"]],
        ),
    ],
)
def test_settings_from_the_environment(tmp_path, env, expected):
    import json

    r = run(["-c", PRINT], settings_in(tmp_path, **env))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.django_db
def test_production_redirects_http_and_trusts_only_the_proxy_header(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True

    r = client.get("/web/room.html")
    assert r.status_code == 301 and r.headers["Location"] == "https://testserver/web/room.html"

    r = client.get("/web/room.html", HTTP_X_FORWARDED_PROTO="https")
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "wss://testserver" in r.headers["Content-Security-Policy"]

    r = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert r.status_code == 200 and r.cookies["csrftoken"]["secure"] is True


@pytest.mark.django_db
def test_the_embedded_default_serves_plain_http(client):
    r = client.get("/web/room.html")
    assert r.status_code == 200 and "Strict-Transport-Security" not in r.headers
    r = client.get("/login/")
    assert r.status_code == 200 and not r.cookies["csrftoken"]["secure"]

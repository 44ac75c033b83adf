"""Issue 13, item 2: a strict Content-Security-Policy and a Permissions-Policy on every response, the API docs
without a CDN, and pages with nothing inline that such a policy would block."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def csp(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.parametrize(
    "path",
    [
        "/web/room.html",
        "/web/host.html",
        "/web/index.html",
        "/login/",
        "/api/docs",
        "/api/openapi.json",
        "/api/meetings",
        "/admin/login/",
        "/nowhere",
    ],
)
def test_every_response_has_both_policies(client, path):
    r = client.get(path)
    policy = csp(r)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["media-src"] == ["'self'", "blob:"]
    assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in r.headers["Content-Security-Policy"]
    assert "geolocation=()" in r.headers["Permissions-Policy"]


def test_camera_and_microphone_only_on_the_room_page_and_console(client):
    for path in ("/web/room.html", "/web/host.html"):
        pp = client.get(path).headers["Permissions-Policy"]
        assert "camera=(self)" in pp and "microphone=(self)" in pp, path
    for path in ("/web/index.html", "/web/review.html", "/web/meetings.html", "/login/", "/api/docs"):
        pp = client.get(path).headers["Permissions-Policy"]
        assert "camera=()" in pp and "microphone=()" in pp, path
        assert "display-capture=()" in pp and "payment=()" in pp


def test_the_socket_is_allowed_on_the_host_the_browser_used(client, settings):
    settings.ALLOWED_HOSTS = ["meet.example.gov.vn"]
    r = client.get("/web/room.html", HTTP_HOST="meet.example.gov.vn")
    assert csp(r)["connect-src"] == ["'self'", "ws://meet.example.gov.vn", "wss://meet.example.gov.vn"]
    # A host not allowed: the error page's policy allows no socket elsewhere.
    r = client.get("/web/room.html", HTTP_HOST="evil.example")
    assert r.status_code == 400 and csp(r)["connect-src"] == ["'self'"]


def test_api_docs_need_no_other_host(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    html = r.content.decode()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert refs, html
    assert not [u for u in refs if re.match(r"(?i)(https?:)?//", u)], refs
    assert not re.search(r"(?i)cdn\.|jsdelivr|unpkg", html)
    # The scripts and styles it names are served from here (ninja's own copies, as static files).
    from django.contrib.staticfiles import finders

    for ref in refs:
        if ref.startswith("/static/"):
            assert finders.find(ref.removeprefix("/static/")), ref
    # Its inline settings are JSON data, not script: the policy allows no inline script and it needs none.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


INLINE = re.compile(r"""<script\b(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:""", re.I)


def test_pages_have_nothing_inline_the_policy_blocks():
    found = {p.name: INLINE.findall(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "web").glob("*.html"))}
    assert not {k: v for k, v in found.items() if v}
    # Scripts that write markup: no inline handlers or style attributes in it either.
    for js in (ROOT / "web" / "js").glob("*.js"):
        text = js.read_text(encoding="utf-8")
        assert not re.search(r"""(?i)<[a-z][^>`'"]*\s(style|on[a-z]+)\s*=""", text), js.name
        assert not re.search(
            r"\beval\(|new Function\(|setAttribute\(\s*[\"']style|createElement\(\s*[\"']style", text
        ), js.name

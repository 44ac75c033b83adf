"""The signing key and room links over HTTP (issue 9, finding 2): no public fallback key, a system check for
weak keys, links bound to one meeting, expiring, revocable, and out of the URLs servers log."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import signing
from django.core.checks import run_checks
from django.test import Client
from django.utils import timezone

from confserver import secretkey
from confserver.accounts.models import Role
from confserver.rooms import meetings, tokens
from confserver.rooms.models import Room, RoomToken

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD_FALLBACK_KEY = "dev-insecure-change-me-" + "0" * 32


@pytest.fixture
def two(hue2025, make_user, when):
    """Meetings A and B of Huế, both inviting commune 19768's room; its terminal; the host."""
    host = make_user("host", Role.HOST, unit=hue2025)
    room = Room.objects.get(unit__code="19768")
    terminal = make_user("t", Role.TERMINAL, unit=room.unit, room=room)
    sel = meetings.Selection(mode="units", unit_codes=("19768",))
    a = meetings.create_meeting(
        host, host_unit_code="46", title="Họp A", scheduled_start=when[0], scheduled_end=when[1], selection=sel
    )
    b = meetings.create_meeting(
        host, host_unit_code="46", title="Họp B", scheduled_start=when[0], scheduled_end=when[1], selection=sel
    )
    return host, terminal, a, b


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def delete(client, url, **extra):
    """A revoke through the test client: each call runs the live store on a new event loop."""
    from confserver.signaling import live

    live.reset_store()
    try:
        return client.delete(url, **extra)
    finally:
        live.reset_store()


def settings_in_subprocess(env_over: dict, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    env.update(env_over, DJANGO_SETTINGS_MODULE="confserver.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---- the key ---------------------------------------------------------------------------------------


def test_no_key_outside_the_embedded_default_refuses_to_start(tmp_path):
    out = settings_in_subprocess(
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/nowhere", "CONFSERVER_VAR_DIR": str(tmp_path)},
        "from django.conf import settings; print(settings.SECRET_KEY)",
    )
    assert out.returncode != 0 and "SECRET_KEY" in out.stderr
    assert OLD_FALLBACK_KEY not in out.stdout


def test_the_embedded_default_makes_its_own_key_once(tmp_path):
    code = (
        "from django.conf import settings; from confserver.rooms import tokens; from django.core import signing;"
        f"forged = signing.dumps({{'u': 1, 'r': 1}}, salt='confserver.room-token', key='{OLD_FALLBACK_KEY}', "
        "compress=True);\n"
        "try:\n    tokens.read_room_token(forged); print('ADMITTED')\n"
        "except Exception as e:\n    print('REFUSED', type(e).__name__)\n"
        "print(settings.SECRET_KEY)"
    )
    first = settings_in_subprocess({"CONFSERVER_VAR_DIR": str(tmp_path)}, code)
    assert first.returncode == 0, first.stderr
    verdict, key = first.stdout.split("\n")[:2]
    assert verdict == "REFUSED BadToken" and key != OLD_FALLBACK_KEY and secretkey.problem(key) is None
    path = tmp_path / "secret_key"
    assert path.read_text().strip() == key and path.stat().st_mode & 0o777 == 0o600
    again = settings_in_subprocess({"CONFSERVER_VAR_DIR": str(tmp_path)}, code)
    assert again.stdout.split("\n")[1] == key  # reused: links handed out survive a restart


def test_a_known_public_key_refuses_to_start(tmp_path):
    out = settings_in_subprocess({"SECRET_KEY": OLD_FALLBACK_KEY, "CONFSERVER_VAR_DIR": str(tmp_path)}, "pass")
    assert out.returncode != 0 and "SECRET_KEY" in out.stderr


@pytest.mark.parametrize("key", ["x" * 60, "short-but-random-Zq8", "django-insecure-" + "a1b2c3" * 10])
def test_a_weak_key_refuses_to_start_outside_debug(tmp_path, key):
    """daphne runs no system checks: the start itself refuses a short, monotonous or django-insecure key."""
    out = settings_in_subprocess({"SECRET_KEY": key, "CONFSERVER_VAR_DIR": str(tmp_path)}, "pass")
    assert out.returncode != 0 and "SECRET_KEY" in out.stderr
    debug = settings_in_subprocess({"SECRET_KEY": key, "CONFSERVER_VAR_DIR": str(tmp_path), "DEBUG": "1"}, "pass")
    assert debug.returncode == 0, debug.stderr  # development: the system check's warning only


@pytest.mark.parametrize(
    "key", [OLD_FALLBACK_KEY, "change-me", "x" * 60, "short-but-random-Zq8", "django-insecure-" + "a1b2c3" * 10]
)
def test_the_system_check_flags_weak_keys(settings, key):
    settings.SECRET_KEY = key
    settings.DEBUG = False
    assert "confserver.E001" in {m.id for m in run_checks(tags=["security"])}
    settings.DEBUG = True  # a warning in development, an error for check --deploy
    assert "confserver.W001" in {m.id for m in run_checks(tags=["security"])}
    assert "confserver.E001" in {m.id for m in run_checks(tags=["security"], include_deployment_checks=True)}


def test_the_system_check_passes_a_real_key(settings):
    settings.SECRET_KEY = "k" + os.urandom(48).hex()
    settings.DEBUG = False
    assert not {m.id for m in run_checks(tags=["security"], include_deployment_checks=True)} & {
        "confserver.E001",
        "confserver.W001",
    }


# ---- links over HTTP ---------------------------------------------------------------------------------


def test_forged_with_the_old_fallback_key_is_refused_as_bearer(two):
    _, terminal, a, _ = two
    old_style = signing.dumps(
        {"u": terminal.pk, "r": terminal.room_id}, salt="confserver.room-token", compress=True, key=OLD_FALLBACK_KEY
    )
    new_style = signing.Signer(key=OLD_FALLBACK_KEY, salt=tokens.SALT, sep=".").sign_object(
        {"j": "x" * 22, "u": terminal.pk, "r": terminal.room_id, "m": a.id, "e": 2**40}, compress=True
    )
    for forged in (old_style, new_style):
        r = Client().get(f"/api/meetings/{a.id}", **bearer(forged))
        assert r.status_code == 401 and r.json()["code"] == "bad_token"


def test_a_token_for_meeting_a_is_refused_for_meeting_b(two):
    _, terminal, a, b = two
    token = tokens.make_room_token(terminal, a)
    c = Client()
    assert c.get(f"/api/meetings/{a.id}", **bearer(token)).status_code == 200
    for url in (
        f"/api/meetings/{b.id}",
        f"/api/meetings/{b.id}/attendance",
        f"/api/agenda/meetings/{b.id}/items",
        "/api/meetings",
        "/api/agenda/search?q=hop",
    ):  # lists across meetings are refused too
        r = c.get(url, **bearer(token))
        assert r.status_code == 403 and r.json()["code"] == "token_wrong_meeting", (url, r.content)
    r = c.post(f"/api/meetings/{b.id}/confirm", **bearer(token))
    assert r.status_code == 403 and r.json()["code"] == "token_wrong_meeting"
    assert c.post(f"/api/meetings/{a.id}/confirm", **bearer(token)).status_code == 200


def test_a_token_reaches_documents_of_its_own_meeting_only(two, tmp_path, settings):
    import io

    from confserver.agenda import documents
    from confserver.agenda.testing import pdfgen

    settings.MEDIA_ROOT = tmp_path
    host, terminal, a, b = two
    pdf = pdfgen.make_pdf(["Trang một"], title="Báo cáo")
    va = documents.upload(host, a, io.BytesIO(pdf), filename="a.pdf", title="Tài liệu A")
    vb = documents.upload(host, b, io.BytesIO(pdf), filename="b.pdf", title="Tài liệu B")
    meetings.change_state(host, a.id, "test_run")  # a started meeting's documents are released
    meetings.change_state(host, b.id, "test_run")
    token = tokens.make_room_token(terminal, a)
    c = Client()
    assert c.get(f"/api/agenda/versions/{va.id}/file", **bearer(token)).status_code == 200
    for url in (
        f"/api/agenda/versions/{vb.id}/file",
        f"/api/agenda/documents/{vb.document_id}",
        f"/api/agenda/versions/{vb.id}/pages/1",
        f"/api/agenda/versions/{vb.id + 1000}/file",
    ):
        r = c.get(url, **bearer(token))
        assert r.status_code == 403 and r.json()["code"] == "token_wrong_meeting", (url, r.content)


def test_expired_and_revoked_tokens_are_refused_as_bearer(two):
    host, terminal, a, _ = two
    c = Client()
    late = tokens.make_room_token(terminal, a, expires_at=timezone.now() - timedelta(seconds=1))
    r = c.get(f"/api/meetings/{a.id}", **bearer(late))
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    token = tokens.make_room_token(terminal, a)
    assert c.get(f"/api/meetings/{a.id}", **bearer(token)).status_code == 200
    assert tokens.revoke(a) == [terminal.room_id]
    r = c.get(f"/api/meetings/{a.id}", **bearer(token))
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


def test_token_life_follows_the_meeting(two, settings):
    _, terminal, a, _ = two
    settings.ROOM_TOKEN_AFTER_END_S, settings.ROOM_TOKEN_MAX_AGE_S = 4 * 3600, 24 * 3600
    now = timezone.now()
    assert tokens.expiry_for(a, now) == a.scheduled_end + timedelta(hours=4)
    a.scheduled_start, a.scheduled_end = now + timedelta(days=7), now + timedelta(days=9)  # a two-day meeting
    assert tokens.expiry_for(a, now) == a.scheduled_start + timedelta(hours=24)
    a.scheduled_start, a.scheduled_end = now - timedelta(hours=9), now - timedelta(hours=6)  # running late
    assert tokens.expiry_for(a, now) == now + timedelta(hours=4)


def test_the_console_hands_out_fragment_links_and_revokes_them(two):
    host, terminal, a, b = two
    c = Client()
    c.force_login(host)
    links = c.get(f"/api/meetings/{a.id}/room-tokens").json()
    mine = next(x for x in links if x["room_id"] == terminal.room_id)
    assert mine["url"] == f"/web/room.html?meeting={a.id}#token={mine['token']}"
    assert "?token=" not in mine["url"] and "&token=" not in mine["url"]
    assert tokens.read_room_token(mine["token"]).meeting_id == a.id
    # asked again, the same links (no new row per look at the dialog)
    again = c.get(f"/api/meetings/{a.id}/room-tokens").json()
    assert [x["token"] for x in again] == [x["token"] for x in links]
    assert RoomToken.objects.filter(meeting=a).count() == len(links)
    room = Client()
    assert room.get(f"/api/meetings/{a.id}", **bearer(mine["token"])).status_code == 200
    # revoke that room's links: refused; asking again gives a new one that works
    r = delete(c, f"/api/meetings/{a.id}/room-tokens?room_id={terminal.room_id}")
    assert r.status_code == 200 and r.json() == {"meeting_id": a.id, "rooms": [terminal.room_id]}
    assert room.get(f"/api/meetings/{a.id}", **bearer(mine["token"])).json()["code"] == "token_revoked"
    fresh = next(x for x in c.get(f"/api/meetings/{a.id}/room-tokens").json() if x["room_id"] == terminal.room_id)
    assert fresh["token"] != mine["token"]
    assert room.get(f"/api/meetings/{a.id}", **bearer(fresh["token"])).status_code == 200
    # revoke every link of the meeting; B's are untouched
    token_b = tokens.make_room_token(terminal, b)
    assert delete(c, f"/api/meetings/{a.id}/room-tokens").status_code == 200
    assert not RoomToken.objects.filter(meeting=a, revoked_at=None).exists()
    assert room.get(f"/api/meetings/{b.id}", **bearer(token_b)).status_code == 200
    # only the chair side revokes
    r = delete(room, f"/api/meetings/{b.id}/room-tokens", **bearer(token_b))
    assert r.status_code == 403 and RoomToken.objects.filter(meeting=b, revoked_at=None).exists()


def test_the_admin_revokes_links(two, make_user):
    from confserver.rooms.models import AdminUnit
    from confserver.signaling import live

    _, terminal, a, _ = two
    token = tokens.make_room_token(terminal, a)
    admin = make_user("root", Role.ADMIN, unit=AdminUnit.objects.get(code="VN"))
    admin.is_staff = admin.is_superuser = True
    admin.save()
    c = Client()
    c.force_login(admin)
    row = RoomToken.objects.get(jti=tokens.read_room_token(token).jti)
    live.reset_store()
    r = c.post("/admin/rooms/roomtoken/", {"action": "revoke", "_selected_action": [row.pk]})
    live.reset_store()
    assert r.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert Client().get(f"/api/meetings/{a.id}", **bearer(token)).json()["code"] == "token_revoked"


def test_subprotocol_helpers_round_trip(two):
    _, terminal, a, _ = two
    token = tokens.make_room_token(terminal, a)
    offered = tokens.ws_subprotocols(token)
    assert offered[0] == "confserver" and all(":" not in p and "," not in p and " " not in p for p in offered)
    assert tokens.token_from_subprotocols(offered) == token
    assert tokens.token_from_subprotocols(["confserver"]) is None
    with pytest.raises(ValueError):
        tokens.ws_subprotocols("a:b")


def test_a_terminal_moved_to_another_room_gets_a_new_link(two):
    _, terminal, a, _ = two
    old = tokens.sign(tokens.links_for(a, [terminal])[terminal.pk])
    other = (
        Room.objects.exclude(pk=terminal.room_id).filter(participations__meeting=a).first()
        or Room.objects.exclude(pk=terminal.room_id).first()
    )
    terminal.room = other
    terminal.save()
    new = tokens.sign(tokens.links_for(a, [terminal])[terminal.pk])
    assert new != old and tokens.read_room_token(new).room_id == other.pk
    with pytest.raises(tokens.BadToken):
        tokens.user_from_room_token(old)

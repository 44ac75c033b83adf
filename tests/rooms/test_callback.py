"""Calling a dropped room back (issue 12, item 5): its link again through the notification webhook, for that room
only and from the chair side only, and its link as a QR code."""

import pytest
from django.test import Client

from confserver.accounts.models import Role
from confserver.agenda.models import WebhookDelivery
from confserver.rooms import meetings, tokens
from confserver.rooms.models import Room


@pytest.fixture
def world(hue2025, make_user, when, settings):
    settings.AGENDA_WEBHOOK_URL = "http://127.0.0.1:9/hooks/rooms"  # nothing listens: the row is what we check
    settings.WS_ALLOWED_ORIGINS = ["https://hop.hue.gov.vn", "http://testserver"]
    host = make_user("host", Role.HOST, unit=hue2025)
    rooms = {code: Room.objects.get(unit__code=code) for code in ("19768", "19777", "46")}
    terms = {code: make_user(f"t{code}", Role.TERMINAL, unit=r.unit, room=r) for code, r in rooms.items()}
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp giao ban",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=meetings.Selection(mode="units", unit_codes=("46", "19768")),
    )
    return {"host": host, "rooms": rooms, "terms": terms, "meeting": m}


def as_user(user):
    c = Client()
    c.force_login(user)
    return c


def test_resend_link_makes_one_delivery_for_that_room_with_its_working_link(world):
    m, room = world["meeting"], world["rooms"]["19768"]
    r = as_user(world["host"]).post(f"/api/meetings/{m.id}/rooms/{room.id}/resend-link")
    assert r.status_code == 202, r.content
    [d] = WebhookDelivery.objects.all()
    assert r.json()["delivery_id"] == d.id and d.publication_id is None
    p = d.payload
    assert p["type"] == "room.link" and p["room"]["id"] == room.id and p["room"]["name"] == room.name
    assert p["meeting"]["id"] == m.id
    assert p["url"].startswith(f"http://testserver/web/room.html?meeting={m.id}#token=")
    # The link signs that room's terminal in, to this meeting.
    user = tokens.user_from_room_token(p["url"].split("#token=", 1)[1])
    assert user.room_id == room.id and user.room_token.meeting_id == m.id
    # The same link as the links dialog hands out: calling back does not replace the room's link.
    dialog = as_user(world["host"]).get(f"/api/meetings/{m.id}/room-tokens").json()
    assert [t["url"] for t in dialog if t["room_id"] == room.id] == [p["url"].removeprefix("http://testserver")]


def test_resend_link_is_refused_for_other_rooms_and_other_callers(world, make_user, settings):
    m, rooms, terms = world["meeting"], world["rooms"], world["terms"]
    host = as_user(world["host"])
    cases = [
        (host, rooms["19777"].id, 403, "room_not_invited"),  # not invited to this meeting
        (host, 10**9, 403, "room_not_invited"),
        (host, rooms["46"].id, 409, "is_chair"),  # the chair's own room runs the console
        (as_user(terms["19768"]), rooms["19768"].id, 403, "not_host"),  # a room cannot call itself back
        (
            as_user(make_user("other", Role.HOST, unit=Room.objects.get(unit__code="19777").unit)),
            rooms["19768"].id,
            403,
            "outside_subtree",
        ),
    ]
    for client, room_id, status, code in cases:
        r = client.post(f"/api/meetings/{m.id}/rooms/{room_id}/resend-link")
        assert (r.status_code, r.json()["code"]) == (status, code), (room_id, r.content)
        assert "message" in r.json() and r.json()["message"].isascii() is False  # Vietnamese
    settings.AGENDA_WEBHOOK_URL = ""
    r = host.post(f"/api/meetings/{m.id}/rooms/{rooms['19768'].id}/resend-link")
    assert (r.status_code, r.json()["code"]) == (409, "webhook_not_configured")
    assert not WebhookDelivery.objects.exists()


def test_room_link_with_its_qr_code_for_the_chair_side_only(world):
    m, room = world["meeting"], world["rooms"]["19768"]
    r = as_user(world["host"]).get(f"/api/meetings/{m.id}/rooms/{room.id}/link")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["url"].startswith(f"http://testserver/web/room.html?meeting={m.id}#token=")
    assert body["qr_svg"].startswith("<svg") and "</svg>" in body["qr_svg"]
    # (tests/e2e/test_console_rooms_browser.py reads the code off the console's screen and finds the link)
    r = as_user(world["terms"]["19768"]).get(f"/api/meetings/{m.id}/rooms/{room.id}/link")
    assert r.status_code == 403


def test_the_link_names_the_public_address_when_the_server_sees_another(world, settings):
    """Behind a proxy that hands daphne its own host name, the link (for a phone, or a webhook) is the browsers'."""
    settings.WS_ALLOWED_ORIGINS = ["https://hop.hue.gov.vn"]
    m, room = world["meeting"], world["rooms"]["19768"]
    url = as_user(world["host"]).get(f"/api/meetings/{m.id}/rooms/{room.id}/link").json()["url"]
    assert url.startswith(f"https://hop.hue.gov.vn/web/room.html?meeting={m.id}#token=")
    r = as_user(world["host"]).post(f"/api/meetings/{m.id}/rooms/{room.id}/resend-link")
    assert WebhookDelivery.objects.get(pk=r.json()["delivery_id"]).payload["url"] == url

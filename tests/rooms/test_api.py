"""The meetings HTTP API through Django's test client: schemas, coded errors, scope."""

import json

import pytest

from confserver.accounts.models import Role
from confserver.rooms import tokens
from confserver.rooms.models import AdminUnit, Meeting, Room


@pytest.fixture
def host(hue2025, make_user):
    return make_user("host", Role.HOST, unit=hue2025)


@pytest.fixture
def host_client(client, host):
    client.force_login(host)
    return client


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def new_meeting(client, when, **over):
    body = {
        "title": "Hội nghị",
        "host_unit": "46",
        "scheduled_start": when[0].isoformat(),
        "scheduled_end": when[1].isoformat(),
    } | over
    return post(client, "/api/meetings", body)


def test_create_list_read(host_client, when):
    r = new_meeting(host_client, when, participants={"mode": "units", "unit_codes": ["19768"]})
    assert r.status_code == 201, r.content
    m = r.json()
    assert m["state"] == "scheduled" and m["invited_rooms"] == 2 and m["host_unit"] == "46"
    listed = host_client.get("/api/meetings").json()
    assert [x["id"] for x in listed] == [m["id"]] and listed[0]["invited_rooms"] == 2
    assert host_client.get(f"/api/meetings/{m['id']}").json()["title"] == "Hội nghị"


# Transactional: a state change also reads the meeting's kept live state from the socket layer's thread,
# which cannot read through this thread's open test transaction on SQLite's shared in-memory database.
@pytest.mark.django_db(transaction=True)
def test_invite_state_attendance_timeline(host_client, when):
    mid = new_meeting(host_client, when, participants={"mode": "units", "unit_codes": ["19768"]}).json()["id"]
    assert post(host_client, f"/api/meetings/{mid}/invite", {"mode": "subtree"}).json() == {"invited": 39}
    r = post(host_client, f"/api/meetings/{mid}/state", {"state": "live"})
    assert r.status_code == 409 and r.json()["code"] == "bad_transition"
    assert post(host_client, f"/api/meetings/{mid}/state", {"state": "test_run"}).json()["state"] == "test_run"
    room = Room.objects.get(unit__code="19768")
    r = post(host_client, f"/api/meetings/{mid}/attendance/{room.id}", {"status": "absent", "reason": "Bão"})
    assert r.status_code == 200 and r.json()["absence_reason"] == "Bão"
    att = host_client.get(f"/api/meetings/{mid}/attendance").json()
    assert att["total"] == 41 and att["counts"]["absent"] == 1 and att["counts"]["not_marked"] == 40
    kinds = [e["kind"] for e in host_client.get(f"/api/meetings/{mid}/timeline").json()]
    assert kinds == ["created", "invited", "state", "roll_call_mark"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": "", "host_unit": "46"}, "title"),
        ({"title": "x", "host_unit": "46", "bogus": 1}, "bogus"),
        ({"title": "x", "host_unit": "46", "participants": {"mode": "units"}}, "participants"),
        ({"title": "x", "host_unit": "46", "participants": {"max_level": "hamlet"}}, "max_level"),
    ],
)
def test_invalid_payloads_are_coded_and_change_nothing(host_client, when, body, field):
    body = {"scheduled_start": when[0].isoformat(), "scheduled_end": when[1].isoformat()} | body
    r = post(host_client, "/api/meetings", body)
    assert r.status_code == 422
    assert r.json()["code"] == "invalid" and field in json.dumps(r.json()["details"])
    assert Meeting.objects.count() == 0


def test_malformed_json(host_client):
    r = host_client.post("/api/meetings", "{not json", content_type="application/json")
    assert r.status_code in (400, 422) and "code" in r.json()
    assert Meeting.objects.count() == 0


def test_unauthenticated_and_bad_token(client, hue2025, when):
    r = new_meeting(client, when)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = client.get("/api/meetings", HTTP_AUTHORIZATION="Bearer forged.token")
    assert r.status_code == 401
    assert Meeting.objects.count() == 0


def test_outside_subtree_is_403(client, hue2025, make_user, when):
    commune = AdminUnit.objects.filter(level=3).first()
    client.force_login(make_user("small", Role.HOST, unit=commune))
    r = new_meeting(client, when)
    assert r.status_code == 403 and r.json()["code"] == "outside_subtree"
    r = client.get("/api/units/46/subtree")
    assert r.status_code == 403
    assert Meeting.objects.count() == 0


def test_subtree_endpoint(host_client):
    rows = host_client.get("/api/units/46/subtree?only_level=commune").json()
    assert len(rows) == 40 and all(r["parent_code"] == "46" for r in rows)
    r = host_client.get("/api/units/46/subtree?max_level=hamlet")
    assert r.status_code == 400 and r.json()["code"] == "bad_level"
    assert host_client.get("/api/units/nope/subtree").json()["code"] == "unit_not_found"


def test_room_token_lets_a_terminal_confirm(host_client, make_user, when):
    from django.test import Client

    client = Client()  # the room PC: no session, only its token
    mid = new_meeting(host_client, when).json()["id"]
    room = Room.objects.get(unit__code="19768")
    terminal = make_user("t", Role.TERMINAL, unit=room.unit, room=room)
    links = host_client.get(f"/api/meetings/{mid}/room-tokens").json()
    token = next(x["token"] for x in links if x["room_id"] == room.id)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(f"/api/meetings/{mid}", **auth).json()["id"] == mid
    r = client.post(f"/api/meetings/{mid}/confirm", **auth)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    r = post(client, f"/api/meetings/{mid}/state", {"state": "test_run"}, **auth)
    assert r.status_code == 403
    # a deactivated terminal's token stops working
    terminal.is_active = False
    terminal.save()
    assert client.get(f"/api/meetings/{mid}", **auth).status_code == 401


def test_expired_token(host_client, make_user, when):
    from datetime import timedelta

    from django.utils import timezone

    mid = new_meeting(host_client, when).json()["id"]
    room = Room.objects.get(unit__code="19768")
    terminal = make_user("t", Role.TERMINAL, unit=room.unit, room=room)
    meeting = Meeting.objects.get(pk=mid)
    assert tokens.user_from_room_token(tokens.make_room_token(terminal, meeting)) == terminal
    token = tokens.make_room_token(terminal, meeting, expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(tokens.BadToken) as err:
        tokens.user_from_room_token(token)
    assert err.value.code == "token_expired"


def test_openapi_document(client, db):
    doc = client.get("/api/openapi.json").json()
    assert "/api/meetings" in doc["paths"] and "MeetingIn" in doc["components"]["schemas"]

"""Room tokens on the socket (issue 9, finding 2): bound to one meeting, revocable, expiring, carried in
Sec-WebSocket-Protocol and never in the URL; forged ones refused."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core import signing

from confserver.testing.communicator import WebsocketCommunicator

from .conftest import ORIGIN, connect

pytestmark = pytest.mark.django_db(transaction=True)

OLD_FALLBACK_KEY = "dev-insecure-change-me-" + "0" * 32


@sync_to_async
def terminal_of(room_id):
    from confserver.accounts.models import Role, User

    return User.objects.get(role=Role.TERMINAL, room_id=room_id)


@sync_to_async
def second_meeting(world):
    """Meeting B: the same host and the same invited rooms as the world's meeting A, in its test run."""
    from django.utils import timezone

    from confserver.accounts.models import User
    from confserver.rooms import meetings
    from confserver.rooms.models import Participation

    host = User.objects.get(username="host")
    start = timezone.now()
    rooms = Participation.objects.filter(meeting_id=world.meeting_id).select_related("room__unit")
    b = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp B",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        selection=meetings.Selection(mode="units", unit_codes=tuple(p.room.unit.code for p in rooms)),
    )
    meetings.change_state(host, b.id, "test_run")
    return b


async def refusal(meeting_id, **kwargs):
    c = await connect(meeting_id, **kwargs)
    msg = await c.recv()
    assert msg["type"] == "error", msg
    assert (await c.comm.receive_output(timeout=2))["code"] == 4403
    return msg["code"]


async def test_the_subprotocol_admits_and_the_server_answers_confserver(world):
    from confserver.asgi import application
    from confserver.rooms.tokens import ws_subprotocols

    comm = WebsocketCommunicator(
        application, f"/ws/meetings/{world.meeting_id}/", headers=[ORIGIN], subprotocols=ws_subprotocols(world.token_a)
    )
    connected, subprotocol = await comm.connect(timeout=5)
    assert connected and subprotocol == "confserver"  # Chromium fails a handshake that picks none it offered
    await comm.send_to(text_data=json.dumps({"type": "join", "id": 1}))
    reply = json.loads(await comm.receive_from(timeout=3))
    assert reply["type"] == "ok" and reply["data"]["snapshot"]["me"]["room_id"] == world.room_a
    await comm.disconnect()


async def test_a_token_in_the_url_is_refused(world):
    from confserver.asgi import application

    comm = WebsocketCommunicator(
        application, f"/ws/meetings/{world.meeting_id}/?token={world.token_a}", headers=[ORIGIN]
    )
    assert (await comm.connect(timeout=5))[0]
    msg = json.loads(await comm.receive_from(timeout=3))
    assert msg["type"] == "error" and msg["code"] == "token_in_url"
    assert (await comm.receive_output(timeout=2))["code"] == 4403


async def test_a_token_for_meeting_a_is_refused_on_meeting_b(world):
    b = await second_meeting(world)
    assert await refusal(b.id, token=world.token_a) == "token_wrong_meeting"
    # and a token made for B gets into B
    from confserver.rooms import tokens

    token_b = await sync_to_async(tokens.make_room_token)(await terminal_of(world.room_a), b)
    c = await connect(b.id, token=token_b)
    assert (await c.join())["snapshot"]["me"]["room_id"] == world.room_a
    await c.close()


async def test_forged_with_the_old_fallback_key_is_refused(world):
    from confserver.rooms import tokens

    terminal = await terminal_of(world.room_a)
    old_style = signing.dumps(
        {"u": terminal.pk, "r": world.room_a}, salt="confserver.room-token", compress=True, key=OLD_FALLBACK_KEY
    )
    new_style = signing.Signer(key=OLD_FALLBACK_KEY, salt=tokens.SALT, sep=".").sign_object(
        {"j": "x" * 22, "u": terminal.pk, "r": world.room_a, "m": world.meeting_id, "e": 2**40}, compress=True
    )
    assert await refusal(world.meeting_id, token=new_style) == "bad_token"
    for forged in (old_style, new_style):
        with pytest.raises(tokens.BadToken):
            tokens.read_room_token(forged)


async def test_revoked_and_expired_tokens_are_refused(world):
    from django.utils import timezone

    from confserver.rooms import tokens
    from confserver.rooms.models import Meeting, RoomToken

    meeting = await sync_to_async(Meeting.objects.get)(pk=world.meeting_id)
    terminal = await terminal_of(world.room_a)
    late = await sync_to_async(tokens.make_room_token)(
        terminal, meeting, expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert await refusal(world.meeting_id, token=late) == "token_expired"
    # expired in the database though not by its signed date (an operator shortened it)
    await sync_to_async(RoomToken.objects.filter(jti=tokens.read_room_token(world.token_b).jti).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert await refusal(world.meeting_id, token=world.token_b) == "token_expired"
    assert await sync_to_async(tokens.revoke)(meeting, room_id=world.room_a) == [world.room_a]
    assert await refusal(world.meeting_id, token=world.token_a) == "token_revoked"


async def test_revoking_a_room_cuts_its_live_connection(world):
    from django.test import Client as HttpClient

    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    await chair.wait_event("presence", room_id=world.room_a, online=True)

    def revoke():
        http = HttpClient()
        http.cookies["sessionid"] = world.host_cookie
        return http.delete(f"/api/meetings/{world.meeting_id}/room-tokens?room_id={world.room_a}")

    r = await sync_to_async(revoke)()
    assert r.status_code == 200 and r.json()["rooms"] == [world.room_a]
    assert (await a.wait_event("dropped"))["event"] == "dropped"
    assert (await a.comm.receive_output(timeout=2))["code"] == 4004
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False)
    assert ev["reason"] == "token_revoked"
    assert await refusal(world.meeting_id, token=world.token_a) == "token_revoked"
    # the other room stays
    assert (await b.request("ping"))["type"] == "ok"
    await b.close()
    await chair.close()

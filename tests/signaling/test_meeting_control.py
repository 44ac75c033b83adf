"""The meeting protocol end to end through the ASGI app and the channel layer."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from confserver.rooms.models import Participation, TimelineEvent

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def chair_and_rooms(world, n=2):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    snap = (await chair.join())["snapshot"]
    rooms = []
    for token in (world.token_a, world.token_b)[:n]:
        c = await connect(world.meeting_id, token=token)
        await c.join()
        rooms.append(c)
    return chair, rooms, snap


def kinds(meeting_id):
    return list(TimelineEvent.objects.filter(meeting_id=meeting_id).values_list("kind", flat=True))


async def test_join_and_presence(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    data = await chair.join()
    snap = data["snapshot"]
    assert snap["me"]["role"] == "chair" and snap["me"]["room_id"] == world.chair_room
    assert {r["room_id"] for r in snap["rooms"]} == {world.chair_room, world.room_a, world.room_b}
    assert snap["state"] == "test_run" and snap["program"]["mode"] == "lecture"

    a = await connect(world.meeting_id, token=world.token_a)
    room_snap = (await a.join())["snapshot"]
    assert room_snap["me"] == {
        "role": "room",
        "room_id": world.room_a,
        "room_name": room_snap["me"]["room_name"],
        "muted": False,
        "hand_raised": False,
    }
    assert "rooms" not in room_snap  # the full room list is the chair's
    ev = await chair.wait_event("presence", room_id=world.room_a)
    assert ev["online"] is True and ev["seq"] >= 1
    assert (
        await sync_to_async(
            lambda: Participation.objects.get(meeting_id=world.meeting_id, room_id=world.room_a).status
        )()
        == "joined"
    )

    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    await a.request("leave")
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False)
    assert ev["reason"] == "left"
    await b.no_event("presence")  # presence is the chair's business: rooms are not flooded with it
    await chair.close()


async def test_floor_request_grant_revoke(world):
    chair, (a, b), _ = await chair_and_rooms(world)
    reply = await a.request("raise_hand")
    assert reply["type"] == "ok" and reply["data"]["queue"] == [world.room_a]
    await b.request("raise_hand")
    ev = await chair.wait_event("queue", queue=[world.room_a, world.room_b])
    assert ev["queue"] == [world.room_a, world.room_b]

    assert (await chair.request("grant_floor", room_id=world.room_a))["type"] == "ok"
    for c in (chair, a, b):
        prog = await c.wait_event("program", mode="floor")
        assert prog["source_room"] == world.room_a and prog["floor_room"] == world.room_a
    await chair.wait_event("queue", queue=[world.room_b])

    # b withdraws; a gives the floor back... no: the chair revokes it
    assert (await b.request("lower_hand"))["type"] == "ok"
    await chair.wait_event("queue", queue=[])
    assert (await chair.request("revoke_floor"))["type"] == "ok"
    prog = await b.wait_event("program", mode="lecture")
    assert prog["source_room"] is None and prog["floor_room"] is None
    got = await sync_to_async(kinds)(world.meeting_id)
    for k in ("hand_raised", "floor_granted", "hand_lowered", "floor_revoked"):
        assert k in got
    for client in (chair, a, b):
        await client.close()


async def test_room_gives_back_the_floor(world):
    chair, (a,), _ = await chair_and_rooms(world, 1)
    await a.request("raise_hand")
    await chair.request("grant_floor", room_id=world.room_a)
    assert (await a.request("raise_hand"))["code"] == "has_floor"
    assert (await a.request("lower_hand"))["type"] == "ok"
    await chair.wait_event("program", mode="lecture")
    assert (await a.request("lower_hand"))["code"] == "not_raised"


async def test_broadcast_and_lecture(world):
    chair, (a, b), _ = await chair_and_rooms(world)
    assert (await chair.request("broadcast_room", room_id=world.room_b))["type"] == "ok"
    ev = await a.wait_event("program", mode="broadcast")
    assert ev["source_room"] == world.room_b and ev["floor_room"] is None
    assert (await chair.request("lecture_mode"))["type"] == "ok"
    await a.wait_event("program", mode="lecture")
    assert "broadcast" in await sync_to_async(kinds)(world.meeting_id)


async def test_mute_and_drop(world):
    chair, (a, b), _ = await chair_and_rooms(world)
    assert (await chair.request("mute_room", room_id=world.room_a, muted=True))["type"] == "ok"
    ev = await a.wait_event("muted", room_id=world.room_a)
    assert ev["muted"] is True
    snap = (await b.request("snapshot"))["data"]["snapshot"]
    assert snap["muted"] == [world.room_a]
    # granting the floor opens the room's microphone
    await chair.request("grant_floor", room_id=world.room_a)
    await b.wait_event("muted", room_id=world.room_a, muted=False)

    assert (await chair.request("drop_room", room_id=world.room_b))["type"] == "ok"
    ev = await b.wait_event("dropped")
    assert "ngắt" in ev["message"]
    out = await b.comm.receive_output(timeout=2)
    assert out == {"type": "websocket.close", "code": 4004}
    ev = await chair.wait_event("presence", room_id=world.room_b, online=False)
    assert ev["reason"] == "dropped"
    assert (await chair.request("drop_room", room_id=world.room_b))["code"] == "room_offline"


async def test_roll_call(world):
    chair, (a, b), _ = await chair_and_rooms(world)
    assert (await a.request("roll_call_answer"))["code"] == "roll_call_inactive"
    assert (await chair.request("roll_call_start"))["type"] == "ok"
    await a.wait_event("roll_call", active=True)
    assert (await chair.request("roll_call_start"))["code"] == "roll_call_active"
    assert (await a.request("roll_call_answer"))["type"] == "ok"
    ev = await chair.wait_event("roll_call_mark", room_id=world.room_a)
    assert ev["status"] == "present_online"
    r = await chair.request("roll_call_mark", room_id=world.room_b, status="absent", reason="")
    assert r["code"] == "reason_required"
    r = await chair.request("roll_call_mark", room_id=world.room_b, status="absent", reason="Mất điện")
    assert r["type"] == "ok"
    await b.wait_event("roll_call_mark", room_id=world.room_b, status="absent")
    r = await chair.request("roll_call_mark", room_id=world.chair_room, status="present_in_person")
    end = await chair.request("roll_call_end")
    assert end["data"]["summary"] == {"present_online": 1, "absent": 1, "present_in_person": 1, "not_marked": 0}
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    by_room = {r["room_id"]: r for r in snap["rooms"]}
    assert by_room[world.room_b]["roll_call"] == "absent" and by_room[world.room_b]["absence_reason"] == "Mất điện"
    assert "roll_call_end" in await sync_to_async(kinds)(world.meeting_id)


async def test_end_meeting(world):
    chair, (a,), _ = await chair_and_rooms(world, 1)
    assert (await chair.request("set_state", state="test_run"))["code"] == "bad_transition"
    assert (await chair.request("set_state", state="live"))["type"] == "ok"
    await a.wait_event("state", state="live")
    assert (await chair.request("set_state", state="ended"))["type"] == "ok"
    await a.wait_event("state", state="ended")
    await a.wait_event("ended")
    assert (await a.comm.receive_output(timeout=2))["code"] == 4000
    # nobody gets back in
    late = await connect(world.meeting_id, token=world.token_b)
    msg = await late.recv()
    assert msg["code"] == "meeting_ended"


async def test_refusals_change_nothing(world):
    chair, (a, b), _ = await chair_and_rooms(world)
    before = await sync_to_async(kinds)(world.meeting_id)
    for type, fields, code in [
        ("grant_floor", {"room_id": world.room_b}, "chair_only"),
        ("revoke_floor", {}, "chair_only"),
        ("broadcast_room", {"room_id": world.room_b}, "chair_only"),
        ("lecture_mode", {}, "chair_only"),
        ("mute_room", {"room_id": world.room_b, "muted": True}, "chair_only"),
        ("drop_room", {"room_id": world.room_b}, "chair_only"),
        ("roll_call_start", {}, "chair_only"),
        ("roll_call_mark", {"room_id": world.room_b, "status": "absent", "reason": "x"}, "chair_only"),
    ]:
        reply = await a.request(type, **fields)
        assert reply["type"] == "error" and reply["code"] == code, (type, reply)
    assert (await a.request("set_state", state="live"))["code"] == "chair_only"
    for type, fields, code in [
        ("raise_hand", {}, "room_only"),
        ("grant_floor", {"room_id": 999999}, "room_not_invited"),
        ("revoke_floor", {}, "no_floor"),
        ("grant_floor", {"room_id": world.chair_room}, "is_chair"),
        ("join", {}, "already_joined"),
    ]:
        reply = await chair.request(type, **fields)
        assert reply["type"] == "error" and reply["code"] == code, (type, reply)
    await a.request("raise_hand")
    assert (await a.request("raise_hand"))["code"] == "already_raised"
    assert (await chair.request("snapshot"))["data"]["snapshot"]["program"]["mode"] == "lecture"
    after = await sync_to_async(kinds)(world.meeting_id)
    assert after == before + ["hand_raised"]


async def test_wrong_state_refused(transactional_db):
    from .conftest import build_world

    world = await sync_to_async(build_world)("scheduled")
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    assert (await chair.request("grant_floor", room_id=world.room_a))["code"] == "bad_state"
    assert (await chair.request("roll_call_start"))["code"] == "bad_state"
    room = await connect(world.meeting_id, token=world.token_a)
    assert (await room.request("join"))["code"] == "not_started"


async def test_connection_refusals(world):
    for kwargs, code in [
        ({"token": "forged"}, "bad_token"),
        ({"token": world.token_a[:-3] + "abc"}, "bad_token"),
        ({}, "unauthenticated"),
    ]:
        c = await connect(world.meeting_id, **kwargs)
        msg = await c.recv()
        assert msg["type"] == "error" and msg["code"] == code
        assert (await c.comm.receive_output(timeout=2))["code"] == 4403
    outsider = await connect(world.meeting_id, token=world.token_outsider)
    assert (await outsider.recv())["code"] == "room_not_invited"
    nowhere = await connect(999999, cookie=world.host_cookie)
    assert (await nowhere.recv())["code"] == "meeting_not_found"
    nowhere = await connect(999999, token=world.token_a)
    assert (await nowhere.recv())["code"] == "meeting_not_found"
    beyond = await connect(2**64, token=world.token_a)  # more digits than the database column holds
    assert (await beyond.recv())["code"] == "meeting_not_found"
    # a genuine token of a terminal account switched off since
    from confserver.accounts.models import User
    from confserver.rooms import tokens

    user_id = tokens.read_room_token(world.token_b).user_id
    await sync_to_async(User.objects.filter(pk=user_id).update)(is_active=False)
    stale = await connect(world.meeting_id, token=world.token_b)
    assert (await stale.recv())["code"] == "bad_token"


async def test_origin_is_checked(world):
    from confserver.asgi import application
    from confserver.rooms.tokens import ws_subprotocols
    from confserver.testing.communicator import WebsocketCommunicator

    comm = WebsocketCommunicator(
        application,
        f"/ws/meetings/{world.meeting_id}/",
        headers=[(b"origin", b"http://evil.example")],
        subprotocols=ws_subprotocols(world.token_a),
    )
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_resume_without_gap_replays_missed(world):
    chair, (a,), _ = await chair_and_rooms(world, 1)
    await chair.request("mute_room", room_id=world.room_a, muted=True)
    await a.wait_event("muted")
    session, seq = a.session, a.seq
    await a.close()
    # while a is away: two notifications it must get on resume
    await chair.request("mute_room", room_id=world.room_a, muted=False)
    await chair.request("broadcast_room", room_id=world.room_a)
    back = await connect(world.meeting_id, token=world.token_a)
    data = await back.join(resume={"session": session, "last_seq": seq})
    assert data["resumed"] is True and data["replayed"] == 2 and data["session"] == session
    first = await back.wait_event("muted")
    second = await back.wait_event("program")
    assert (first["seq"], second["seq"]) == (seq + 1, seq + 2) and first["muted"] is False
    # the room never showed as gone
    await chair.wait_event("presence", room_id=world.room_a, online=True)
    await asyncio.sleep(0.9)
    await chair.no_event("presence", room_id=world.room_a, online=False)


async def test_resume_with_gap_gets_snapshot(world, settings):
    settings.SIGNALING_OUTBOX = 2
    chair, (a,), _ = await chair_and_rooms(world, 1)
    session, seq = a.session, a.seq
    await a.close()
    for muted in (True, False, True):
        await chair.request("mute_room", room_id=world.room_a, muted=muted)
        await chair.wait_event("muted", muted=muted)  # the hub has handed it to a's session too
    back = await connect(world.meeting_id, token=world.token_a)
    data = await back.join(resume={"session": session, "last_seq": seq})
    assert data["resumed"] is False and data["session"] != session
    assert data["snapshot"]["me"]["muted"] is True


async def test_event_during_a_join_follows_the_reply(world, monkeypatch):
    """An event numbered into a joining session after its snapshot's view was read is not lost."""
    from confserver.signaling import control

    chair, (a,), _ = await chair_and_rooms(world, 1)
    real_join = control.join

    async def join_then_event(actor):
        result = await real_join(actor)
        if actor.room_id == world.room_b:  # the view is read; now the chair mutes room a
            await chair.request("mute_room", room_id=world.room_a, muted=True)
            await a.wait_event("muted", muted=True)  # the hub has numbered it, into b's session too
        return result

    monkeypatch.setattr(control, "join", join_then_event)
    b = await connect(world.meeting_id, token=world.token_b)
    data = await b.join()
    assert world.room_a not in data["snapshot"]["muted"]  # the view from before the mute
    ev = await b.wait_event("muted", room_id=world.room_a, muted=True)
    assert ev["seq"] > data["seq"]  # so the client applies it


async def test_client_that_stops_acknowledging_is_cut_off_then_resumes(world, settings):
    settings.SIGNALING_MAX_BACKLOG = 5
    chair, (a, b), _ = await chair_and_rooms(world, 2)
    first_seq = a.seq
    # an acknowledgement is an echoed token, not a number a client that stopped reading could send
    assert (await a.request("ping", ack="made-up"))["code"] == "bad_ack"
    # the chair and room b acknowledge what they read; room a never does
    for i in range(8):
        muted = i % 2 == 0
        assert (await chair.request("mute_room", room_id=world.room_b, muted=muted))["type"] == "ok"
        for c in (chair, b):
            await c.wait_event("muted", muted=muted)
            assert (await c.ack())["type"] == "ok"
    got = []
    while True:
        msg = await a.recv()
        if msg["type"] == "closed":
            break
        got.append(msg["seq"])
    assert msg["code"] == 4008
    assert got == [first_seq + k for k in range(1, 6)]  # the 6th unacknowledged one cut it off
    assert (await b.request("ping"))["type"] == "ok" and (await chair.request("ping"))["type"] == "ok"
    # the session kept collecting: a comes back and gets exactly what it missed
    back = await connect(world.meeting_id, token=world.token_a)
    data = await back.join(resume={"session": a.session, "last_seq": got[-1]})
    assert data["resumed"] is True and data["replayed"] == 3 and data["max_unacked"] == 5
    seqs = [(await back.wait_event("muted"))["seq"] for _ in range(3)]
    assert seqs == [first_seq + 6, first_seq + 7, first_seq + 8]


async def test_leaves_after_grace(world):
    chair, (a,), _ = await chair_and_rooms(world, 1)
    await chair.wait_event("presence", room_id=world.room_a, online=True)
    await a.close()
    await chair.no_event(
        "presence", within=0.3, room_id=world.room_a, online=False
    )  # inside the grace period: still present
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False, timeout=3)
    assert ev["reason"] == "connection_lost"


async def test_second_connection_replaces_first(world):
    chair, (a,), _ = await chair_and_rooms(world, 1)
    second = await connect(world.meeting_id, token=world.token_a)
    await second.join()
    ev = await a.wait_event("replaced")
    assert ev["event"] == "replaced"
    assert (await a.comm.receive_output(timeout=2))["code"] == 4001
    await chair.wait_event("presence", room_id=world.room_a, online=True)
    await asyncio.sleep(0.9)  # the old connection's grace must not remove the new one
    await chair.no_event("presence", room_id=world.room_a, online=False)
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert world.room_a in snap["online"]
    assert (await second.request("raise_hand"))["type"] == "ok"


async def test_bad_frames_get_coded_errors(world, settings):
    _, (a,), _ = await chair_and_rooms(world, 1)
    cases = [
        ("not json", "bad_json"),
        ('{"type": "nope", "id": 1}', "unknown_type"),
        ('{"type": "raise_hand", "id": 2, "extra": 1}', "extra_field"),
        ('{"type": "grant_floor", "id": 3}', "missing_field"),
        ('{"type": "raise_hand", "id": 4, "pad": "' + "x" * 70000 + '"}', "too_large"),
        ("[1, 2]", "bad_message"),
    ]
    for raw, code in cases:
        await a.comm.send_to(text_data=raw)
        msg = await a.reply()
        assert msg["type"] == "error" and msg["code"] == code, (raw[:40], msg)
    # still served
    assert (await a.request("ping"))["type"] == "ok"


async def test_flood_is_limited(world, settings):
    settings.SIGNALING_RATE = 1.0
    settings.SIGNALING_BURST = 5
    _, (a,), _ = await chair_and_rooms(world, 1)
    for i in range(12):
        await a.comm.send_to(text_data='{"type": "ping", "id": %d}' % i)
    codes = []
    for _ in range(12):
        msg = await a.reply()
        codes.append(msg.get("code", msg["type"]))
    assert codes.count("rate_limited") >= 6 and codes.count("ok") <= 6
    # a connection that keeps flooding (5 x burst refusals in a row) is closed with 4029
    for i in range(40):
        await a.comm.send_to(text_data='{"type": "ping", "id": %d}' % (100 + i))
    while (msg := await a.recv())["type"] != "closed":
        assert msg.get("code") in ("rate_limited", None), msg
    assert msg["code"] == 4029


async def test_state_change_over_http_reaches_the_sockets(world):
    from django.test import AsyncClient

    chair, (a,), _ = await chair_and_rooms(world, 1)
    http = AsyncClient()
    http.cookies["sessionid"] = world.host_cookie
    r = await http.post(f"/api/meetings/{world.meeting_id}/state", {"state": "live"}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert (await a.wait_event("state"))["state"] == "live"

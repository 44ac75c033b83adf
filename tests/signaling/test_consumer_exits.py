"""The socket handler never dies, and every way a connection ends gives its room's place up exactly once
(issue 9, findings 4, 5, 8 and 12): crashes, floods, clients cut off, cancelled applications, sockets that never
join, too many sockets for one room."""

import asyncio

import pytest

from confserver.signaling import consumers, control

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def joined(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    room = await connect(world.meeting_id, token=world.token_a)
    await room.join()
    await chair.wait_event("presence", room_id=world.room_a, online=True)
    return chair, room


async def frames_until_closed(client, timeout=5):
    """Every frame up to the close; the close comes last."""
    got = []
    while True:
        msg = await client.recv(timeout)
        got.append(msg)
        if msg["type"] == "closed":
            return got


async def online(chair):
    return set((await chair.request("snapshot"))["data"]["snapshot"]["online"])


async def test_a_failing_handler_answers_internal_and_keeps_the_room(world, monkeypatch):
    chair, room = await joined(world)

    async def broken(actor):
        raise RuntimeError("a bug")

    monkeypatch.setattr(control, "raise_hand", broken)
    reply = await room.request("raise_hand")
    assert (reply["type"], reply["code"]) == ("error", "internal")

    async def unsendable(actor):  # the action "worked" but its reply cannot be sent: today this killed the consumer
        return control.Outcome(reply={"at": object()})

    monkeypatch.setattr(control, "raise_hand", unsendable)
    await room.comm.send_to(text_data='{"type": "raise_hand", "id": "r-7"}')
    reply = await room.reply()
    assert (reply["type"], reply["code"], reply["id"]) == ("error", "internal", "r-7")
    assert (await room.request("ping"))["type"] == "ok"  # still open and serving
    await chair.no_event("presence", within=1.0, room_id=world.room_a)  # still present (grace is 0.6 s)
    assert world.room_a in await online(chair)


async def test_flood_is_closed_at_once_queued_frames_dropped_and_the_room_leaves(world, settings):
    settings.SIGNALING_GRACE_S = 30  # the leave must come from the flood close itself, not a grace timer
    chair, room = await joined(world)
    for i in range(400):
        await room.comm.send_to(text_data='{"type": "ping", "id": %d}' % i)
    got = await frames_until_closed(room)
    assert got[-1]["code"] == consumers.CLOSE_FLOOD
    replies = got[:-1]
    # closed on the frames-per-second ceiling (100), not after 5 x burst refusals; the rest was dropped unread
    assert len(replies) <= settings.SIGNALING_FLOOD_FPS, len(replies)
    limited = [m for m in replies if m.get("code") == "rate_limited"]
    assert limited and all(isinstance(m["id"], int) for m in limited)  # the frame's id, not null
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False, timeout=3)
    assert ev["reason"] == "flood"
    assert world.room_a not in await online(chair)
    await room.close()  # the disconnect that follows changes nothing more
    await chair.no_event("presence", within=0.3, room_id=world.room_a)


async def test_rate_limited_replies_echo_the_frame_id(world, settings):
    settings.SIGNALING_RATE, settings.SIGNALING_BURST = 0.001, 1
    _, room = await joined(world)  # the join took the one token
    await room.comm.send_to(text_data='{"type": "ping", "id": "p-1"}')
    reply = await room.reply()
    assert (reply["code"], reply["id"]) == ("rate_limited", "p-1")
    await room.comm.send_to(text_data='{"type": "ping", "id": "\\ud800"}')  # an id that cannot be sent back
    reply = await room.reply()
    assert (reply["code"], reply["id"]) == ("rate_limited", None)


async def test_a_client_cut_off_for_being_slow_leaves_after_grace_without_a_disconnect(world, settings):
    settings.SIGNALING_MAX_BACKLOG = 5
    chair, room = await joined(world)
    for i in range(8):
        assert (await chair.request("mute_room", room_id=world.room_b, muted=i % 2 == 0))["type"] == "ok"
        await chair.wait_event("muted", muted=i % 2 == 0)
        assert (await chair.ack())["type"] == "ok"  # the chair reads and acknowledges; the room does neither
    got = await frames_until_closed(room)
    assert got[-1]["code"] == consumers.CLOSE_TOO_SLOW
    # the server never delivers the disconnect here (a client that stopped reading): the exit runs anyway
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False, timeout=4)
    assert ev["reason"] == "connection_lost"


async def test_a_consumer_that_is_cancelled_still_detaches_and_leaves(world):
    chair, room = await joined(world)
    room.comm.future.cancel()  # what daphne does to an application that outlives its connection, or a crash
    ev = await chair.wait_event("presence", room_id=world.room_a, online=False, timeout=4)
    assert ev["reason"] == "connection_lost"
    assert world.room_a not in await online(chair)


async def test_a_failed_join_leaves_no_ghost(world, monkeypatch):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()

    async def broken(actor, state, view=None):
        raise RuntimeError("snapshot failed")

    monkeypatch.setattr(control, "snapshot", broken)
    room = await connect(world.meeting_id, token=world.token_a)
    reply = await room.request("join")
    assert (reply["type"], reply["code"]) == ("error", "internal")
    monkeypatch.undo()
    assert world.room_a not in await online(chair)
    assert (await room.request("ping"))["type"] == "ok"
    await room.join()  # it can try again on the same socket
    assert world.room_a in await online(chair)


async def test_a_socket_that_does_not_join_is_closed(world, settings):
    settings.SIGNALING_JOIN_TIMEOUT_S = 0.5
    idle = await connect(world.meeting_id, token=world.token_a)
    member = await connect(world.meeting_id, token=world.token_b)
    await member.join()
    got = await frames_until_closed(idle, timeout=3)
    assert [m.get("code") for m in got] == ["join_timeout", consumers.CLOSE_JOIN_TIMEOUT]
    await asyncio.sleep(0.3)
    assert (await member.request("ping"))["type"] == "ok"  # a joined socket is not timed out


async def test_a_room_holds_a_bounded_number_of_sockets(world, settings):
    settings.SIGNALING_MAX_SOCKETS_PER_ROOM = 3
    held = [await connect(world.meeting_id, token=world.token_a) for _ in range(3)]
    for c in held:
        assert (await c.request("ping"))["type"] == "ok"
    extra = await connect(world.meeting_id, token=world.token_a)
    got = await frames_until_closed(extra)
    assert [m.get("code") for m in got] == ["too_many_connections", consumers.CLOSE_TOO_MANY]
    other = await connect(world.meeting_id, token=world.token_b)  # other rooms are not affected
    assert (await other.request("ping"))["type"] == "ok"
    await held[0].close()
    again = await connect(world.meeting_id, token=world.token_a)
    await again.join()

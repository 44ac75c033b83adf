"""Roll-call marks (status and absence reason) go to the chair and to the marked room
itself, never to the other rooms (issue 9, finding 11)."""

import pytest

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "Mất điện lưới toàn xã, chủ tịch đi công tác"


async def test_a_room_does_not_receive_another_rooms_roll_call_mark(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    assert (await chair.request("roll_call_start"))["type"] == "ok"
    for c in (a, b):
        await c.wait_event("roll_call", active=True)

    # the chair marks B absent with a reason: the chair and B hear it, A does not
    r = await chair.request("roll_call_mark", room_id=world.room_b, status="absent", reason=REASON)
    assert r["type"] == "ok"
    assert (await chair.wait_event("roll_call_mark", room_id=world.room_b))["reason"] == REASON
    assert (await b.wait_event("roll_call_mark", room_id=world.room_b))["reason"] == REASON
    # A answers: the chair and A hear it, B does not
    assert (await a.request("roll_call_answer"))["type"] == "ok"
    assert (await chair.wait_event("roll_call_mark", room_id=world.room_a))["status"] == "present_online"
    assert (await a.wait_event("roll_call_mark", room_id=world.room_a))["status"] == "present_online"
    # the chair marks itself: no room hears it
    r = await chair.request("roll_call_mark", room_id=world.chair_room, status="present_in_person")
    assert r["type"] == "ok"
    await chair.wait_event("roll_call_mark", room_id=world.chair_room)

    end = await chair.request("roll_call_end")
    assert end["type"] == "ok"
    for c in (a, b):
        await c.wait_event("roll_call", active=False)  # counts only
        # everything before the end has been delivered: no other room's mark among it
        assert [ev for ev in c.events if ev["event"] == "roll_call_mark"] == []
        assert await c.no_event("roll_call_mark")
    assert REASON not in str(a.events)
    # the marks are numbered notifications of each session: acknowledged like any other
    for c in (chair, a, b):
        assert (await c.ack())["type"] == "ok"
        await c.close()

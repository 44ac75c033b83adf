"""The speaker's clock (issue 12, item 10): the program carries since when the room with the floor speaks
(server time) and the chair's limit; `set_floor_limit` is the chair's, coded refusals change nothing, and a
reloaded or resumed client finds the clock where it was."""

import time

import pytest

from .conftest import connect
from .test_meeting_control import chair_and_rooms

pytestmark = pytest.mark.django_db(transaction=True)


async def test_floor_clock_and_limit(world):
    chair, (a, b), snap = await chair_and_rooms(world)
    assert abs(snap["server_time"] - time.time()) < 5
    assert snap["program"]["floor_since"] is None and snap["program"]["floor_limit_s"] is None

    # No floor yet: nothing to limit.
    assert (await chair.request("set_floor_limit", limit_s=60))["code"] == "no_floor"

    t0 = time.time()
    await chair.request("grant_floor", room_id=world.room_a)
    prog = await a.wait_event("program", mode="floor")
    await b.wait_event("program", mode="floor")
    since = prog["floor_since"]
    assert t0 - 1 <= since <= time.time() + 1 and prog["floor_limit_s"] is None

    # A room may not set it, nor may the chair send nonsense: coded, and nothing changes.
    refused = await a.request("set_floor_limit", limit_s=5)
    assert refused["type"] == "error" and refused["code"] == "chair_only" and refused["message"]
    assert (await chair.request("set_floor_limit", limit_s=0))["code"] == "invalid_field"
    assert (await chair.request("set_floor_limit", limit_s="60"))["code"] == "invalid_field"
    await b.no_event("program")

    assert (await chair.request("set_floor_limit", limit_s=90))["type"] == "ok"
    for c in (chair, a, b):
        ev = await c.wait_event("program", floor_limit_s=90)
        assert ev["floor_since"] == since and ev["floor_room"] == world.room_a

    # Granting again (the leave to present) keeps the clock and the limit.
    await chair.request("grant_floor", room_id=world.room_a, may_present=True)
    ev = await b.wait_event("program", floor_may_present=True)
    assert ev["floor_since"] == since and ev["floor_limit_s"] == 90

    # A reload (a fresh connection) and a resume both see the same clock.
    session, seq = a.session, a.seq
    await a.close()
    back = await connect(world.meeting_id, token=world.token_a)
    data = await back.join(resume={"session": session, "last_seq": seq})
    assert data["resumed"] is True
    again = await connect(world.meeting_id, token=world.token_b)
    fresh = (await again.join())["snapshot"]["program"]
    assert fresh["floor_since"] == since and fresh["floor_limit_s"] == 90
    await b.close()

    # The limit can be taken away; another speaker starts a new clock, without a limit.
    assert (await chair.request("set_floor_limit", limit_s=None))["type"] == "ok"
    await chair.wait_event("program", floor_limit_s=None)
    await chair.request("grant_floor", room_id=world.room_b)
    ev = await chair.wait_event("program", floor_room=world.room_b)
    assert ev["floor_since"] > since and ev["floor_limit_s"] is None
    await chair.request("revoke_floor")
    ev = await chair.wait_event("program", mode="lecture")
    assert ev["floor_since"] is None and ev["floor_limit_s"] is None
    for client in (chair, back, again):
        await client.close()

"""Issue 15: when the relay's tier loop moves a room (media/local.py's on_tier), that room's connection hears a
numbered `tier` event (signaling/tiernotice.py); the other rooms and the chair's consoles do not (the console
reads tiers from its quality stats). The chair's pin still tells everyone (test_pin_tier.py)."""

import asyncio

import pytest

from confserver.media import local

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_tier_moved_by_the_relay_is_told_to_that_room_alone(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    try:
        local._tier_moved(world.meeting_id, f"room-{world.room_a}", "t0", "nack")
        ev = await a.wait_event("tier", timeout=5, room_id=world.room_a)
        assert (ev["tier"], ev["reason"]) == ("t0", "nack") and ev["seq"] > 0, ev
        await b.no_event("tier", within=0.5)
        await chair.no_event("tier", within=0.2)

        # a move for a room with no connection now is dropped quietly; a peer that is no room is ignored
        local._tier_moved(world.meeting_id, "room-999999", "audio", "loss")
        local._tier_moved(world.meeting_id, "bench-peer", "audio", "loss")
        await asyncio.sleep(0.3)
        local._tier_moved(world.meeting_id, f"room-{world.room_a}", "t0t1", "recovered")
        ev = await a.wait_event("tier", timeout=5, room_id=world.room_a)
        assert (ev["tier"], ev["reason"]) == ("t0t1", "recovered"), ev
    finally:
        for client in (chair, a, b):
            await client.close()

"""Issue 15: the chair pins a room to a tier of the program's video (pin_tier); refusals change nothing.
The tier itself is applied and measured by the relay (tests/media/test_tiers.py, test_weaklink_netns.py)."""

import pytest

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


async def test_pin_tier_is_the_chairs_and_needs_the_rooms_media(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    # a room may not pin itself or another
    assert (await a.request("pin_tier", room_id=world.room_a, tier="full"))["code"] == "chair_only"
    # a tier that does not exist is refused by the protocol
    bad = await chair.request("pin_tier", room_id=world.room_a, tier="hd")
    assert bad["type"] == "error", bad
    # a room whose media has not connected yet has nothing to pin
    refused = await chair.request("pin_tier", room_id=world.room_a, tier="audio")
    assert refused["code"] == "media.unknown_peer", refused
    for client in (chair, a):
        await client.close()

"""A chair's tier pin outlives the room's media connection (issue 15): a room pinned to a tier that reconnects its
media (a new peer under the same id, as the room page's re-offer makes) is pinned again, and each new connection of
a room is told its tier at the first turn of its loop (its page starts afresh with every connection)."""

from confserver.testing.layered import LayeredPublisher, encode_clip

from .conftest import join, until
from .test_tiers_loopback import fps_over

GREEN = (30, 200, 60)


async def test_a_pinned_room_that_reconnects_is_pinned_again_and_told(relay, make_bot):
    told: list[tuple[str, str, str]] = []
    relay.on_tier = lambda peer, tier, reason: told.append((peer, tier, reason))
    publisher = LayeredPublisher("P", encode_clip(kbps=350))  # 30 fps, L1T3
    try:
        await publisher.accept(await relay.open_peer("P", await publisher.offer()))
        await publisher.wait_connected(10)
        first = make_bot("S", GREEN)
        await join(relay, first)
        relay.set_program("P", ["P"])
        await until(lambda: first.video[0].frames >= 10, 10, "S to decode P")
        # a new connection is told its tier at its loop's first turn, the full tier too
        await until(lambda: ("S", "full", "start") in told, 5, "S told it is on the full tier")
        full_fps = await fps_over(first, 2.0)

        assert relay.pin_tier("S", "t0") == "t0"
        await relay.close_peer("S")  # the room's media drops...
        await first.close()
        told.clear()
        again = make_bot("S", GREEN)  # ...and its page offers again, under the same peer id
        await join(relay, again)
        assert relay.stats()["S"].tier == "t0" and relay.stats()["S"].tier_pinned == "t0"
        await until(lambda: ("S", "t0", "pinned") in told, 5, "the reconnected room told it is pinned")
        await until(lambda: again.video[0].frames >= 5, 10, "S to decode P again")
        pinned_fps = await fps_over(again, 3.0)
        assert pinned_fps <= 0.45 * full_fps, (pinned_fps, full_fps)  # a quarter of the frames, not all

        # let go: the next connection starts free, on the full tier
        assert relay.pin_tier("S", None) in ("t0", "t0t1", "full")
        await relay.close_peer("S")
        await again.close()
        told.clear()
        third = make_bot("S", GREEN)
        await join(relay, third)
        assert relay.stats()["S"].tier == "full" and relay.stats()["S"].tier_pinned is None
        await until(lambda: ("S", "full", "start") in told, 5, "the free room told it is on the full tier")
    finally:
        await publisher.close()

"""Issue 15 on loopback: a layered (L1T3) publisher's program reaches a room at the tier it is pinned to,
with no re-encoding and, on the way back from audio only, no keyframe request (the cached one is used)."""

import asyncio

from confserver.testing.layered import LayeredPublisher, encode_clip

from .conftest import join, until

BLUE = (30, 40, 220)


async def fps_over(bot, seconds: float) -> float:
    start = bot.video[0].frames
    await asyncio.sleep(seconds)
    return (bot.video[0].frames - start) / seconds


async def test_pinned_tiers_send_all_half_a_quarter_or_no_frames(relay, make_bot):
    publisher = LayeredPublisher("P", encode_clip(kbps=350))  # 30 fps, TIDs 0-2-1-2
    s = make_bot("S", BLUE)
    try:
        await publisher.accept(await relay.open_peer("P", await publisher.offer()))
        await publisher.wait_connected(10)
        await join(relay, s)
        relay.set_program("P", ["P"])
        await until(lambda: s.video[0].frames >= 10, 10, "S to decode P")
        seen = {}
        for tier in ("full", "t0t1", "t0", "audio", "full"):
            asked = publisher.keyframe_requests
            assert relay.pin_tier("S", tier) == tier
            await asyncio.sleep(1.0)  # the frames in flight
            seen[tier] = await fps_over(s, 3.0)
            if tier == "full" and "audio" in seen:
                assert publisher.keyframe_requests == asked  # back from audio only at the cached keyframe
        assert relay.stats()["S"].tier_pinned == "full"
        assert seen["full"] >= 20, seen
        assert 0.35 * seen["full"] <= seen["t0t1"] <= 0.65 * seen["full"], seen
        assert 0.12 * seen["full"] <= seen["t0"] <= 0.4 * seen["full"], seen
        assert seen["audio"] <= 0.5, seen
        assert s.audio[0].frames > 0  # the sound went on throughout
    finally:
        await publisher.close()

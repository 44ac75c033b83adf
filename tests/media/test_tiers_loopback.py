"""Issue 15 on loopback: a layered (L1T3) publisher's program reaches a room at the tier it is pinned to,
with no re-encoding and, on the way back from audio only, no keyframe request (the cached one is used)."""

import asyncio

import av

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


def test_the_layered_clips_lower_layers_decode_on_their_own():
    """What a room on T0 or T0T1 is sent decodes, and to the same pictures as with every layer (issue 15: without
    error resilience they did not, and Chromium decoded only the keyframes of a room on a lower tier)."""

    def decode(frames, max_tid: int) -> tuple[dict[int, bytes], int]:
        decoder = av.CodecContext.create("vp8", "r")  # FFmpeg's own decoder: refuses what does not decode
        pictures, errors = {}, 0
        for index, (tid, _sync, data) in enumerate(frames):
            if tid <= max_tid:
                try:
                    for picture in decoder.decode(av.Packet(data)):
                        pictures[index] = bytes(picture.planes[0])
                except av.error.InvalidDataError:
                    errors += 1
        return pictures, errors

    frames = encode_clip(kbps=350)
    full, errors = decode(frames, 2)
    assert errors == 0 and len(full) == len(frames)
    for max_tid in (0, 1):
        pictures, errors = decode(frames, max_tid)
        assert errors == 0 and len(pictures) == sum(1 for tid, _, _ in frames if tid <= max_tid), (max_tid, errors)
        assert all(pictures[index] == full[index] for index in pictures), max_tid

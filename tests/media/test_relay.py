"""The relay forwards encoded frames between real aiortc peers over loopback."""

import asyncio

import pytest
from aiortc import RTCRtpSender

from confserver.errors import DomainError
from confserver.media.bot import close_to, decode_errors

from .conftest import join, until

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)


async def test_forwarded_frames_decode_as_the_publishers_picture(relay, make_bot):
    errors = decode_errors()
    a, s = make_bot("A", RED), make_bot("S", BLUE)
    await join(relay, a, s)
    relay.set_program("A", ["A"])

    await until(lambda: s.video[0].frames >= 20 and s.audio[0].loud >= 20, 6, "S to decode A")

    pictures = s.video[0].pictures
    assert pictures[0].key, "a subscriber starts at a keyframe"
    assert all(close_to(p.colour, RED) for p in pictures), [p.colour for p in pictures]
    assert decode_errors() == errors
    assert (await s.inbound_stats("video"))["packets_lost"] == 0
    # the program source does not receive itself, and had no previous source
    assert a.video[0].frames == 0 and a.audio[0].frames == 0


async def test_keyframe_requests_reach_the_publisher_coalesced(relay, make_bot):
    a, s1, s2 = make_bot("A", RED), make_bot("S1", BLUE), make_bot("S2", GREEN)
    await join(relay, a, s1, s2)
    relay.set_program("A", ["A"])
    await until(lambda: s1.video[0].frames >= 5 and s2.video[0].frames >= 5, 6, "pictures")
    await asyncio.sleep(0.6)  # past the keyframe asked for when they connected
    asked, keys = a.keyframe_requests, sum(p.key for p in s1.video[0].pictures)

    sent = await asyncio.gather(*[bot.request_keyframe() for bot in (s1, s2, s1, s2, s1, s2)])
    assert all(sent)
    await until(lambda: a.keyframe_requests > asked, 1, "a PLI at the publisher")
    await asyncio.sleep(0.25)

    assert a.keyframe_requests - asked == 1, "six PLIs within 0.5 s make one"
    await until(lambda: sum(p.key for p in s1.video[0].pictures) > keys, 2, "the new keyframe")
    assert relay.stats()["A"].keyframe_requests_out >= 1


async def test_a_room_asking_again_and_again_gets_keyframes_every_2_s_not_every_half_second(relay, make_bot):
    a, s1, s2 = make_bot("A", RED), make_bot("S1", BLUE), make_bot("S2", GREEN)
    await join(relay, a, s1, s2)
    relay.set_program("A", ["A"])
    await until(lambda: s1.video[0].frames >= 5 and s2.video[0].frames >= 5, 6, "pictures")
    await asyncio.sleep(2.2)  # past the keyframe asked for when they connected, and past S1's own interval
    asked = a.keyframe_requests

    # S1 cannot decode and asks ten times a second for 4.5 s: once at once, then once per 2 s (not 9 times).
    start = asyncio.get_running_loop().time()
    await s1.request_keyframe()
    await until(lambda: a.keyframe_requests > asked, 1, "S1's first request at the publisher at once")
    while asyncio.get_running_loop().time() - start < 4.5:
        await s1.request_keyframe()
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    # at ~0, ~2 and ~4 s (one more if a keyframe took over a second to come and the feed asked again)
    assert 2 <= a.keyframe_requests - asked <= 4, a.keyframe_requests - asked
    assert relay._peers["S1"].slots["video"][0].key_requests_held >= 30

    # S2 has its own interval: its first request goes at once (the feed's half-second coalescing aside).
    await asyncio.sleep(0.6)
    asked = a.keyframe_requests
    await s2.request_keyframe()
    await until(lambda: a.keyframe_requests > asked, 1, "S2's request at the publisher")


async def test_muted_room_is_not_heard_until_unmuted(relay, make_bot):
    a, s = make_bot("A", RED), make_bot("S", BLUE)
    await join(relay, a, s)
    relay.set_program("A", ["A"])
    await until(lambda: s.audio[0].frames >= 10, 5, "audio")

    relay.set_muted("A", True)
    await asyncio.sleep(0.5)  # what was on its way
    heard, seen = s.audio[0].frames, s.video[0].frames
    await asyncio.sleep(1.0)
    assert s.audio[0].frames == heard, "muted audio is not forwarded"
    assert s.video[0].frames > seen + 5, "video goes on"
    assert relay.stats()["A"].muted

    relay.set_muted("A", False)
    await until(lambda: s.audio[0].loud >= heard + 20, 3, "audio to resume")


async def test_program_switch_happens_at_a_keyframe(relay, make_bot):
    errors = decode_errors()
    a, b, s = make_bot("A", RED), make_bot("B", GREEN), make_bot("S", BLUE)
    await join(relay, a, b, s)
    relay.set_program("A", ["A"])
    await until(lambda: s.video[0].frames >= 10, 6, "A's picture")
    before = s.video[0].frames

    relay.set_program("B", ["B"])
    took = await until(lambda: close_to(s.video[0].pictures[-1].colour, GREEN), 3, "B's picture")
    await asyncio.sleep(0.3)

    after = s.video[0].pictures[before:]
    first_green = next(i for i, p in enumerate(after) if close_to(p.colour, GREEN))
    assert all(close_to(p.colour, RED) for p in after[:first_green]), "the old source until the switch"
    assert all(close_to(p.colour, GREEN) for p in after[first_green:]), "then only the new one"
    assert after[first_green].key, "the switch is at B's keyframe"
    assert decode_errors() == errors
    assert took < 1.5
    # RTP sequence and timestamps stay continuous across the switch
    assert (await s.inbound_stats("video"))["packets_lost"] == 0
    steps = [q.pts - p.pts for p, q in zip(s.video[0].pictures, s.video[0].pictures[1:])]
    assert all(0 < step < 90000 for step in steps), steps
    # the new program source keeps the previous picture; the old one now sees B
    await until(lambda: a.video[0].frames >= 3 and close_to(a.video[0].pictures[-1].colour, GREEN), 3, "A to see B")
    assert close_to(b.video[0].pictures[-1].colour, RED)


async def test_stats_report_connection_bitrate_loss_rtt(relay, make_bot):
    a, s = make_bot("A", RED), make_bot("S", BLUE)
    await join(relay, a, s)
    relay.set_program("A", ["A"])

    await until(lambda: relay.stats()["S"].rtt_ms is not None, 5, "an RTT from S's receiver reports")
    # rates are over the last second
    await until(
        lambda: relay.stats()["A"].bitrate_in_kbps > 20 and relay.stats()["S"].bitrate_out_kbps > 20, 5, "rates"
    )
    stats = relay.stats()
    assert stats["A"].connected and stats["S"].connected
    assert stats["A"].loss_in_pct == 0 and stats["S"].loss_out_pct == 0
    assert stats["A"].last_keyframe_in is not None and stats["A"].keyframes_in >= 1
    assert 0 <= stats["S"].rtt_ms < 100
    assert ("A", "connected") in relay.test_states and ("S", "connected") in relay.test_states

    await relay.close_peer("S")
    assert "S" not in relay.stats()
    assert ("S", "closed") in relay.test_states


async def test_extra_slots_carry_floor_audio_and_multiview(relay, make_bot):
    chair = make_bot("C", BLUE, extra_video=2, extra_audio=1)
    a, b = make_bot("A", RED, tone_hz=600), make_bot("B", GREEN, tone_hz=300)
    await join(relay, chair, a, b)
    relay.set_program("A", ["C", "A"])  # the floor room's picture, the chair and the floor heard
    relay.set_route("C", "video", 1, "B")
    relay.set_route("C", "video", 2, "A")

    await until(
        lambda: all(v.frames >= 5 for v in chair.video) and chair.audio[1].loud >= 10 and b.audio[0].loud >= 10,
        6,
        "all slots",
    )
    assert close_to(chair.video[0].pictures[-1].colour, RED)
    assert close_to(chair.video[1].pictures[-1].colour, GREEN)
    assert close_to(chair.video[2].pictures[-1].colour, RED)
    assert chair.audio[0].frames == 0, "the chair does not hear itself"
    assert chair.audio[1].loud >= 10, "the chair hears the floor room on slot 1"
    assert b.audio[0].loud >= 10, "rooms hear the chair"


async def test_refusals_leave_the_relay_unchanged(relay, make_bot):
    a = make_bot("A", RED)
    await join(relay, a)

    with pytest.raises(DomainError) as refused:
        relay.set_route("A", "video", 0, "A")
    assert refused.value.code == "media.self_route"
    with pytest.raises(DomainError) as refused:
        relay.set_route("A", "video", 5, None)
    assert refused.value.code == "media.no_such_slot"
    with pytest.raises(DomainError) as refused:
        relay.set_muted("nobody", True)
    assert refused.value.code == "media.unknown_peer"
    with pytest.raises(DomainError) as refused:
        await relay.open_peer("A", await make_bot("A2").offer())
    assert refused.value.code == "media.peer_exists"

    h264 = make_bot("H", GREEN)
    video = next(t for t in h264.pc.getTransceivers() if t.kind == "video")
    video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"])
    with pytest.raises(DomainError) as refused:
        await relay.open_peer("H", await h264.offer())
    assert refused.value.code == "media.codec_unsupported"

    with pytest.raises(DomainError) as refused:
        await relay.open_peer("X", "v=0\r\nnot an offer")
    assert refused.value.code == "media.bad_offer"

    relay.max_peers = 1
    with pytest.raises(DomainError) as refused:
        await relay.open_peer("B", await make_bot("B").offer())
    assert refused.value.code == "media.relay_full"
    assert set(relay.stats()) == {"A"}


async def test_a_peer_that_never_connects_is_failed_and_forgotten(relay, make_bot):
    relay.connect_timeout = 0.5
    ghost = make_bot("G", RED)
    await relay.open_peer("G", await ghost.offer())  # the answer never reaches it
    await until(lambda: "G" not in relay.stats(), 3, "the relay to drop G")
    assert ("G", "failed") in relay.test_states


async def test_a_peer_that_hangs_up_is_forgotten(relay, make_bot):
    a, s = make_bot("A", RED), make_bot("S", BLUE)
    await join(relay, a, s)
    relay.set_program("A", ["A"])
    await until(lambda: s.video[0].frames >= 3, 5, "pictures")
    await a.close()
    await until(lambda: "A" not in relay.stats(), 3, "the relay to drop A")
    assert ("A", "closed") in relay.test_states
    assert relay.stats()["S"].connected


async def test_a_newcomer_starts_from_the_cached_keyframe(relay, make_bot):
    errors = decode_errors()
    a, s1 = make_bot("A", RED), make_bot("S1", BLUE)
    await join(relay, a, s1)
    relay.set_program("A", ["A"])
    await until(lambda: s1.video[0].frames >= 2, 5, "S1's first picture")
    asked = a.keyframe_requests

    # within the keyframe's half second: no new request, the cached frames instead
    s2 = make_bot("S2", GREEN)
    await join(relay, s2)
    took = await until(lambda: s2.video[0].frames >= 1, 2, "S2's first picture")
    await until(lambda: s2.video[0].frames >= 10, 3, "S2's pictures")

    assert took < 1.0  # (the bench measures it; here the machine may be busy)
    assert a.keyframe_requests == asked, "the newcomer did not cost a keyframe"
    assert s2.video[0].pictures[0].key
    assert all(close_to(p.colour, RED) for p in s2.video[0].pictures)
    assert decode_errors() == errors
    assert (await s2.inbound_stats("video"))["packets_lost"] == 0


async def test_a_program_source_not_yet_connected_is_taken_when_it_comes(relay, make_bot):
    a, s = make_bot("A", RED), make_bot("S", BLUE)
    await join(relay, a, s)
    relay.set_program("A", ["A"])
    await until(lambda: s.video[0].frames >= 3, 5, "A's picture")

    relay.set_program("B", ["B"])  # B has not opened yet: A plays on
    seen = s.video[0].frames
    await asyncio.sleep(0.5)
    assert s.video[0].frames > seen and close_to(s.video[0].pictures[-1].colour, RED)

    b = make_bot("B", GREEN)
    await join(relay, b)
    await until(lambda: close_to(s.video[0].pictures[-1].colour, GREEN), 3, "B's picture")


async def test_trickled_browser_candidates_are_accepted(relay, make_bot):
    bot = make_bot("T", RED)
    offer = await bot.offer()
    lines = offer.splitlines()
    candidates = [line[2:] for line in lines if line.startswith("a=candidate:")]
    stripped = (
        "\r\n".join(line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))) + "\r\n"
    )
    assert candidates

    await bot.accept(await relay.open_peer("T", stripped))
    for line in candidates:  # as a browser sends them: {candidate, sdpMid, sdpMLineIndex}
        await relay.add_ice_candidate("T", {"candidate": line, "sdpMid": "1", "sdpMLineIndex": 1})
    await relay.add_ice_candidate("T", None)
    await bot.wait_connected(10)
    await until(lambda: relay.stats()["T"].connected, 3, "the relay to see T connected")

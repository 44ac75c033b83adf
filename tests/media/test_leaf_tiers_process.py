"""Tiers at the leaf relays of the cascade (issue 15, item 4), with real relay processes (`manage.py run_relay`):
a layered (L1T3) chair publishes to the root; three aiortc rooms sit on a leaf that dialled the root.

A room pinned to a lower tier on the leaf receives the lower frame rate while its neighbours get all of it (the
temporal-layer marks cross the link); once every room of the leaf is on T0 the link carries only T0, on audio only
no video at all, and coming back costs the chair one keyframe request; a room losing packets is taken down by its
own loop on the leaf while its neighbours and the link stay full. The figures are printed (pytest -s)."""

import asyncio
import json
import os
import time
import uuid

import pytest

from confserver.media.bot import Bot, decode_errors
from confserver.testing import live
from confserver.testing.layered import LayeredPublisher, encode_clip
from confserver.testing.roombot import LossShim

from . import relayproc
from .test_links_process import Calls, until

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="relay processes are reached through Redis")

MEETING = 7301
CHAIR = 1
ROOMS = (11, 12, 13)
MEASURE_S = 4.0
SETTLE_S = 1.5
PROGRAM = {"mode": "lecture", "source_room": None, "floor_room": None, "chair_room": CHAIR, "floor_may_present": False}


@pytest.fixture
async def calls(tmp_path):
    """A root and a leaf relay process; yields the calls to them."""
    tag = uuid.uuid4().hex[:8]
    channels = {name: f"relay-{name}-{tag}" for name in ("root", "leaf")}
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [], MEDIA_RELAY_CHANNELS=",".join(channels.values()))
        live.manage(env, "migrate", "--no-input", "-v0")
        procs = []
        try:
            for channel in channels.values():
                procs.append(relayproc.relay(env, tmp_path, channel))
            c = Calls(env["CHANNEL_PREFIX"], channels)
            try:
                await c.ready()
                yield c
            finally:
                await c.close()
        finally:
            for proc in procs:
                relayproc.stop(proc)


@pytest.fixture
async def peers():
    made: list = []
    yield made
    for peer in made:
        await asyncio.wait_for(peer.close(), 10)


async def open_room(calls, relay: str, room: int, peer) -> None:
    answer = await calls(
        relay, "open_peer", meeting_id=MEETING, room_id=room, offer_sdp=await peer.offer(), program=PROGRAM, muted=[]
    )
    await peer.accept(answer)
    await peer.wait_connected(20)


def received(bot: Bot, start: float, end: float) -> int:
    """Frames whose last packet reached the room's socket between `start` and `end` (the kernel's time): what the
    relay sent it, however late a loaded machine's event loop and decoder take them."""
    return sum(1 for at, _key in bot.video[0].encoded if start <= at < end)


async def measure(calls, bots: dict[int, Bot], seconds: float = MEASURE_S) -> dict:
    """Over `seconds`: the frames each room received per second (and decoded), its audio frames, and what the link
    carried down (kbps)."""
    decoded = {room: bot.video[0].frames for room, bot in bots.items()}
    audio = {room: bot.audio[0].frames for room, bot in bots.items()}
    link = (await calls("root", "link_stats", meeting_id=MEETING))["link:leaf"]
    start = time.monotonic()
    await asyncio.sleep(seconds)
    after = (await calls("root", "link_stats", meeting_id=MEETING))["link:leaf"]
    end = time.monotonic()
    took = end - start
    out = {
        "decoded_fps": {room: round((bot.video[0].frames - decoded[room]) / took, 1) for room, bot in bots.items()},
        "audio_fps": {room: round((bot.audio[0].frames - audio[room]) / took, 1) for room, bot in bots.items()},
        "link_video_kbps": round(8 * (after["octets_out"]["video0"] - link["octets_out"]["video0"]) / took / 1000, 1),
        "link_audio_kbps": round(8 * (after["octets_out"]["audio0"] - link["octets_out"]["audio0"]) / took / 1000, 1),
        "link_tier": after["tier"],
    }
    await asyncio.sleep(SETTLE_S)  # the frames of the window still in the test's event loop
    out["fps"] = {room: round(received(bot, start, end) / took, 1) for room, bot in bots.items()}
    return out


async def pin(calls, rooms, tier: str | None) -> None:
    for room in rooms:
        await calls("leaf", "pin_tier", meeting_id=MEETING, room_id=room, tier=tier)


async def link_tier_is(calls, tier: str, timeout: float = 10.0) -> float:
    """Seconds until the root's slots of the leaf's link forward `tier` (the leaf told it)."""
    start = time.monotonic()
    while (await calls("root", "link_stats", meeting_id=MEETING))["link:leaf"]["tier"] != tier:
        assert time.monotonic() - start < timeout, f"the link did not go to {tier} within {timeout} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_a_leaf_applies_tiers_and_its_link_carries_only_what_its_rooms_take(calls, peers):
    chair = LayeredPublisher("chair", encode_clip(kbps=350))  # 30 fps, TIDs 0-2-1-2
    peers.append(chair)
    bots = {room: Bot(f"room-{room}", publish=False, arrivals=True) for room in ROOMS}
    peers.extend(bots.values())
    await open_room(calls, "root", CHAIR, chair)
    for room, bot in bots.items():
        await open_room(calls, "leaf", room, bot)
    reply = await calls(
        "leaf", "dial_link", meeting_id=MEETING, parent_channel=calls.channels["root"], link_id="leaf", program=PROGRAM
    )
    assert reply["state"] == "connected", reply
    for room, bot in bots.items():
        await until(lambda bot=bot: bot.video[0].frames >= 15, 30, f"room {room} on the leaf to decode the chair")
    await asyncio.sleep(1.0)
    figures: dict = {}

    # Every room full: the link carries every layer.
    full = figures["all_full"] = await measure(calls, bots)
    assert full["link_tier"] == "full"
    assert all(fps >= 18 for fps in full["fps"].values()), full

    # One room pinned to T0 on the leaf: a quarter of the frames for it, all of them for its neighbours and the link.
    await pin(calls, [11], "t0")
    await asyncio.sleep(1.0)  # the frames in flight
    one = figures["one_t0"] = await measure(calls, bots)
    assert 0.12 * full["fps"][11] <= one["fps"][11] <= 0.4 * full["fps"][11], one
    for room in (12, 13):
        assert one["fps"][room] >= 0.8 * full["fps"][room], one
    assert one["link_tier"] == "full" and one["link_video_kbps"] >= 0.8 * full["link_video_kbps"], one

    # Every room on T0: the leaf asks the root for T0 only; fewer bytes cross the link.
    await pin(calls, [12, 13], "t0")
    figures["link_to_t0_s"] = round(await link_tier_is(calls, "t0"), 2)
    await asyncio.sleep(1.0)
    low = figures["all_t0"] = await measure(calls, bots)
    assert all(0.12 * full["fps"][r] <= low["fps"][r] <= 0.4 * full["fps"][r] for r in ROOMS), low
    assert low["link_video_kbps"] <= 0.6 * full["link_video_kbps"], (low, full)

    # Every room on audio only: no video crosses the link, the sound does.
    await pin(calls, ROOMS, "audio")
    figures["link_to_audio_s"] = round(await link_tier_is(calls, "audio"), 2)
    await asyncio.sleep(1.0)
    silent = figures["all_audio"] = await measure(calls, bots)
    assert silent["link_video_kbps"] <= 1.0 and all(fps <= 0.5 for fps in silent["fps"].values()), silent
    assert silent["link_audio_kbps"] >= 10 and all(n > 0 for n in silent["audio_fps"].values()), silent

    # Back to full: the link's slot restarts at a keyframe; the requests climb coalesced (one reaches the chair).
    errors, asked = decode_errors(), chair.keyframe_requests
    seen = {room: bot.video[0].frames for room, bot in bots.items()}
    start = time.monotonic()
    await pin(calls, ROOMS, "full")
    for room, bot in bots.items():
        await until(lambda bot=bot, room=room: bot.video[0].frames >= seen[room] + 10, 15, f"room {room} back")
    figures["back_to_full_s"] = round(time.monotonic() - start, 2)
    figures["keyframe_requests_at_chair"] = chair.keyframe_requests - asked
    assert 1 <= figures["keyframe_requests_at_chair"] <= 3, figures
    await asyncio.sleep(1.0)
    back = figures["back_full"] = await measure(calls, bots)
    assert back["link_tier"] == "full" and all(fps >= 18 for fps in back["fps"].values()), back
    assert back["link_video_kbps"] >= 0.8 * full["link_video_kbps"], (back, full)
    assert decode_errors() == errors

    # A room losing a fifth of its packets on the leaf: its own loop there takes it down (the leaf reads its NACKs and
    # reports); its neighbours (still pinned full: a loaded machine's clean room may step down too) keep every frame,
    # and so does the link (the tier is the room's, not the subtree's).
    await pin(calls, [13], None)
    shim = LossShim(bots[13], lambda: None)
    shim.set(loss_pct=20, burst=2)
    start = time.monotonic()
    while True:
        quality = await calls("leaf", "quality", meeting_id=MEETING)
        if quality["13"]["tier"] != "full":
            break
        assert time.monotonic() - start < 30, f"the lossy room stayed full: {quality['13']}"
        await asyncio.sleep(0.2)
    figures["lossy_room_down_s"] = round(time.monotonic() - start, 2)
    figures["lossy_room"] = {k: quality["13"][k] for k in ("tier", "tier_reason")}
    lossy = figures["one_lossy"] = await measure(calls, bots)
    shim.set(loss_pct=0)
    quality = await calls("leaf", "quality", meeting_id=MEETING)
    assert lossy["link_tier"] == "full", lossy
    assert all(lossy["fps"][r] >= 0.8 * full["fps"][r] for r in (11, 12)), lossy
    print("leaf tiers:", json.dumps(figures))
    await calls("root", "end_meeting", meeting_id=MEETING)
    await calls("leaf", "end_meeting", meeting_id=MEETING)

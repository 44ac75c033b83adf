"""Relay-to-relay links (issue 11, item 2) between real relay processes (`manage.py run_relay`).

A root and two leaves, reached over Redis like in production; aiortc bots of distinct colours play
the rooms. The leaves dial the root (`dial_link`); the program comes down, the floor room's stream
climbs from its leaf, keyframe requests climb coalesced, a muted room is cut at its leaf.
"""

import asyncio
import os
import time
import uuid

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from confserver.media import remote
from confserver.media.bot import Bot, close_to, decode_errors
from confserver.testing import live

from . import relayproc

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="relay processes are reached through Redis")

CHAIR, R, A, L, M = 1, 2, 3, 4, 5  # R on the root; A and L on leaf 1; M on leaf 2
COLOURS = {CHAIR: (30, 40, 220), R: (30, 200, 40), A: (220, 30, 30), L: (230, 200, 30), M: (200, 60, 200)}
NAMES = ("root", "leaf1", "leaf2")


def program(mode: str, source: int | None) -> dict:
    return {
        "mode": mode,
        "source_room": source,
        "floor_room": source if mode == "floor" else None,
        "chair_room": CHAIR,
        "floor_may_present": False,
    }


@pytest.fixture(scope="module")
def relays(tmp_path_factory):
    """Three relay processes on channels of their own; yields (channel prefix, {name: channel})."""
    logs = tmp_path_factory.mktemp("links")
    tag = uuid.uuid4().hex[:8]
    channels = {name: f"relay-{name}-{tag}" for name in NAMES}
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [], MEDIA_RELAY_CHANNELS=",".join(channels.values()))
        live.manage(env, "migrate", "--no-input", "-v0")
        procs = []
        try:
            for channel in channels.values():
                procs.append(relayproc.relay(env, logs, channel))
            yield env["CHANNEL_PREFIX"], channels
        finally:
            for proc in procs:
                relayproc.stop(proc)


class Calls:
    """Calls to the relay processes, as a daphne worker makes them (media/remote.py's client)."""

    def __init__(self, prefix: str, channels: dict[str, str]):
        self.channels = channels
        self.client = remote._Client()
        self.client.layer = RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=prefix)

    async def __call__(self, name: str, op: str, **args):
        return await self.client.call(self.channels[name], op, args)

    async def ready(self, timeout: float = 60.0) -> None:
        """Wait until every process answers (a call sent before a process subscribed is lost)."""
        end = time.monotonic() + timeout
        for name in self.channels:
            while True:
                try:
                    await asyncio.wait_for(self(name, "link_stats", meeting_id=0), 2)
                    break
                except (TimeoutError, remote.RelayUnavailable):
                    if time.monotonic() > end:
                        raise
        await asyncio.sleep(0)

    async def close(self) -> None:
        if self.client.reader is not None:
            self.client.reader.cancel()
            await asyncio.gather(self.client.reader, return_exceptions=True)
        await self.client.layer.flush()


@pytest.fixture
async def calls(relays):
    prefix, channels = relays
    c = Calls(prefix, channels)
    await c.ready()
    yield c
    await c.close()


@pytest.fixture
async def bots():
    made: list[Bot] = []

    def make(room: int, **kwargs) -> Bot:
        made.append(Bot(f"room-{room}", COLOURS.get(room, (128, 128, 128)), extra_audio=1, **kwargs))
        return made[-1]

    yield make
    for bot in made:
        await asyncio.wait_for(bot.close(), 10)


async def until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def open_room(calls, relay: str, meeting: int, room: int, bot: Bot, prog: dict) -> None:
    answer = await calls(
        relay, "open_peer", meeting_id=meeting, room_id=room, offer_sdp=await bot.offer(), program=prog, muted=[]
    )
    await bot.accept(answer)
    await bot.wait_connected(20)


def shows(bot: Bot, room: int) -> bool:
    pictures = bot.video[0].pictures
    return bool(pictures) and close_to(pictures[-1].colour, COLOURS[room])


async def keeps_showing(bot: Bot, room: int, what: str, timeout: float = 20.0) -> None:
    await until(lambda: shows(bot, room), timeout, what)
    seen = bot.video[0].frames
    await until(lambda: bot.video[0].frames >= seen + 5, 10, f"{what}: more pictures")
    assert all(close_to(p.colour, COLOURS[room]) for p in bot.video[0].pictures[seen:]), what


def first_of(bot: Bot, room: int):
    return next(p for p in bot.video[0].pictures if close_to(p.colour, COLOURS[room]))


async def test_program_down_floor_up_and_a_muted_room_cut_at_its_leaf(calls, bots):
    meeting = 7001
    lecture = program("lecture", None)
    chair, r, a, l_, m = bots(CHAIR), bots(R), bots(A), bots(L), bots(M)
    await open_room(calls, "root", meeting, CHAIR, chair, lecture)
    await open_room(calls, "root", meeting, R, r, lecture)
    await open_room(calls, "leaf1", meeting, A, a, lecture)
    await open_room(calls, "leaf1", meeting, L, l_, lecture)
    await open_room(calls, "leaf2", meeting, M, m, lecture)
    for leaf in ("leaf1", "leaf2"):
        reply = await calls(
            leaf, "dial_link", meeting_id=meeting, parent_channel=calls.channels["root"], link_id=leaf, program=lecture
        )
        assert reply["state"] == "connected", reply

    # Down: rooms on both leaves decode the chair, who publishes to the root.
    for bot, what in ((l_, "L on leaf 1"), (a, "A on leaf 1"), (m, "M on leaf 2")):
        await keeps_showing(bot, CHAIR, f"{what} to see the chair")
    stats = await calls("root", "link_stats", meeting_id=meeting)
    assert set(stats) == {"link:leaf1", "link:leaf2"} and all(s["state"] == "connected" for s in stats.values()), stats

    # Up: the floor goes to A on leaf 1; the control plane tells every relay of the meeting.
    errors = decode_errors()
    floor = program("floor", A)
    for name in NAMES:
        await calls(name, "on_program", meeting_id=meeting, program=floor)
    await keeps_showing(r, A, "R on the root to see A")
    await keeps_showing(chair, A, "the chair to see A")
    await keeps_showing(m, A, "M on leaf 2 to see A")
    await keeps_showing(l_, A, "L, next to A on leaf 1, to see A")
    await keeps_showing(a, CHAIR, "A, given the floor, to see the chair")
    # the switch stays at keyframes across levels: each room's first picture of A is a keyframe
    for bot in (r, m, l_):
        assert first_of(bot, A).key, bot.name
    assert decode_errors() == errors
    # A's sound reaches the root's rooms on audio slot 1
    heard = r.audio[1].frames
    await until(lambda: r.audio[1].frames > heard + 20, 10, "A's sound at R")

    # A muted room is cut at its leaf: nothing of its sound climbs the link.
    for name in NAMES:
        await calls(name, "on_mute", meeting_id=meeting, room_id=A, muted=True)
    await asyncio.sleep(0.5)  # what was on the way
    up = (await calls("leaf1", "link_stats", meeting_id=meeting))["parent"]["packets_out"]["audio0"]
    heard_r, heard_m = r.audio[1].frames, m.audio[1].frames
    await asyncio.sleep(2)
    assert (await calls("leaf1", "link_stats", meeting_id=meeting))["parent"]["packets_out"]["audio0"] == up
    assert r.audio[1].frames - heard_r <= 2 and m.audio[1].frames - heard_m <= 2
    # the picture goes on
    seen = r.video[0].frames
    await until(lambda: r.video[0].frames > seen + 10, 10, "A's picture at R while muted")
    await calls("root", "end_meeting", meeting_id=meeting)
    for leaf in ("leaf1", "leaf2"):
        await calls(leaf, "end_meeting", meeting_id=meeting)


async def test_keyframe_requests_from_five_leaf_rooms_reach_the_source_coalesced(calls, bots):
    meeting = 7002
    lecture = program("lecture", None)
    chair = bots(CHAIR)
    await open_room(calls, "root", meeting, CHAIR, chair, lecture)
    rooms = [bots(room, publish=False) for room in range(11, 16)]
    for room, bot in zip(range(11, 16), rooms):
        await open_room(calls, "leaf2", meeting, room, bot, lecture)
    reply = await calls(
        "leaf2",
        "dial_link",
        meeting_id=meeting,
        parent_channel=calls.channels["root"],
        link_id="leaf2",
        program=lecture,
    )
    assert reply["state"] == "connected", reply
    for bot in rooms:
        await until(lambda bot=bot: shows(bot, CHAIR) and bot.video[0].frames > 5, 20, f"{bot.name} to see the chair")
    await asyncio.sleep(1.0)  # the start's own requests are answered

    before = chair.keyframe_requests
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < 3.0:  # every room asks every 50 ms: ~300 requests in all
        for bot in rooms:
            sent += await bot.request_keyframe()
        await asyncio.sleep(0.05)
    took = time.monotonic() - start
    await asyncio.sleep(0.3)
    reached = chair.keyframe_requests - before
    assert sent >= 100
    # they climb (coalesced at the leaf, then at the root): at most one per 0.5 s, and not none
    assert 2 <= reached <= int((took + 0.3) / 0.5) + 1, (reached, took)
    up = (await calls("leaf2", "link_stats", meeting_id=meeting))["parent"]["keyframe_requests_out"]
    assert up <= int((time.monotonic() - start) / 0.5) + 4, up  # + the start's own
    await calls("root", "end_meeting", meeting_id=meeting)
    await calls("leaf2", "end_meeting", meeting_id=meeting)

"""The plan drives the links (issue 11, item 1): real relay processes, a plan stored in Redis, calls carrying its
epoch as the daphne workers send them (MEDIA_CASCADE), and nobody calling `dial_link`: each leaf dials the parent
its plan names (media/treelinks.py). Chair on the root, rooms on two leaves decode the program; the floor given to a
room on one leaf reaches the rooms on the other; a re-plan published on `relay-plan` re-parents a leaf."""

import asyncio
import os
import uuid

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.test import override_settings

from confserver.media import registry, remote
from confserver.media.bot import decode_errors
from confserver.media.monitor import PLAN_GROUP
from confserver.media.placement import Plan
from confserver.media.plans import Plans
from confserver.testing import live

from . import relayproc
from .test_links_process import CHAIR, COLOURS, A, Calls, L, M, R, first_of, keeps_showing, program, until

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="plans and relays are reached through Redis")

NAMES = ("root", "leaf1", "leaf2")
MEETING = 7101


@pytest.fixture
async def cascade(tmp_path):
    """Three registered relay processes; yields (calls, plans, layer)."""
    tag = uuid.uuid4().hex[:8]
    channels = {name: f"relay-{name}-{tag}" for name in NAMES}
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # this process's prefixes: remote.quality, called here as a daphne worker calls it, reaches the relays
        env = live.server_env(
            db_url,
            [],
            MEDIA_RELAY_CHANNELS=",".join(channels.values()),
            MEDIA_CASCADE="1",
            CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            LIVE_PREFIX=f"{settings.LIVE_PREFIX}-{tag}",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        r = registry.connect(os.environ["REDIS_URL"])
        plans = Plans(r, f"{env['LIVE_PREFIX']}:cascade")
        layer = RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=env["CHANNEL_PREFIX"])
        procs = [relayproc.relay(env, tmp_path, channel) for channel in channels.values()]
        calls = Calls(env["CHANNEL_PREFIX"], channels)
        try:
            await relayproc.registered(plans.registry, ids=list(channels.values()))
            await calls.ready()
            with override_settings(MEDIA_CASCADE=True, LIVE_PREFIX=env["LIVE_PREFIX"]):
                yield calls, plans, layer
        finally:
            await calls.close()
            for proc in procs:
                relayproc.stop(proc)
            await layer.flush()
            keys = [k async for k in r.scan_iter(f"{env['LIVE_PREFIX']}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()


@pytest.fixture
async def bots():
    from confserver.media.bot import Bot

    made: list[Bot] = []

    def make(room: int) -> Bot:
        made.append(Bot(f"room-{room}", COLOURS[room], extra_audio=1))
        return made[-1]

    yield make
    for bot in made:
        await asyncio.wait_for(bot.close(), 10)


async def test_leaves_dial_the_root_their_plan_names_and_the_floor_crosses_the_tree(cascade, bots):
    calls, plans, layer = cascade
    ch = calls.channels
    where = {CHAIR: "root", R: "root", A: "leaf1", L: "leaf1", M: "leaf2"}
    plan = Plan(
        MEETING,
        ch["root"],
        {room: ch[name] for room, name in where.items()},
        {CHAIR: (), R: (), A: ("46",), L: ("46",), M: ("48",)},
        parent={ch["leaf1"]: ch["root"], ch["leaf2"]: ch["root"]},
        backup={ch["root"]: ch["leaf1"], ch["leaf1"]: ch["leaf2"], ch["leaf2"]: ch["leaf1"]},
    )
    epoch = await plans.save(plan, 0)
    assert epoch == 1

    async def call(name: str, op: str, **args):  # as remote.py sends a call under MEDIA_CASCADE: with the epoch
        return await calls(name, op, meeting_id=MEETING, epoch=epoch, **args)

    async def everywhere(op: str, **args):
        for name in NAMES:
            await call(name, op, **args)

    lecture = program("lecture", None)
    chair, r, a, l_, m = (bots(room) for room in (CHAIR, R, A, L, M))
    for room, bot in ((CHAIR, chair), (R, r), (A, a), (L, l_), (M, m)):
        answer = await call(
            where[room], "open_peer", room_id=room, offer_sdp=await bot.offer(), program=lecture, muted=[]
        )
        await bot.accept(answer)
    for bot in (chair, r, a, l_, m):
        await bot.wait_connected(20)

    # Down: nobody dialled; the leaves linked themselves to the root the plan names.
    for bot, what in ((a, "A on leaf 1"), (l_, "L on leaf 1"), (m, "M on leaf 2")):
        await keeps_showing(bot, CHAIR, f"{what} to see the chair")
    stats = await call("root", "link_stats")
    assert set(stats) == {f"link:{ch['leaf1']}", f"link:{ch['leaf2']}"}, stats
    assert all(s["state"] == "connected" for s in stats.values()), stats
    assert (await call("root", "link_stats")) and "parent" not in stats

    # Up: the floor to A on leaf 1 reaches M on leaf 2 (A -> leaf 1 -> root -> leaf 2), at a keyframe.
    errors = decode_errors()
    await everywhere("on_program", program=program("floor", A))
    await keeps_showing(m, A, "M on leaf 2 to see A")
    await keeps_showing(r, A, "R on the root to see A")
    await keeps_showing(chair, A, "the chair to see A")
    await keeps_showing(a, CHAIR, "A, given the floor, to see the chair")
    assert first_of(m, A).key and first_of(r, A).key
    assert decode_errors() == errors
    heard = m.audio[1].frames
    await until(lambda: m.audio[1].frames > heard + 20, 10, "A's sound at M on the other leaf")

    # The console's quality reaches every relay of the plan: the leaves' rooms too (it asked the root alone).
    rooms = await remote.quality(MEETING)
    assert set(rooms) == set(where) and all(q["connected"] for q in rooms.values()), rooms

    # A muted room is cut at its leaf: nothing of its sound climbs.
    await everywhere("on_mute", room_id=A, muted=True)
    await asyncio.sleep(0.5)
    up = (await call("leaf1", "link_stats"))["parent"]["packets_out"]["audio0"]
    await asyncio.sleep(1.5)
    assert (await call("leaf1", "link_stats"))["parent"]["packets_out"]["audio0"] == up

    # A re-plan (as the monitor publishes it) puts leaf 2 under leaf 1: leaf 2 dials leaf 1, M keeps the program.
    plan.parent = {ch["leaf1"]: ch["root"], ch["leaf2"]: ch["leaf1"]}
    epoch = await plans.save(plan, epoch)
    await layer.group_send(
        PLAN_GROUP,
        {
            "type": "relay.plan",
            "meeting_id": MEETING,
            "epoch": epoch,
            "reason": "test",
            "relays": [],
            "moves": [],
            "plan": plan.tree(),
        },
    )

    async def leaf2_under_leaf1():
        return f"link:{ch['leaf2']}" in await call("leaf1", "link_stats")

    for _ in range(100):
        if await leaf2_under_leaf1():
            break
        await asyncio.sleep(0.1)
    assert await leaf2_under_leaf1(), "leaf 2 did not link to leaf 1"
    await asyncio.sleep(2.5)  # the old link to the root closes 2 s after the new one took over
    assert f"link:{ch['leaf2']}" not in await call("root", "link_stats")
    seen = m.video[0].frames
    await keeps_showing(m, A, "M under leaf 1 to see A")
    assert m.video[0].frames > seen
    await everywhere("end_meeting")

"""A dead root (issue 11, item 4; MEDIA_CASCADE on): two daphne workers, three `run_relay` small enough
(--capacity 5: 4 rooms at RELAY_FILL 0.8) that a meeting of 5 rooms and the chair is a tree (a root and leaves), a
`run_relay_monitor`, aiortc bots. The root is killed with SIGKILL. The way chosen (docs/cascade.md): the monitor plans
the root again (its backup becomes the root), the rooms it carried, the chair (the publisher) among them, are told
`relay_move` and re-offer there, and the leaves follow the new plan (media/treelinks.py: they link to the new root,
or the new root drops its link). Every room decodes the chair's new connection (another colour) within 5 s of
the kill, the worst room."""

import asyncio
import json
import os
import time

import aiohttp
import pytest

from confserver.media import registry
from confserver.media.bot import Bot, close_to
from confserver.media.plans import Plans
from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

from .relayproc import registered, relay, start, stop
from .test_failover_process import CHAIR_COLOUR, publish, sees_chair, until

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the cascade works on Redis")

WORST_S = 5.0
ROOMS = 5


NEW_CHAIR_COLOUR = (30, 200, 220)  # the chair's new connection shows another colour: no picture of it can come
# from before the kill (a loaded test process decodes late what the dead root sent it)


def chair_again(bot: Bot, frames: int = 5) -> float | None:
    """When `bot` decoded the chair's new picture for the `frames`-th time (None: not yet)."""
    seen = [p.at for p in bot.video[0].pictures if close_to(p.colour, NEW_CHAIR_COLOUR)]
    return seen[frames - 1] if len(seen) >= frames else None


async def test_the_root_killed_its_backup_becomes_the_root_and_every_room_sees_the_chair_within_5_s(tmp_path):
    channels = [f"relay-rt-{i}-{os.getpid()}" for i in range(3)]
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports, MEDIA_RELAY_CHANNELS=",".join(channels), MEDIA_CASCADE="1")
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", str(ROOMS)))
        r = registry.connect(os.environ["REDIS_URL"])
        plans = Plans(r, f"{env['LIVE_PREFIX']}:cascade")
        procs = {c: relay(env, tmp_path, c, "--capacity", "5") for c in channels}
        monitor = start(env, tmp_path, "run_relay_monitor")
        bots: list[Bot] = []
        try:
            await registered(plans.registry, ids=channels)
            with live.daphne(env, ports[0], tmp_path / "w1.log"), live.daphne(env, ports[1], tmp_path / "w2.log"):
                w = [f"http://127.0.0.1:{p}" for p in ports]
                async with aiohttp.ClientSession() as http:
                    chair = MeetingClient(http, w[0], seed["meeting_id"], cookie=seed["host_cookie"])
                    clients = [await chair.connect()]
                    clients += [
                        await MeetingClient(http, w[i % 2], seed["meeting_id"], token=room["token"]).connect()
                        for i, room in enumerate(seed["rooms"])
                    ]
                    for c in clients:
                        assert (await c.request("join"))["type"] == "ok"
                    colours = [CHAIR_COLOUR] + [(200 - 30 * i, 60 + 25 * i, 40) for i in range(ROOMS)]
                    bots = [Bot(f"b{i}", colour, publish=not i) for i, colour in enumerate(colours)]
                    for c, bot in zip(clients, bots):
                        await publish(c, bot)
                    for bot in bots[1:]:
                        await until(lambda bot=bot: sees_chair(bot), 60, "every room to decode the chair")
                    plan = await plans.load(seed["meeting_id"])
                    assert len(set(plan.rooms.values())) >= 2 and plan.parent, plan  # a tree
                    root = plan.root
                    new_root = plan.backup[root]
                    on_root = sum(relay == root for relay in plan.rooms.values())

                    async def follow(i: int):  # a room told to move re-offers, as the room page does
                        _, msg = await clients[i].relay_moves.get()
                        assert msg["reason"] == "dead", msg
                        await bots[i].close()
                        bots[i] = Bot(f"b{i}'", NEW_CHAIR_COLOUR if not i else colours[i], publish=not i)
                        await publish(clients[i], bots[i])

                    followers = [asyncio.ensure_future(follow(i)) for i in range(len(clients))]
                    end = time.monotonic() + 60  # the monitor process is up and holds the lease (its start is slow)
                    while not await r.exists(f"{env['LIVE_PREFIX']}:cascade:monitor"):
                        assert time.monotonic() < end, "the monitor did not take the lease"
                        await asyncio.sleep(0.1)
                    procs[root].kill()
                    killed = time.monotonic()
                    end = killed + 30
                    while time.monotonic() < end and not all(chair_again(b) for b in bots[1:]):
                        await asyncio.sleep(0.05)
                    took = {i: (chair_again(b) or float("inf")) - killed for i, b in enumerate(bots) if i}
                    moved = sum(f.done() for f in followers)
                    for f in followers:
                        f.cancel()
                    await asyncio.gather(*followers, return_exceptions=True)
                    again = await plans.load(seed["meeting_id"])
                    print(
                        f"root failover: {len(took)} rooms decode the chair again {min(took.values()):.2f}-"
                        f"{max(took.values()):.2f} s after SIGKILL of the root ({moved} moved of the root's "
                        f"{on_root}; load {os.getloadavg()[0]:.1f})"
                    )
                    assert again.root == new_root and root not in again.relays(), again.tree()
                    assert max(took.values()) <= WORST_S, took
                    for c in clients:
                        await c.close()
        finally:
            for bot in bots:
                await bot.close()
            stop(monitor)
            for proc in procs.values():
                stop(proc)
            keys = [k async for k in r.scan_iter(f"{env['LIVE_PREFIX']}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()

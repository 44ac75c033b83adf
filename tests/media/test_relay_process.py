"""The production shape: two daphne workers and a relay process (`manage.py run_relay`) sharing Redis.

aiortc bots play the chair and two rooms whose sockets reach different workers; their media meets
on the one relay of the meeting, and the program follows a floor grant.
"""

import asyncio
import json
import os

import aiohttp
import pytest

from confserver.media.bot import Bot, close_to
from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

from . import relayproc

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="relay processes are reached through Redis")

CHAIR_COLOUR, A_COLOUR = (30, 40, 220), (220, 30, 30)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    logs = tmp_path_factory.mktemp("deploy")
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports, MEDIA_RELAY_CHANNELS="relay-test-0")
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "2"))
        relay = relayproc.relay(env, logs, "relay-test-0")
        try:
            with live.daphne(env, ports[0], logs / "w1.log"), live.daphne(env, ports[1], logs / "w2.log"):
                yield [f"http://127.0.0.1:{p}" for p in ports], seed
        finally:
            relayproc.stop(relay)


async def until(pred, timeout, what):
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def publish(client: MeetingClient, bot: Bot):
    reply = await client.request("sdp_offer", sdp=await bot.offer(), timeout=20)
    assert reply["type"] == "ok", reply
    await bot.accept(reply["data"]["sdp"])
    await bot.wait_connected(15)


async def test_rooms_on_two_workers_meet_on_the_relay_process(deployment):
    (w1, w2), seed = deployment
    room_a, room_b = seed["rooms"][:2]
    chair_bot = Bot("chair", CHAIR_COLOUR, extra_audio=1)
    a_bot = Bot("A", A_COLOUR, extra_audio=1)
    b_bot = Bot("B", (30, 200, 40), extra_audio=1)
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        a = await MeetingClient(http, w2, seed["meeting_id"], token=room_a["token"]).connect()
        b = await MeetingClient(http, w1, seed["meeting_id"], token=room_b["token"]).connect()
        try:
            for c in (chair, a, b):
                assert (await c.request("join"))["type"] == "ok"
            for c, bot in ((chair, chair_bot), (a, a_bot), (b, b_bot)):
                await publish(c, bot)
            # lecture mode: B watches the chair
            await until(lambda: b_bot.video[0].frames >= 10, 15, "B to decode the chair")
            assert close_to(b_bot.video[0].pictures[-1].colour, CHAIR_COLOUR)
            # A asks for the floor on worker 2; the chair on worker 1 grants it
            assert (await a.request("raise_hand"))["type"] == "ok"
            assert (await chair.request("grant_floor", room_id=room_a["room_id"]))["type"] == "ok"
            await until(lambda: close_to(b_bot.video[0].pictures[-1].colour, A_COLOUR), 10, "B to see A")
            # the chair's audio stays on slot 0; A's audio comes on slot 1
            heard = b_bot.audio[1].frames
            await until(lambda: b_bot.audio[1].frames > heard + 10, 5, "A's audio on slot 1")
            # media quality of every room reaches the chair's console from the relay process
            await until(lambda: str(room_a["room_id"]) in chair.stats, 8, "quality stats")
            q = chair.stats[str(room_a["room_id"])]
            assert q["connected"] is True and q["last_keyframe_s"] is not None
            reply = await chair.request("multiview", room_ids=[room_a["room_id"]])
            assert reply["type"] == "ok" and reply["data"]["slots"] == []  # the bot offered no grid slots
        finally:
            for c in (chair, a, b):
                await c.close()
            for bot in (chair_bot, a_bot, b_bot):
                await bot.close()

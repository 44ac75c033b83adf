"""A relay process killed and started again (MEDIA_CASCADE off, the default): its rooms are told at once.

Two daphne workers, one `run_relay` process, Redis, aiortc bots with colours of their own: the chair publishes, the
rooms decode its picture. The relay is killed with SIGKILL and another `run_relay` started on the same channel; as
soon as it serves, every joined socket (on both workers) is sent `relay_move {epoch: 0, reason: restarted}`
(signaling/relayrestart.py), the bots build new peer connections as the room page does, and every room decodes the
chair again (from the new relay's cached keyframe of the chair, or one it asks the chair for: routing.Slot).
Without the message the rooms would wait
for their old connections to fail (aiortc: 30 s of consent checks; Chromium 20-37 s with media.js's grace)."""

import asyncio
import json
import os
import time

import aiohttp
import pytest

from confserver.media import registry
from confserver.media.bot import Bot, close_to
from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

from .relayproc import relay, stop

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="relay processes are reached through Redis")

CHANNEL = "relay-rs-0"
CHAIR_COLOUR = (30, 40, 220)
COLOURS = [(220, 30, 30), (30, 200, 40), (220, 200, 30)]
# From the new relay's "relay on channel" line to the last room decoding the chair again: the offers, ICE, DTLS
# and the chair's keyframe; ~1-2 s measured; generous for a loaded two-core machine.
WORST_S = 12.0


async def until(pred, timeout, what):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def publish(client: MeetingClient, bot: Bot):
    reply = await client.request("sdp_offer", sdp=await bot.offer(), timeout=20)
    assert reply["type"] == "ok", reply
    await bot.accept(reply["data"]["sdp"])


def sees_chair(bot: Bot) -> bool:
    pics = bot.video[0].pictures
    return bool(pics) and close_to(pics[-1].colour, CHAIR_COLOUR)


async def test_a_restarted_relay_s_rooms_reconnect_at_once_and_decode_the_chair_again(tmp_path):
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports, MEDIA_RELAY_CHANNELS=CHANNEL, MEDIA_CASCADE="0")
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", str(len(COLOURS))))
        r = registry.connect(os.environ["REDIS_URL"])
        proc = await asyncio.to_thread(relay, env, tmp_path, CHANNEL)
        bots: list[Bot] = []
        clients: list[MeetingClient] = []
        try:
            with live.daphne(env, ports[0], tmp_path / "w1.log"), live.daphne(env, ports[1], tmp_path / "w2.log"):
                w = [f"http://127.0.0.1:{p}" for p in ports]
                async with aiohttp.ClientSession() as http:
                    chair = await MeetingClient(http, w[0], seed["meeting_id"], cookie=seed["host_cookie"]).connect()
                    rooms = [
                        await MeetingClient(http, w[(i + 1) % 2], seed["meeting_id"], token=room["token"]).connect()
                        for i, room in enumerate(seed["rooms"])
                    ]
                    clients = [chair, *rooms]
                    for c in clients:
                        assert (await c.request("join"))["type"] == "ok"
                    colours = [CHAIR_COLOUR, *COLOURS]
                    bots = [Bot(f"b{i}", colour, extra_audio=1) for i, colour in enumerate(colours)]
                    for c, bot in zip(clients, bots):
                        await publish(c, bot)
                    for bot in bots[1:]:
                        await until(lambda: sees_chair(bot), 30, "every room to decode the chair")
                    assert all(c.relay_moves.empty() for c in clients)

                    # each client rebuilds its media when told, as the room page does (media.js)
                    back_at: dict[int, float] = {}
                    told_at: dict[int, float] = {}
                    keyframes: dict[str, int] = {}

                    async def follow(i: int):
                        _, msg = await clients[i].relay_moves.get()
                        told_at[i] = time.monotonic()
                        assert msg == {"type": "relay_move", "epoch": 0, "reason": "restarted"}, msg
                        await bots[i].close()
                        bots[i] = Bot(f"b{i}'", colours[i], extra_audio=1)
                        await publish(clients[i], bots[i])
                        if i:
                            await until(lambda: sees_chair(bots[i]), 30, f"room {i} to decode the chair again")
                        else:  # reported: the chair's new encoder starts at a keyframe, so the relay may need none
                            await asyncio.sleep(3)
                            keyframes["chair"] = bots[0].keyframe_requests
                        back_at[i] = time.monotonic()

                    followers = [asyncio.ensure_future(follow(i)) for i in range(len(clients))]
                    await asyncio.to_thread(stop, proc, 9)  # SIGKILL
                    killed = time.monotonic()
                    proc = await asyncio.to_thread(relay, env, tmp_path, CHANNEL)
                    serving = time.monotonic()
                    await asyncio.wait_for(asyncio.gather(*followers), 60)
                    told = max(told_at.values()) - serving
                    took = {i: back_at[i] - serving for i in back_at if i}
                    worst = max(took.values())
                    print(
                        f"relay restart: new process served {serving - killed:.2f} s after SIGKILL; every socket "
                        f"told within {told:.2f} s of that; {len(took)} rooms decode the chair again "
                        f"{min(took.values()):.2f}-{worst:.2f} s after it served ({worst + serving - killed:.2f} s "
                        f"after the kill); chair asked for {keyframes['chair']} keyframe(s) "
                        f"(load {os.getloadavg()[0]:.1f})"
                    )
                    assert worst <= WORST_S, took
                    for c in clients:
                        await c.close()
        finally:
            for bot in bots:
                await bot.close()
            stop(proc)
            keys = [k async for k in r.scan_iter(f"{env['LIVE_PREFIX']}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()

"""Issue 9, finding 8: presence expires without the worker that held it.

Two real daphne workers share Redis; the chair is on worker 1, a room on worker 2.
When worker 2 is killed (kill -9: no grace timer, no leave), or the room's socket
is closed for flooding (a path that never called leave), the chair still sees the
room go offline within the grace period and a few heartbeats, and cannot give it
the floor.
"""

import asyncio
import json
import os
import time

import aiohttp
import pytest

from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: workers share state through Redis"
)

GRACE_S, HEARTBEAT_S = 2.0, 0.5
# grace + worker ttl (3 beats) + a few sweep rounds, and room for a busy machine
OFFLINE_WITHIN_S = GRACE_S + 6 * HEARTBEAT_S + 6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    ports = [live.free_port(), live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(
            db_url,
            ports,
            SIGNALING_GRACE_S=GRACE_S,
            SIGNALING_HEARTBEAT_S=HEARTBEAT_S,
            SIGNALING_RATE=5,
            SIGNALING_BURST=5,
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "3", "--structure", "2025"))
        with live.daphne(env, ports[0], logs / "w1.log"):
            yield env, ports, seed, logs


async def _chair_sees(chair, room_id, online, timeout):
    _, ev = await chair.wait_event("presence", timeout=timeout, room_id=room_id, online=online)
    return ev


async def test_killed_workers_room_goes_offline(cluster):
    env, ports, seed, logs = cluster
    w1, w2 = (f"http://127.0.0.1:{p}" for p in ports[:2])
    room = seed["rooms"][0]
    with live.daphne(env, ports[1], logs / "w2-kill.log") as proc:
        async with aiohttp.ClientSession() as http:
            chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
            a = await MeetingClient(http, w2, seed["meeting_id"], token=room["token"]).connect()
            try:
                assert (await chair.request("join"))["type"] == "ok"
                assert (await a.request("join"))["type"] == "ok"
                await _chair_sees(chair, room["room_id"], True, 10)
                proc.kill()  # SIGKILL: the worker's grace timer and leave never run
                proc.wait()
                t0 = time.monotonic()
                ev = await _chair_sees(chair, room["room_id"], False, OFFLINE_WITHIN_S)
                assert ev["reason"] == "connection_lost"
                assert time.monotonic() - t0 >= GRACE_S - 0.5  # the room had its grace period to come back
                reply = await chair.request("grant_floor", room_id=room["room_id"])
                assert reply["type"] == "error" and reply["code"] == "room_offline", reply
                snap = (await chair.request("snapshot"))["data"]["snapshot"]
                assert room["room_id"] not in snap["online"]
            finally:
                for c in (chair, a):
                    await c.close()


async def test_flood_closed_room_goes_offline(cluster):
    env, ports, seed, logs = cluster
    w1, w2 = (f"http://127.0.0.1:{p}" for p in (ports[0], ports[2]))
    room = seed["rooms"][1]
    with live.daphne(env, ports[2], logs / "w2-flood.log"):
        async with aiohttp.ClientSession() as http:
            chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
            a = await MeetingClient(http, w2, seed["meeting_id"], token=room["token"]).connect()
            try:
                assert (await chair.request("join"))["type"] == "ok"
                assert (await a.request("join"))["type"] == "ok"
                await _chair_sees(chair, room["room_id"], True, 10)
                frame = json.dumps({"type": "ping", "id": 1})
                for _ in range(400):  # far past the rate limit: the server closes the socket
                    if a.ws.closed:
                        break
                    try:
                        await a.ws.send_str(frame)
                    except (ConnectionError, RuntimeError):
                        break
                for _ in range(100):
                    if a.ws.closed:
                        break
                    await asyncio.sleep(0.1)
                assert a.ws.closed
                await _chair_sees(chair, room["room_id"], False, OFFLINE_WITHIN_S)
                reply = await chair.request("grant_floor", room_id=room["room_id"])
                assert reply["type"] == "error" and reply["code"] == "room_offline", reply
            finally:
                for c in (chair, a):
                    await c.close()

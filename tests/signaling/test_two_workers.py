"""Two real daphne processes on loopback sharing Redis: a floor grant made on one reaches a room on the other."""

import asyncio
import json
import os

import aiohttp
import pytest

from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: workers share state through Redis"
)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports)
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "3", "--structure", "2025"))
        with live.daphne(env, ports[0], logs / "w1.log"), live.daphne(env, ports[1], logs / "w2.log"):
            yield [f"http://127.0.0.1:{p}" for p in ports], seed


async def test_floor_grant_crosses_workers(two_workers):
    (w1, w2), seed = two_workers
    room_a, room_b = seed["rooms"][:2]
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        a = await MeetingClient(http, w2, seed["meeting_id"], token=room_a["token"]).connect()
        b = await MeetingClient(http, w2, seed["meeting_id"], token=room_b["token"]).connect()
        try:
            assert (await chair.request("join"))["type"] == "ok"
            for c in (a, b):
                assert (await c.request("join"))["type"] == "ok"
            # presence made on worker 2 is seen by the chair on worker 1
            snap = (await chair.request("snapshot"))["data"]["snapshot"]
            assert {room_a["room_id"], room_b["room_id"]} <= set(snap["online"])
            assert (await a.request("raise_hand"))["type"] == "ok"
            _, queue = await chair.wait_event("queue", queue=[room_a["room_id"]])
            assert (await chair.request("grant_floor", room_id=room_a["room_id"]))["type"] == "ok"
            _, prog = await b.wait_event("program", mode="floor")
            assert prog["floor_room"] == room_a["room_id"]
            _, prog = await a.wait_event("program", mode="floor")
            assert prog["source_room"] == room_a["room_id"]
            # attendance of the joins, written in batches by each worker, reaches the database
            async with http.get(
                f"{w1}/api/meetings/{seed['meeting_id']}/attendance", cookies={"sessionid": seed["host_cookie"]}
            ) as r:
                att = await r.json()
            joined = {row["room_id"] for row in att["rooms"] if row["status"] == "joined"}
            assert {room_a["room_id"], room_b["room_id"]} <= joined
        finally:
            for c in (chair, a, b):
                await c.close()


async def test_duplicate_connection_on_the_other_worker_replaces(two_workers):
    (w1, w2), seed = two_workers
    room = seed["rooms"][2]
    async with aiohttp.ClientSession() as http:
        first = await MeetingClient(http, w1, seed["meeting_id"], token=room["token"]).connect()
        await first.request("join")
        second = await MeetingClient(http, w2, seed["meeting_id"], token=room["token"]).connect()
        await second.request("join")
        _, ev = await first.wait_event("replaced")
        assert ev["event"] == "replaced"
        await asyncio.sleep(0.2)
        assert first.ws.closed and first.ws.close_code == 4001
        assert (await second.request("raise_hand"))["type"] == "ok"
        await second.close()

"""The chair of a meeting of 2,000 rooms joins (its snapshot ~460 KB, over the 128 KB inbound cap).

autobahn applies its message size limit to what the server sends too, so from ~550 rooms the chair's
join failed with `internal`. The edge now bounds what clients send (too_large, then 1009) apart from
what the server sends. Real daphne worker, the real consumer, the database of DATABASE_URL (or SQLite).
"""

import json
import os
import secrets
import time

import aiohttp
import pytest

from confserver.testing import live
from confserver.testing.wsclient import MeetingClient

ROOMS = 2000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    port = live.free_port()
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [port], SECRET_KEY=secrets.token_urlsafe(50))
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(
            live.run_python(env, "confserver.testing.seed", "--rooms", str(ROOMS), "--structure", "2025", timeout=600)
        )
        assert len(seed["rooms"]) == ROOMS
        with live.daphne(env, port, logs / "w.log"):
            yield f"http://127.0.0.1:{port}", seed


async def test_the_chair_of_2000_rooms_joins_with_every_room(server):
    base, seed = server
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, base, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        try:
            t0 = time.perf_counter()
            reply = await chair.request("join", timeout=60)
            assert reply["type"] == "ok", reply
            print(
                f"chair's join of {ROOMS} rooms: {len(json.dumps(reply, ensure_ascii=False).encode())} bytes, "
                f"{time.perf_counter() - t0:.2f} s"
            )
            rooms = reply["data"]["snapshot"]["rooms"]
            assert len(json.dumps(reply)) > 128 * 1024  # over the inbound cap
            listed, invited = {r["room_id"] for r in rooms}, {r["room_id"] for r in seed["rooms"]}
            assert invited <= listed and len(listed) == ROOMS + 1  # and the chair's own room
            # The socket stays usable after the big frame.
            assert (await chair.request("ping"))["type"] == "ok"
        finally:
            await chair.close()


async def test_client_frames_are_still_bounded(server):
    base, seed = server
    url = f"{base.replace('http', 'ws', 1)}/ws/meetings/{seed['meeting_id']}/"
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            url,
            headers={"Origin": base, "Cookie": f"sessionid={seed['host_cookie']}"},
            protocols=("confserver",),
            heartbeat=None,
            max_msg_size=0,
        )
        try:
            # Over the application's 64 KB, under the edge's 128 KB: the coded refusal, socket kept.
            await ws.send_str(json.dumps({"type": "ping", "id": 1, "pad": "x" * 100_000}))
            reply = json.loads(await ws.receive_str(timeout=10))
            assert reply["type"] == "error" and reply["code"] == "too_large", reply
            await ws.send_str(json.dumps({"type": "ping", "id": 2}))
            assert json.loads(await ws.receive_str(timeout=10))["type"] == "ok"
            # Over the edge's inbound cap: closed with 1009 before the application sees it.
            await ws.send_str(json.dumps({"type": "ping", "id": 3, "pad": "x" * 300_000}))
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009, msg
        finally:
            await ws.close()

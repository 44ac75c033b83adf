"""'Ngắt' holds across two daphne workers sharing Redis (issue 12, items 3 and 11): the chair drops a room on
worker 1; the room's new socket on worker 2 is refused and waits; 'Cho vào lại' on worker 1 reaches that socket
on worker 2, which joins. A room waiting on worker 2 before the meeting opens is told when worker 1 opens it."""

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


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports)
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(
            live.run_python(
                env, "confserver.testing.seed", "--rooms", "2", "--structure", "2025", "--state", "scheduled"
            )
        )
        with live.daphne(env, ports[0], logs / "w1.log"), live.daphne(env, ports[1], logs / "w2.log"):
            yield [f"http://127.0.0.1:{p}" for p in ports], seed


async def test_waiting_room_on_one_worker_joins_when_the_other_opens_the_meeting(two_workers):
    (w1, w2), seed = two_workers
    room = seed["rooms"][0]
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        a = await MeetingClient(http, w2, seed["meeting_id"], token=room["token"]).connect()
        try:
            assert (await chair.request("join"))["type"] == "ok"
            assert (await a.request("join"))["code"] == "not_started"
            _, ev = await chair.wait_event("waiting", room_id=room["room_id"])
            assert ev["waiting"] is True
            started = time.monotonic()
            assert (await chair.request("set_state", state="test_run"))["type"] == "ok"
            _, told = await a.may_join.get()
            assert told["reason"] == "opened"
            assert (await a.request("join"))["type"] == "ok"
            took = time.monotonic() - started
            assert took < 1.5, took
        finally:
            for c in (chair, a):
                await c.close()


async def test_a_room_dropped_on_one_worker_is_kept_out_on_the_other_until_let_back(two_workers):
    (w1, w2), seed = two_workers
    room = seed["rooms"][1]
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        b = await MeetingClient(http, w1, seed["meeting_id"], token=room["token"]).connect()
        again = None
        try:
            assert (await chair.request("join"))["type"] == "ok"
            await chair.request("set_state", state="test_run")  # open, if the test before did not
            assert (await b.request("join"))["type"] == "ok"
            assert (await chair.request("drop_room", room_id=room["room_id"]))["type"] == "ok"
            await b.wait_event("dropped")
            again = await MeetingClient(http, w2, seed["meeting_id"], token=room["token"]).connect()
            reply = await again.request("join")
            assert reply["code"] == "room_dropped", reply
            await chair.wait_event("waiting", room_id=room["room_id"], waiting=True)
            assert (await chair.request("readmit_room", room_id=room["room_id"]))["type"] == "ok"
            _, told = await again.may_join.get()
            assert told["reason"] == "readmitted"
            assert (await again.request("join"))["type"] == "ok"
            await chair.wait_event("presence", room_id=room["room_id"], online=True)
        finally:
            for c in (chair, b, again):
                if c is not None:
                    await c.close()

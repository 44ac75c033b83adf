"""The lobby before joining (issue 12, item 11): the room the link is for, read from its token; a room that
opened its link early waits on its socket, visible to the chair, and is told the moment the test run starts."""

import time

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from confserver.rooms.models import Room

from .conftest import build_world, connect

pytestmark = pytest.mark.django_db(transaction=True)


async def lobby(world, token=None, cookie=None):
    http = AsyncClient()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cookie:
        http.cookies["sessionid"] = cookie
    return await http.get(f"/api/meetings/{world.meeting_id}/lobby", headers=headers)


async def test_the_lobby_names_the_room_of_the_link_before_joining(transactional_db):
    world = await sync_to_async(build_world)("scheduled")
    r = await lobby(world, token=world.token_a)
    assert r.status_code == 200, r.content
    body = r.json()
    room = await sync_to_async(Room.objects.select_related("unit").get)(pk=world.room_a)
    assert body["room_id"] == world.room_a and body["room_name"] == room.name and body["unit_name"] == room.unit.name
    assert body["title"] == "Họp thử" and body["state"] == "scheduled" and body["dropped"] is False
    assert (await lobby(world, token=world.token_b)).json()["room_id"] == world.room_b

    # the chair side has no lobby; a token not invited to the meeting, or none, is refused with a code
    r = await lobby(world, cookie=world.host_cookie)
    assert r.status_code == 403 and r.json()["code"] == "room_only"
    r = await lobby(world, token=world.token_outsider)
    assert r.status_code == 403 and r.json()["code"] == "room_not_invited"
    r = await lobby(world)
    assert r.status_code == 401


async def test_the_lobby_says_the_room_is_kept_out(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    assert (await chair.request("drop_room", room_id=world.room_b))["type"] == "ok"
    assert (await lobby(world, token=world.token_b)).json()["dropped"] is True
    assert (await chair.request("readmit_room", room_id=world.room_b))["type"] == "ok"
    assert (await lobby(world, token=world.token_b)).json()["dropped"] is False


async def test_a_room_waiting_early_joins_the_moment_the_test_run_starts(transactional_db):
    world = await sync_to_async(build_world)("scheduled")
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    snap = (await chair.join())["snapshot"]
    assert all(r["waiting"] is None for r in snap["rooms"])

    a = await connect(world.meeting_id, token=world.token_a)
    reply = await a.request("join")
    assert reply["code"] == "not_started"
    ev = await chair.wait_event("waiting", room_id=world.room_a)
    assert ev["waiting"] is True and ev["reason"] == "not_started"
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert next(r for r in snap["rooms"] if r["room_id"] == world.room_a)["waiting"] == "not_started"

    started = time.monotonic()
    assert (await chair.request("set_state", state="test_run"))["type"] == "ok"
    assert await a.reply(timeout=3) == {"type": "may_join", "reason": "opened"}
    data = await a.join()
    took = time.monotonic() - started
    assert data["snapshot"]["state"] == "test_run"
    await chair.wait_event("presence", room_id=world.room_a, online=True)
    assert took < 1.5, f"the waiting room joined {took:.2f} s after the test run started"


async def test_a_waiting_room_outlives_the_join_timeout(transactional_db, settings):
    settings.SIGNALING_JOIN_TIMEOUT_S = 0.3
    world = await sync_to_async(build_world)("scheduled")
    a = await connect(world.meeting_id, token=world.token_a)
    assert (await a.request("join"))["code"] == "not_started"
    import asyncio

    await asyncio.sleep(0.8)
    assert a.comm.output_queue.empty(), "the waiting socket was not closed"
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    assert (await chair.request("set_state", state="test_run"))["type"] == "ok"
    assert (await a.reply())["type"] == "may_join"
    await a.join()

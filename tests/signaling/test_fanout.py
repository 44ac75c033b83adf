"""One meeting's events fanned out over two real daphne workers sharing Redis (issue 11, item 6): every room
socket on either worker gets each event exactly once, numbered in order, in the order the chair made them; a
socket that stops reading is cut off at its own backlog bound and does not hold the others back."""

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

ROOMS = 24
BACKLOG = 12  # SIGNALING_MAX_BACKLOG for these workers: a socket that reads nothing is cut off after it


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # Fan-out is under test here, not each socket's message budget (test_meeting_control.py, test_fuzz.py):
        # on an idle machine the chair's 36 mutes and its acknowledgements came faster than SIGNALING_RATE's 20/s
        # and one mute was refused as rate_limited.
        env = live.server_env(
            db_url,
            ports,
            WS_EXEMPT_LOOPBACK=1,
            SIGNALING_MAX_BACKLOG=BACKLOG,
            SIGNALING_RATE=500,
            SIGNALING_BURST=1000,
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(
            live.run_python(env, "confserver.testing.seed", "--rooms", str(ROOMS + 1), "--structure", "2025")
        )
        with live.daphne(env, ports[0], logs / "w1.log"), live.daphne(env, ports[1], logs / "w2.log"):
            yield [f"http://127.0.0.1:{p}" for p in ports], seed


async def _join_rooms(http, bases, seed, rooms):
    clients = [
        await MeetingClient(http, bases[i % 2], seed["meeting_id"], token=r["token"]).connect()
        for i, r in enumerate(rooms)
    ]
    for c in clients:
        reply = await c.request("join", timeout=30)
        assert reply["type"] == "ok", reply
        c.ack_every = 1  # acknowledge every notification: these readers are never behind
    return clients


async def _join_chair(http, bases, seed):
    """The chair, on worker 1, joined after the rooms: a room's join is a presence event for the chair, and
    24 of them arriving in one burst (a worker that stalled a moment on a loaded machine) would put the chair
    past this module's tiny backlog bound before its acknowledgement got back (CI cut the chair off so)."""
    chair = await MeetingClient(http, bases[0], seed["meeting_id"], cookie=seed["host_cookie"]).connect()
    assert (await chair.request("join"))["type"] == "ok"
    chair.ack_every = 1
    return chair


async def _program_and_mutes(client, count, timeout=30):
    """The next `count` program/muted events a client gets (others, e.g. agenda, are skipped), with their seq."""
    got = []
    end = time.monotonic() + timeout
    while len(got) < count:
        _, msg = await asyncio.wait_for(client.events.get(), max(0.01, end - time.monotonic()))
        got.append(msg)
    return got


async def test_every_socket_on_both_workers_gets_each_event_once_in_order(two_workers):
    bases, seed = two_workers
    rooms = seed["rooms"][:ROOMS]
    a, b = rooms[0]["room_id"], rooms[1]["room_id"]
    async with aiohttp.ClientSession() as http:
        clients = await _join_rooms(http, bases, seed, rooms)
        chair = await _join_chair(http, bases, seed)
        try:
            # A chair's actions, each one event for every room: the floor to a, b muted and unmuted, the floor
            # to b, back to the lecture.
            actions = [
                ("grant_floor", {"room_id": a}),
                ("mute_room", {"room_id": b, "muted": True}),
                ("mute_room", {"room_id": b, "muted": False}),
                ("grant_floor", {"room_id": b}),
                ("lecture_mode", {}),
            ] * 2
            for kind, fields in actions:
                assert (await chair.request(kind, **fields))["type"] == "ok"
            expected = []
            for kind, fields in actions:
                if kind == "grant_floor":
                    expected.append(("program", "floor", fields["room_id"]))
                elif kind == "mute_room":
                    expected.append(("muted", fields["room_id"], fields["muted"]))
                else:
                    expected.append(("program", "lecture", None))
            streams = await asyncio.gather(*(_program_and_mutes(c, len(expected)) for c in clients))
            await asyncio.sleep(0.5)  # a second copy of anything would be here by now
            for c, events in zip(clients, streams):
                seen = [
                    ("program", e["mode"], e["floor_room"])
                    if e["event"] == "program"
                    else (e["event"], e.get("room_id"), e.get("muted"))
                    for e in events
                ]
                assert seen == expected, (c.base, seen)
                seqs = [e["seq"] for e in events]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
                assert c.events.empty(), (c.base, c.events.get_nowait())  # nothing twice, nothing extra
            assert {c.base for c in clients} == set(bases)  # the rooms were on both workers
        finally:
            for c in (chair, *clients):
                await c.close()


async def test_a_socket_that_stops_reading_is_cut_off_and_holds_no_one_back(two_workers):
    import sys

    sys.path.insert(0, str(live.ROOT / "bench"))
    import _ws_listener

    bases, seed = two_workers
    rooms = seed["rooms"][:ROOMS]
    target = rooms[0]["room_id"]
    async with aiohttp.ClientSession() as http:
        # The slow room: a raw socket on worker 1 (the chair's, where the chair's events are published) that
        # joins, then reads nothing more and never acknowledges.
        slow_room = seed["rooms"][ROOMS]
        slow = await _ws_listener.connect(bases[0], seed["meeting_id"], slow_room["token"])
        slow.send_json({"type": "join", "id": 1})
        assert (await slow.reply(1))["type"] == "ok"
        clients = await _join_rooms(http, bases, seed, rooms[1:])
        chair = await _join_chair(http, bases, seed)
        try:
            slow.transport.pause_reading()
            delays = []
            for n in range(3 * BACKLOG):
                sent = time.perf_counter()
                reply = await chair.request("mute_room", room_id=target, muted=n % 2 == 0)
                assert reply["type"] == "ok", reply
                arrivals = await asyncio.gather(*(c.wait_event("muted", muted=n % 2 == 0) for c in clients))
                delays.append(max(at for at, _ in arrivals) - sent)
            # Everyone else had every event; the slowest arrival of the last events is no later than of the first.
            assert max(delays[-BACKLOG:]) < max(0.5, 3 * max(delays[:BACKLOG])), delays
            slow.transport.resume_reading()
            end = time.monotonic() + 10
            while not slow.closed and time.monotonic() < end:
                await asyncio.sleep(0.05)
            assert slow.closed  # cut off (4008: too slow; it may resume)
            muted = [ev for _, ev in slow.events_since(0) if ev["event"] == "muted"]
            assert len(muted) <= BACKLOG + 1  # it was sent no more than its bound
        finally:
            slow.close()
            for c in (chair, *clients):
                await c.close()

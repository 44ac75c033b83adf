"""The operator's relay view (issue 11, item 7): GET /api/relays and /api/meetings/{id}/relays on a real Redis,
relays registered with the registry's own functions, a plan stored with Plans."""

import asyncio
import os
import threading
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from confserver.accounts.models import Role
from confserver.media import registry
from confserver.media.placement import RoomSpec, plan
from confserver.media.plans import Plans
from confserver.rooms import meetings
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Room

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the relay registry lives in Redis (REDIS_URL)"
)


def run(coro_fn, *args):
    """One short-lived client per call: each async_to_sync call has its own event loop here."""

    async def go():
        r = registry.connect(os.environ["REDIS_URL"])
        try:
            return await coro_fn(r, *args)
        finally:
            await r.aclose()

    return async_to_sync(go)()


@pytest.fixture
def cascade(settings):
    settings.LIVE_PREFIX = f"test-ops-{uuid.uuid4().hex[:10]}"
    settings.RELAY_DEAD_AFTER_S = 30.0  # registered relays stay live without a beating process
    yield registry.prefix()

    async def clean(r):
        keys = [k async for k in r.scan_iter(f"{registry.prefix()}:*")]
        if keys:
            await r.delete(*keys)

    run(clean)


@pytest.fixture
def world(hue2025, make_user, when):
    hanoi = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    communes = list(AdminUnit.objects.filter(parent=hue2025).order_by("code")[:3])
    host = make_user("host", Role.HOST, unit=hue2025)
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp giao ban",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=tuple(c.code for c in communes)),
    )
    rooms = [Room.objects.get(unit=c) for c in communes]
    users = {
        "host": host,
        "hanoi_host": make_user("hn", Role.HOST, unit=hanoi),
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
    }
    return m, rooms, users


@pytest.fixture
def serving():
    """serving(channel): relayd serves `channel` on the channel layer from a thread of its own until the test ends."""
    from channels.layers import get_channel_layer

    from confserver.media import relayd

    started = []

    def start(channel):
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        thread = threading.Thread(
            target=loop.run_until_complete, args=(relayd.serve(get_channel_layer(), channel, stop),), daemon=True
        )
        thread.start()
        started.append((loop, stop, thread))

    yield start
    for loop, stop, thread in started:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def client_for(user=None) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


async def _register(r, relays):
    reg = registry.Registry(r)
    for rid, capacity, peers in relays:
        assert await reg.register(
            rid,
            "inc-" + rid,
            channel=f"relay.{rid}",
            address=f"10.0.0.{len(rid)}:7000",
            capacity=capacity,
            dead_after_s=30,
        )
        assert await reg.beat(rid, "inc-" + rid, peers, 1)


async def _save_plan(r, meeting_id, specs):
    ps = Plans(r)
    infos = [rec.info() for rec in await ps.registry.live(30)]
    p = plan(meeting_id, specs, infos, fill=0.8)
    await ps.save(p, 0)
    return p


async def _mark_dead(r, rid):
    return await registry.Registry(r).mark_dead(rid, "inc-" + rid)


@needs_redis
def test_relays_listed_with_load_state_and_meetings_dead_one_kept(cascade, world):
    m, rooms, users = world
    run(_register, [("relay-a", 100, 40), ("relay-b", 200, 10)])
    specs = [RoomSpec(room.id, (room.unit.code,)) for room in rooms]
    stored = run(_save_plan, m.id, specs)

    got = client_for(users["host"]).get("/api/relays")
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["mode"] == "registry"
    by_id = {x["id"]: x for x in body["relays"]}
    assert set(by_id) == {"relay-a", "relay-b"}
    a = by_id["relay-a"]
    assert (a["capacity"], a["state"], a["address"]) == (100, "live", "10.0.0.7:7000")
    assert a["load"] >= 40 and a["percent"] == round(100 * a["load"] / 100)
    assert 0 <= a["heartbeat_age_ms"] < 30000
    assert m.id in by_id[stored.root]["meetings"]

    assert run(_mark_dead, "relay-b")
    after = {x["id"]: x for x in client_for(users["admin"]).get("/api/relays").json()["relays"]}
    assert after["relay-b"]["state"] == "dead" and after["relay-a"]["state"] == "live"


@needs_redis
def test_relays_name_the_meetings_the_viewer_may_see_in_one_query(cascade, world, when):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    m, rooms, users = world
    other = meetings.create_meeting(
        users["host"],
        host_unit_code="46",
        title="Họp chuyên đề, quý IV",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=(rooms[0].unit.code,)),
    )
    run(_register, [("relay-a", 100, 0)])
    specs = [RoomSpec(room.id, (room.unit.code,)) for room in rooms]
    run(_save_plan, m.id, specs)
    run(_save_plan, other.id, specs[:1])

    host = client_for(users["host"])
    with CaptureQueriesContext(connection) as queries:
        body = host.get("/api/relays").json()
    (relay,) = body["relays"]
    assert sorted(relay["meetings"]) == sorted([m.id, other.id])
    assert relay["meeting_titles"] == {str(m.id): "Họp giao ban", str(other.id): "Họp chuyên đề, quý IV"}
    assert sum('"rooms_meeting"' in q["sql"] for q in queries.captured_queries) == 1, queries.captured_queries

    # A host of another province sees the relay's load and the meetings' numbers, not their titles.
    (relay,) = client_for(users["hanoi_host"]).get("/api/relays").json()["relays"]
    assert sorted(relay["meetings"]) == sorted([m.id, other.id]) and relay["meeting_titles"] == {}


@needs_redis
def test_meeting_tree_names_each_rooms_relay(cascade, world, serving):
    m, rooms, users = world
    serving("relay.relay-a")
    run(_register, [("relay-a", 2, 0), ("relay-b", 2, 0), ("relay-c", 2, 0)])
    specs = [RoomSpec(room.id, (room.unit.code,)) for room in rooms]
    stored = run(_save_plan, m.id, specs)

    got = client_for(users["host"]).get(f"/api/meetings/{m.id}/relays")
    assert got.status_code == 200, got.content
    body = got.json()
    assert (body["mode"], body["epoch"], body["root"]) == ("registry", 1, stored.root)
    assert body["relays"][0]["role"] == "root"
    placed = {room["id"]: (relay["id"], room["name"]) for relay in body["relays"] for room in relay["rooms"]}
    assert placed == {room.id: (stored.rooms[room.id], room.name) for room in rooms}
    assert {"relay-a", stored.root} <= {relay["id"] for relay in body["relays"]}
    for relay in body["relays"]:
        assert relay["state"] == "live"
        if relay["id"] == "relay-a":  # a relay process serving its channel answers; it has no link of this meeting
            assert relay["links"] == {} and relay["link"] is None
        else:  # nobody serves these channels: not reached within the timeout
            assert relay["links"] is None
        if relay["role"] != "root":
            assert relay["parent"] == stored.parent[relay["id"]]


def test_others_are_refused_in_vietnamese(world):
    m, rooms, users = world
    hanoi = client_for(users["hanoi_host"]).get(f"/api/meetings/{m.id}/relays")
    assert hanoi.status_code == 403 and hanoi.json()["code"] == "outside_subtree"
    rev = client_for(users["reviewer"]).get("/api/relays")
    assert rev.status_code == 403 and rev.json()["code"] == "not_host"
    assert "máy chủ truyền hình" in rev.json()["message"]
    for path in ("/api/relays", f"/api/meetings/{m.id}/relays"):
        anon = client_for().get(path)
        assert anon.status_code == 401 and anon.json()["code"] == "unauthenticated"
    missing = client_for(users["host"]).get("/api/meetings/999999/relays")
    assert missing.status_code == 404 and missing.json()["code"] == "meeting_not_found"


def test_embedded_default_says_one_in_process_relay(settings, world):
    settings.REDIS_URL = ""
    m, rooms, users = world
    body = client_for(users["host"]).get("/api/relays").json()
    assert body["mode"] == "embedded" and body["relays"] == []
    assert "trong chính tiến trình" in body["message"]
    tree = client_for(users["host"]).get(f"/api/meetings/{m.id}/relays").json()
    assert tree["mode"] == "embedded"

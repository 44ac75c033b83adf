"""'Ngắt' keeps a room out until the chair lets it back with 'Cho vào lại' (issue 12, item 3), over the real
consumer and channel layer (Redis and PostgreSQL when REDIS_URL / DATABASE_URL are set)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from confserver.rooms.models import TimelineEvent

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


def kinds(meeting_id):
    return list(TimelineEvent.objects.filter(meeting_id=meeting_id).values_list("kind", flat=True))


async def dropped(world):
    """The chair's console and room B joined; the chair drops B. Returns the chair."""
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    b = await connect(world.meeting_id, token=world.token_b)
    await b.join()
    assert (await chair.request("drop_room", room_id=world.room_b))["type"] == "ok"
    await b.wait_event("dropped")
    assert (await chair.wait_event("room_dropped", room_id=world.room_b))["dropped"] is True
    await b.close()
    return chair


async def test_a_dropped_room_stays_out_until_the_chair_lets_it_back(world):
    chair = await dropped(world)

    # "Vào lại" on the room's page: a new socket's join is refused, with a Vietnamese explanation
    again = await connect(world.meeting_id, token=world.token_b)
    reply = await again.request("join")
    assert reply["type"] == "error" and reply["code"] == "room_dropped", reply
    assert "cho vào lại" in reply["message"]
    # the socket waits (no join timeout), and the chair sees it waiting as a dropped room
    ev = await chair.wait_event("waiting", room_id=world.room_b)
    assert ev["waiting"] is True and ev["reason"] == "dropped"
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    row = next(r for r in snap["rooms"] if r["room_id"] == world.room_b)
    assert row["dropped"] is True and row["waiting"] == "dropped" and row["online"] is False
    # knocking again changes nothing
    assert (await again.request("join"))["code"] == "room_dropped"

    # "Cho vào lại": the waiting socket is told, and its join is taken
    assert (await chair.request("readmit_room", room_id=world.room_b))["type"] == "ok"
    assert (await chair.wait_event("room_dropped", room_id=world.room_b))["dropped"] is False
    told = await again.reply()
    assert told == {"type": "may_join", "reason": "readmitted"}
    await again.join()
    await chair.wait_event("presence", room_id=world.room_b, online=True)
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    row = next(r for r in snap["rooms"] if r["room_id"] == world.room_b)
    assert row["dropped"] is False and row["waiting"] is None and row["online"] is True

    rows = await sync_to_async(kinds)(world.meeting_id)
    assert rows.index("dropped") < rows.index("readmitted")
    readmitted = await sync_to_async(
        lambda: TimelineEvent.objects.select_related("actor").get(meeting_id=world.meeting_id, kind="readmitted")
    )()
    assert readmitted.room_id == world.room_b and readmitted.actor.username == "host"


async def test_the_other_rooms_and_the_chair_are_not_kept_out(world):
    chair = await dropped(world)
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()  # another room comes in
    await chair.close()
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()  # the chair's console too
    # the drop holds across the chair's reconnection
    b = await connect(world.meeting_id, token=world.token_b)
    assert (await b.request("join"))["code"] == "room_dropped"


async def test_readmit_refusals(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    assert (await chair.request("readmit_room", room_id=world.room_b))["code"] == "room_not_dropped"
    assert (await a.request("readmit_room", room_id=world.room_b))["code"] == "chair_only"


async def test_a_waiting_socket_that_closes_is_no_longer_waiting(world):
    chair = await dropped(world)
    b = await connect(world.meeting_id, token=world.token_b)
    assert (await b.request("join"))["code"] == "room_dropped"
    await chair.wait_event("waiting", room_id=world.room_b, waiting=True)
    await b.close()
    await chair.wait_event("waiting", room_id=world.room_b, waiting=False)
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert next(r for r in snap["rooms"] if r["room_id"] == world.room_b)["waiting"] is None


async def test_the_drop_holds_after_the_live_store_is_lost(world):
    """The dropped list is written through to the database: a store rebuilt from it still refuses the room."""
    from confserver.signaling import live

    await dropped(world)
    await live.get_store().raw.clear(world.meeting_id)  # as a Redis restart without persistence would
    b = await connect(world.meeting_id, token=world.token_b)
    assert (await b.request("join"))["code"] == "room_dropped"
    await asyncio.sleep(0)

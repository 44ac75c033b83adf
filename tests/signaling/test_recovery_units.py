"""Presence and recovery at unit level, against a redis-server of this test's own (never the shared
one): a stale entry must not win recovery, a detach or leave that failed is retried, the chair's room
survives a restart, a live worker's places are never left dropped, one failed close does not stop
the others (review of issue 9: defects 1, 2, 3, 8, 10)."""

import asyncio
import shutil
import time

import pytest

from confserver.signaling import control, heartbeat, live, presence, recovery, sessions, sweeper
from confserver.signaling.presence import LOCAL, Held
from confserver.testing import live as live_testing

REDIS = shutil.which("redis-server")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not REDIS, reason="needs redis-server to start one of its own"),
]


@pytest.fixture
def redis(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(sessions, "_hubs", {})  # not the hubs other tests left behind
    r = live_testing.OwnRedis(workdir=tmp_path)
    r.start()
    settings.REDIS_URL = r.url
    live.reset_store()
    LOCAL.clear()
    sweeper._missing.clear()
    yield r
    LOCAL.clear()
    r.kill()


def _actor(world, conn, *, chair=False, room=None):
    return control.Actor(
        user=None,
        meeting_id=world.meeting_id,
        role=control.CHAIR if chair else control.ROOM,
        room_id=room or (world.chair_room if chair else world.room_a),
        room_name="",
        conn=conn,
    )


async def _hang():
    await asyncio.sleep(60)


async def test_recovery_keeps_the_live_connection_not_a_stale_one(world, redis):
    """Defect 2: LOCAL holds the old (detached) connection of a room that resumed, then its live one."""
    live_task = asyncio.ensure_future(_hang())
    try:
        LOCAL["old"] = Held(_actor(world, "old"), None, detached=time.time() - 1)
        LOCAL["new"] = Held(_actor(world, "new"), live_task)
        await recovery.recover()  # the store is empty, as after a restart
        got = await live.get_store().presence_get(world.meeting_id, world.room_a)
        assert got["conn"] == "new" and got.get("detached") is None, got
    finally:
        live_task.cancel()


async def test_recovery_puts_back_the_chairs_room(world, redis):
    """Defect 8: the chair's join does not write chair_room through; recovery must set it again."""
    live_task = asyncio.ensure_future(_hang())
    try:
        LOCAL["chair"] = Held(_actor(world, "chair", chair=True), live_task)
        await recovery.recover()
        assert (await live.get_store().ctl_get(world.meeting_id)).get("chair_room") == world.chair_room
    finally:
        live_task.cancel()


async def _registered(world, conn, task):
    from confserver.signaling import durable

    store = live.get_store()
    await durable.restore(world.meeting_id, store.raw)
    actor = _actor(world, conn)
    await store.presence_put_if_absent(world.meeting_id, actor.room_id, presence.info_of(actor))
    LOCAL[conn] = Held(actor, task)
    return actor


async def test_a_detach_that_failed_is_retried_once_redis_is_back(world, redis):
    """Defect 3: the connection ended while Redis was down (Redis keeps its data)."""
    done = asyncio.ensure_future(asyncio.sleep(0))
    await done
    actor = await _registered(world, "c1", done)
    redis.save_and_kill()
    with pytest.raises(Exception):
        await presence.detach(actor)
    redis.start()
    await presence.check_local()
    got = await live.get_store().presence_get(world.meeting_id, actor.room_id)
    assert got.get("detached") is not None, got  # the grace period runs; the sweeper will end it


async def test_a_leave_that_failed_keeps_the_place_for_check_local(world, redis):
    """Defect 3: leave popped LOCAL before the store call; a failed removal left a ghost for good."""
    done = asyncio.ensure_future(asyncio.sleep(0))
    await done
    actor = await _registered(world, "c2", done)
    redis.save_and_kill()
    with pytest.raises(Exception):
        await presence.leave(actor)
    redis.start()
    assert "c2" in LOCAL
    await presence.check_local()
    got = await live.get_store().presence_get(world.meeting_id, actor.room_id)
    assert got.get("detached") is not None, got


async def test_a_live_workers_place_wrongly_dropped_or_lost_is_put_back(world, redis):
    """Defect 1: another worker's sweeper marked a live place dropped (or ended it); the holder's tick undoes it."""
    live_task = asyncio.ensure_future(_hang())
    try:
        actor = await _registered(world, "c3", live_task)
        store = live.get_store()
        await store.detach_if(world.meeting_id, actor.room_id, "c3", time.time() - 100)
        await presence.check_local()
        got = await store.presence_get(world.meeting_id, actor.room_id)
        assert got["conn"] == "c3" and got.get("detached") is None, got
        await store.presence_remove_if(world.meeting_id, actor.room_id, "c3")
        await presence.check_local()
        assert (await store.presence_get(world.meeting_id, actor.room_id))["conn"] == "c3"
        # another connection's place is left alone
        await store.presence_remove_if(world.meeting_id, actor.room_id, None)
        other = presence.info_of(_actor(world, "other")) | {"detached": 1.0}
        await store.presence_put_if_absent(world.meeting_id, actor.room_id, other)
        await presence.check_local()
        assert (await store.presence_get(world.meeting_id, actor.room_id))["conn"] == "other"
    finally:
        live_task.cancel()


async def test_a_worker_that_missed_one_sweep_is_not_dead_yet(world, redis, settings):
    """Defect 1: a late beat must not drop a worker's rooms; missing for another TTL does."""
    settings.SIGNALING_WORKER_TTL_S = 0.4
    store = live.get_store()
    from confserver.signaling import durable

    await durable.restore(world.meeting_id, store.raw)
    info = presence.info_of(_actor(world, "late")) | {"worker": "quiet-worker"}
    await store.presence_put_if_absent(world.meeting_id, world.room_a, info)
    await sweeper.sweep_meeting(world.meeting_id)
    assert (await store.presence_get(world.meeting_id, world.room_a)).get("detached") is None
    await asyncio.sleep(0.45)
    await sweeper.sweep_meeting(world.meeting_id)
    assert (await store.presence_get(world.meeting_id, world.room_a)).get("detached") is not None


async def test_one_failed_close_does_not_stop_the_others():
    """Defect 10: Hub._dispatch awaited each on_close in one loop; the first failure stopped it."""
    hub = sessions.Hub(1, None, "g")
    closed = []

    async def broken(message):
        raise ConnectionResetError("gone")

    async def fine(message):
        closed.append(message["type"])

    for i, cb in enumerate((broken, fine, broken, fine)):
        s = sessions.Session(id=f"s{i}", key=(1, "room", i))
        s.on_close = cb
        hub.sessions[s.id] = s
    await hub._dispatch({"type": "meeting.ended"})
    assert closed == ["meeting.ended", "meeting.ended"]


async def test_a_queue_change_that_changes_nothing_writes_nothing(world, redis):
    """Defect 4: every leave bumped rev and wrote the LiveState row though the room was not queued."""
    from asgiref.sync import sync_to_async

    from confserver.signaling.models import LiveState

    store, mid = live.get_store(), world.meeting_id
    assert await store.queue_add(mid, world.room_b)
    row = await sync_to_async(LiveState.objects.get)(meeting_id=mid)
    assert not await store.queue_remove(mid, world.room_a)  # a leave of a room not queued
    assert not await store.queue_add(mid, world.room_b)  # queued already
    again = await sync_to_async(LiveState.objects.get)(meeting_id=mid)
    assert (again.rev, again.updated_at) == (row.rev, row.updated_at)
    assert (await store.ctl_get(mid))["rev"] == row.rev
    assert await store.queue_remove(mid, world.room_b)
    assert (await sync_to_async(LiveState.objects.get)(meeting_id=mid)).queue == []


async def test_chair_room_is_looked_up_once_for_a_burst_of_joins(world, monkeypatch):
    """Defect 5: each join hopped to the thread pool; an empty cache meant one query per join."""
    calls = []
    real = presence.chair_room_sync

    def counted(meeting_id, fresh=False):
        calls.append(meeting_id)
        return real(meeting_id, fresh)

    monkeypatch.setattr(presence, "chair_room_sync", counted)
    presence._chair_rooms.clear()
    got = await asyncio.gather(*(presence.chair_room(world.meeting_id) for _ in range(50)))
    assert set(got) == {world.chair_room} and len(calls) == 1
    assert await presence.chair_room(world.meeting_id) == world.chair_room and len(calls) == 1  # cached


async def _hub_session(world, redis):
    from confserver.signaling.layer import RetryingPubSubLayer

    layer = RetryingPubSubLayer(hosts=[redis.url])
    s = await sessions.open_session((world.meeting_id, control.ROOM, world.room_a), layer, f"m{world.meeting_id}")
    return s, s.attach(None, None, 0)


def _resyncs(queue):
    n = 0
    while not queue.empty():
        n += '"event":"resync"' in queue.get_nowait()
    return n


async def test_recovery_resyncs_each_meeting_once_per_epoch(world, redis):
    """Defect 7: a round that did not finish started over, and every meeting got resync again."""
    s, queue = await _hub_session(world, redis)
    try:
        assert await recovery.recover("e1")
        assert _resyncs(queue) == 1
        assert await recovery.recover("e1")  # a later round for the same epoch: nothing again
        assert _resyncs(queue) == 0
        assert await recovery.recover("e2")
        assert _resyncs(queue) == 1
    finally:
        await sessions.close(s)


async def test_clients_resync_after_an_outage_where_redis_kept_its_data(world, redis):
    """Defect 6: the epoch does not change when Redis keeps its data; events published meanwhile are lost."""
    s, queue = await _hub_session(world, redis)
    heartbeat._epoch = heartbeat._seen = None
    heartbeat.resync_due = False
    try:
        await heartbeat.tick()
        assert _resyncs(queue) == 0
        redis.save_and_kill()
        with pytest.raises(Exception):
            await heartbeat.beat()
        await heartbeat.work()
        assert _resyncs(queue) == 0  # not while Redis is away
        redis.start()
        await heartbeat.tick()
        assert _resyncs(queue) == 1
        await heartbeat.tick()
        assert _resyncs(queue) == 0
    finally:
        heartbeat._epoch = heartbeat._seen = None
        await sessions.close(s)


def _layer_on(redis, settings):
    """The default channel layer, on this test's redis-server (as `tell` finds it)."""
    from channels.layers import get_channel_layer

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "confserver.signaling.layer.RetryingPubSubLayer",
            "CONFIG": {"hosts": [redis.url], "prefix": "t"},
        }
    }
    return get_channel_layer()


async def _presence_events(queue, wait=1.0):
    import json

    got, end = [], time.monotonic() + wait
    while time.monotonic() < end:
        try:
            msg = json.loads(await asyncio.wait_for(queue.get(), max(0.01, end - time.monotonic())))
        except TimeoutError:
            break
        if msg.get("event") == "presence":
            got.append(msg)
    return got


async def test_a_place_put_back_by_the_reassert_tells_the_chair(world, redis, settings):
    """Gap A: a sweeper ended a slow worker's live place; its re-assert puts it back and the chair's
    console hears the room is online again (not when the re-assert only clears `detached`)."""
    layer = _layer_on(redis, settings)
    chair = await sessions.open_session(
        (world.meeting_id, control.CHAIR, world.chair_room), layer, control.group_name(world.meeting_id)
    )
    queue = chair.attach(None, None, 0)
    live_task = asyncio.ensure_future(_hang())
    try:
        actor = await _registered(world, "c4", live_task)
        store = live.get_store()
        await store.detach_if(world.meeting_id, actor.room_id, "c4", time.time() - 100)
        await presence.check_local()  # only undropped: the chair saw no change
        assert (await store.presence_get(world.meeting_id, actor.room_id)).get("detached") is None
        assert await _presence_events(queue, 0.5) == []
        await store.presence_remove_if(world.meeting_id, actor.room_id, "c4")  # the sweeper ended it
        await presence.check_local()
        assert (await store.presence_get(world.meeting_id, actor.room_id))["conn"] == "c4"
        got = await _presence_events(queue, 3.0)
        assert [(e["room_id"], e["online"], e["role"]) for e in got] == [(world.room_a, True, control.ROOM)], got
        await presence.check_local()  # in place now: nothing more
        assert await _presence_events(queue, 0.5) == []
    finally:
        live_task.cancel()
        await sessions.close(chair)


async def test_rooms_gone_during_the_outage_leave_the_queue_and_the_floor(world, redis, settings):
    """Gap B: the database gives back a queue and a floor held by a room that left while Redis was
    away; one grace period after the recovery it is unqueued and the program returns to lecture."""
    from asgiref.sync import sync_to_async

    from confserver.rooms.models import TimelineEvent
    from confserver.signaling.models import LiveState

    _layer_on(redis, settings)
    mid = world.meeting_id
    await sync_to_async(LiveState.objects.create)(
        meeting_id=mid,
        rev=5,
        mode="floor",
        floor_room=world.room_b,
        source_room=world.room_b,
        queue=[world.room_a, world.room_b],
    )
    live_task = asyncio.ensure_future(_hang())
    try:
        LOCAL["a"] = Held(_actor(world, "a"), live_task)  # room A is still connected; room B left
        assert await recovery.recover("e1")
        store = live.get_store()
        assert await store.queue_list(mid) == [world.room_a, world.room_b]  # not before the grace
        assert (await store.ctl_get(mid))["floor_room"] == world.room_b
        await asyncio.wait_for(asyncio.gather(*recovery.SETTLING), settings.SIGNALING_GRACE_S + 10)
        assert await store.queue_list(mid) == [world.room_a]
        ctl = await store.ctl_get(mid)
        assert (ctl["mode"], ctl.get("floor_room"), ctl.get("source_room")) == ("lecture", None, None), ctl
        row = await sync_to_async(LiveState.objects.get)(meeting_id=mid)  # written through
        assert (row.mode, row.floor_room, row.queue) == ("lecture", None, [world.room_a])
        kinds = await sync_to_async(list)(
            TimelineEvent.objects.filter(meeting_id=mid, room_id=world.room_b).values_list("kind", "data")
        )
        assert ("leave", {"reason": "gone_during_outage"}) in kinds, kinds
    finally:
        live_task.cancel()

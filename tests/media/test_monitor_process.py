"""The control plane with real processes (issue 11): three `manage.py run_relay` and a `manage.py
run_relay_monitor`; a leaf relay killed with SIGKILL has its rooms planned onto its backup under a new epoch,
published on `relay-plan`, and a call still carrying the old epoch is refused by the relay that takes them."""

import asyncio
import os
import time

import pytest

from confserver.media import registry
from confserver.media.monitor import PLAN_GROUP
from confserver.media.placement import RoomSpec, plan
from confserver.media.plans import Plans
from confserver.testing import live

from .relayproc import registered, relay, start, stop

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the control plane works on Redis")

CHANNELS = ["relay-mon-0", "relay-mon-1", "relay-mon-2"]


async def test_a_killed_leaf_s_rooms_move_to_its_backup_and_its_old_epoch_is_refused(tmp_path):
    from channels_redis.pubsub import RedisPubSubChannelLayer

    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [], MEDIA_RELAY_CHANNELS=",".join(CHANNELS))
        live.manage(env, "migrate", "--no-input", "-v0")
        r = registry.connect(os.environ["REDIS_URL"])
        plans = Plans(r, f"{env['LIVE_PREFIX']}:cascade")
        layer = RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=env["CHANNEL_PREFIX"])
        procs = {c: relay(env, tmp_path, c, "--capacity", "100") for c in CHANNELS}
        monitor = start(env, tmp_path, "run_relay_monitor")
        try:
            live_ = await registered(plans.registry, 3)
            rooms = [RoomSpec(1)] + [RoomSpec(10 + i, (f"{i % 2:02d}", f"c{i}")) for i in range(120)]
            p = plan(5, rooms, [x.info() for x in live_])
            assert p.levels() == 2 and len(p.leaves()) == 2  # 80 rooms a relay: two leaves of 60 under the root
            await plans.save(p, 0)
            victim = sorted(p.leaves())[0]
            backup = p.backup[victim]
            inbox = await layer.new_channel()
            await layer.group_add(PLAN_GROUP, inbox)
            # the monitor process is up (it starts after the relays, which relayproc now waits for) and holds the
            # lease; then it sees every relay alive for a while: nothing published
            end = time.monotonic() + 90
            while not await r.exists(f"{env['LIVE_PREFIX']}:cascade:monitor"):
                assert time.monotonic() < end, "the monitor did not take the lease"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)
            procs[victim].kill()
            killed = time.monotonic()
            event = await asyncio.wait_for(layer.receive(inbox), 10)
            took = time.monotonic() - killed
            print(f"relay-plan event {took:.2f} s after SIGKILL")
            assert took <= 2.0, took  # seen <= 1.3 s after the kill by design, then re-planned and published
            assert (event["meeting_id"], event["epoch"], event["reason"], event["relays"]) == (5, 2, "dead", [victim])
            assert {m["room_id"] for m in event["moves"]} == {r_ for r_, relay in p.rooms.items() if relay == victim}
            assert {m["to"] for m in event["moves"]} == {backup}
            # a call from the plan before the failover is refused by the relay that took the rooms
            reply_to = await layer.new_channel()
            await layer.send(
                backup,
                {
                    "type": "relay.call",
                    "op": "quality",
                    "args": {"meeting_id": 5},
                    "call": 1,
                    "reply_to": reply_to,
                    "epoch": 1,
                },
            )
            reply = await asyncio.wait_for(layer.receive(reply_to), 15)
            assert reply["error"][0] == "stale_epoch"
        finally:
            stop(monitor)
            for proc in procs.values():
                stop(proc)
            await layer.flush()
            keys = [k async for k in r.scan_iter(f"{env['LIVE_PREFIX']}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()

"""Real relay processes (`manage.py run_relay`) in the cascade's registry (issue 11): they register with the
address they advertise and beat; a clean exit and a SIGKILL are seen; a call from an older plan epoch is refused."""

import asyncio
import os
import time

import pytest

from confserver.media import registry
from confserver.media.placement import Plan
from confserver.media.plans import Plans
from confserver.testing import live

from .relayproc import relay as start_relay
from .relayproc import stop

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="relay processes register in Redis")


@pytest.fixture(scope="module")
def relay_env(tmp_path_factory):
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [], MEDIA_RELAY_CHANNELS="relay-reg-0")
        live.manage(env, "migrate", "--no-input", "-v0")
        yield env, tmp_path_factory.mktemp("relays")


@pytest.fixture
async def reg(relay_env):
    env, _ = relay_env
    r = registry.connect(os.environ["REDIS_URL"])
    yield registry.Registry(r, f"{env['LIVE_PREFIX']}:cascade")
    await r.aclose()


async def registered(reg, relay_id, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        live_ = {r.id: r for r in await reg.live(1.2)}
        if relay_id in live_:
            return live_[relay_id]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{relay_id} did not register within {timeout} s")


async def dead_after(reg, relay_id, since, timeout=5):
    while time.monotonic() - since < timeout:
        _, dead, _ = await reg.scan(1.2)
        if relay_id in dead:
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    raise AssertionError(f"{relay_id} not seen dead within {timeout} s")


async def test_a_relay_process_registers_beats_and_a_clean_exit_is_seen_at_once(relay_env, reg):
    env, logs = relay_env
    proc = start_relay(env, logs, "relay-reg-0", "--advertise", "10.9.8.7", "--capacity", "123")
    try:
        rec = await registered(reg, "relay-reg-0")
        assert (rec.channel, rec.address, rec.capacity, rec.state) == ("relay-reg-0", "10.9.8.7", 123, "live")
        first = rec.age_ms
        await asyncio.sleep(1.5)
        again = await registered(reg, "relay-reg-0")
        assert again.incarnation == rec.incarnation and again.age_ms <= 600, (first, again.age_ms)
    finally:
        stop(proc)
    exited = time.monotonic()
    assert proc.returncode == 0
    assert await dead_after(reg, "relay-reg-0", exited) < 0.5  # it stopped its beat on the way out


async def test_a_killed_relay_process_is_dead_within_1_5_s(relay_env, reg):
    env, logs = relay_env
    proc = start_relay(env, logs, "relay-reg-1")
    try:
        await registered(reg, "relay-reg-1")
        await asyncio.sleep(0.6)
    finally:
        proc.kill()
        killed = time.monotonic()
        stop(proc)
    assert await dead_after(reg, "relay-reg-1", killed) <= 1.5


async def test_a_call_from_an_older_plan_epoch_is_refused_by_the_relay_process(relay_env, reg):
    from channels_redis.pubsub import RedisPubSubChannelLayer

    env, logs = relay_env
    layer = RedisPubSubChannelLayer(hosts=[os.environ["REDIS_URL"]], prefix=env["CHANNEL_PREFIX"])
    plans = Plans(reg.r, reg.p)
    proc = start_relay(env, logs, "relay-reg-2")
    try:
        await registered(reg, "relay-reg-2")
        p = Plan(4242, "relay-reg-2", {1: "relay-reg-2"}, {1: ()})
        await plans.save(p, 0)
        await plans.save(p, 1)  # the plan moved on: epoch 2
        reply_to = await layer.new_channel()

        async def call(n, **extra):
            message = {
                "type": "relay.call",
                "op": "quality",
                "args": {"meeting_id": 4242},
                "call": n,
                "reply_to": reply_to,
                **extra,
            }
            await layer.send("relay-reg-2", message)
            reply = await asyncio.wait_for(layer.receive(reply_to), 15)
            assert reply["call"] == n
            return reply

        await asyncio.sleep(0.5)  # the relay listens on its channel (pub/sub drops what comes before)
        old = await call(1, epoch=1)
        assert old["error"][0] == "stale_epoch" and "result" not in old
        assert (await call(2, epoch=2))["result"] == {}
        assert (await call(3))["result"] == {}  # no epoch: served as before
        nested = await call(4, args={"meeting_id": 4242, "epoch": 1})
        assert nested["error"][0] == "stale_epoch"
    finally:
        stop(proc)
        await layer.flush()

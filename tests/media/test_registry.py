"""The relay registry on a real Redis (issue 11): registration, heartbeats, death by polling, the joins cap."""

import asyncio
import os
import time
import uuid

import pytest

from confserver.media import registry

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the relay registry lives in Redis (REDIS_URL)")


@pytest.fixture
async def reg():
    r = registry.connect(os.environ["REDIS_URL"])
    p = f"test-cascade-{uuid.uuid4().hex[:10]}"
    yield registry.Registry(r, p)
    keys = [k async for k in r.scan_iter(f"{p}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def register(reg, relay_id="relay-a", incarnation="one", **kw):
    return await reg.register(
        relay_id,
        incarnation,
        channel=relay_id,
        address=kw.pop("address", "10.0.0.5"),
        capacity=kw.pop("capacity", 350),
        dead_after_s=kw.pop("dead_after_s", 1.2),
    )


async def test_a_registered_relay_is_listed_with_its_address_capacity_and_load(reg):
    assert await register(reg, address="10.0.0.5", capacity=300)
    assert await reg.beat("relay-a", "one", peers=12, meetings=2)
    [rec] = await reg.live(1.2)
    assert (rec.id, rec.channel, rec.address, rec.capacity, rec.peers, rec.meetings, rec.state) == (
        "relay-a",
        "relay-a",
        "10.0.0.5",
        300,
        12,
        2,
        "live",
    )
    assert rec.age_ms is not None and 0 <= rec.age_ms < 1000
    await reg.r.hset(reg.plans_key("relay-a"), mapping={"7": 40, "8": 5})
    [rec] = await reg.live(1.2)
    assert rec.planned == 45 and rec.load == 45  # rooms planned onto it count before they connect


async def test_a_heartbeat_that_stops_is_dead_1_2_s_after_its_last_beat_and_not_before(reg):
    """Dead exactly when Redis's clock is 1.2 s past the last beat. Each call is bracketed by this process's clock,
    so a loaded machine that delays the calls changes which scans are checked, never the verdict asked of them: a
    scan that ended < 1.2 s after the beat was sent must say alive, one that began > 1.2 s after it returned, dead
    (5 ms for Redis's millisecond clock)."""
    assert await register(reg)
    start = time.monotonic()
    while time.monotonic() - start < 1.6:  # beating every 0.25 s keeps it alive
        sent = time.monotonic()
        assert await reg.beat("relay-a", "one", 0, 0)
        returned = time.monotonic()
        _, dead, alive = await reg.scan(1.2)
        if time.monotonic() - sent < 1.195:
            assert dead == [] and alive == ["relay-a"]
        await asyncio.sleep(0.25)
    checked_alive = checked_dead = 0
    while True:  # the process froze or was killed: polled like the monitor does
        began = time.monotonic()
        _, dead, alive = await reg.scan(1.2)
        ended = time.monotonic()
        if ended - sent < 1.195:
            assert (dead, alive) == ([], ["relay-a"]), ended - sent
            checked_alive += 1
        elif began - returned > 1.205:
            assert (dead, alive) == (["relay-a"], []), began - returned
            checked_dead += 1
            break
        assert ended - returned < 10
        await asyncio.sleep(0.05)
    print(f"scans checked: {checked_alive} alive before 1.2 s, then dead")
    assert await reg.live(1.2) == []


async def test_a_live_id_cannot_be_taken_and_a_dead_one_is_taken_and_flagged_restarted(reg):
    assert await register(reg, incarnation="one", dead_after_s=0.5)
    assert not await register(reg, incarnation="two", dead_after_s=0.5)
    await asyncio.sleep(0.6)  # "one" stopped beating (killed) and no monitor saw it yet
    assert await register(reg, incarnation="two", dead_after_s=0.5)
    assert await reg.r.smembers(reg.restarted) == {"relay-a"}  # its rooms must move: the monitor does it
    assert not await reg.beat("relay-a", "one", 0, 0)  # the old incarnation is out
    assert await reg.beat("relay-a", "two", 0, 0)


async def test_a_relay_declared_dead_registers_again(reg):
    stop = asyncio.Event()
    task = asyncio.ensure_future(
        registry.keep_registered(
            reg,
            "relay-a",
            channel="relay-a",
            address="h",
            capacity=10,
            load=lambda: (3, 1),
            stop=stop,
            period_s=0.05,
            dead_after_s=0.5,
        )
    )
    try:
        for _ in range(40):
            await asyncio.sleep(0.05)
            live = await reg.live(0.5)
            if live and live[0].peers == 3:  # registered, then beating with its load
                break
        [rec] = live
        assert rec.peers == 3 and rec.meetings == 1
        assert await reg.mark_dead("relay-a", rec.incarnation)  # as a monitor does after a long stall
        for _ in range(40):
            await asyncio.sleep(0.05)
            live = await reg.live(0.5)
            if live and live[0].incarnation != rec.incarnation:
                break
        assert live[0].state == "live" and live[0].incarnation != rec.incarnation
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    # a clean exit stops the beat: dead at the monitor's next poll, not 1.2 s later
    _, dead, alive = await reg.scan(0.5)
    assert dead == ["relay-a"] and alive == []


async def test_joins_per_relay_are_capped(reg):
    calls = []
    for _ in range(8):
        before = time.monotonic()
        wait = await reg.admit_join("relay-a", rate=1, burst=5)
        calls.append((before, time.monotonic(), wait))
    assert [w for _, _, w in calls[:5]] == [0, 0, 0, 0, 0]  # the burst
    # then one a second: the k-th join may go (k - 4) s after the bucket's first call, whatever the calls' pace
    start_before, start_after, _ = calls[0]
    for k in range(5, 8):
        before, after, wait = calls[k]
        assert before - start_after + wait - 0.02 <= k - 4 <= after - start_before + wait + 0.02, calls
    assert await reg.admit_join("relay-b", rate=1, burst=5) == 0  # per relay


async def test_draining_is_a_state_an_operator_sets(reg):
    assert await register(reg)
    assert await reg.set_state("relay-a", "draining")
    [rec] = await reg.live(1.2)
    assert rec.state == "draining" and rec.info().state == "draining"
    assert await reg.r.smembers(reg.draining) == {"relay-a"}
    assert not await reg.set_state("nope", "draining")
    assert await reg.r.smembers(reg.draining) == {"relay-a"}

"""Meeting plans in a real Redis (issue 11): epochs, compare-and-set, the rooms' relays, fencing."""

import os
import uuid

import pytest

from confserver.errors import DomainError
from confserver.media import registry
from confserver.media.placement import RelayInfo, RoomSpec, plan
from confserver.media.plans import PlanConflict, Plans

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="meeting plans live in Redis (REDIS_URL)")


@pytest.fixture
async def plans():
    r = registry.connect(os.environ["REDIS_URL"])
    p = f"test-cascade-{uuid.uuid4().hex[:10]}"
    yield Plans(r, p)
    keys = [k async for k in r.scan_iter(f"{p}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


ROOMS = [RoomSpec(1)] + [RoomSpec(10 + i, (f"{i % 4:02d}", f"c{i}")) for i in range(200)]
RELAYS = [RelayInfo(f"r{i}", 100) for i in range(6)]


async def live_relays(plans, ids, capacity=100):
    for rid in ids:
        assert await plans.registry.register(rid, "x", channel=rid, address="a", capacity=capacity, dead_after_s=5)


async def test_a_plan_is_stored_under_a_new_epoch_with_compare_and_set(plans):
    first = plan(7, ROOMS, RELAYS)
    assert await plans.save(first, 0) == 1
    with pytest.raises(PlanConflict):
        await plans.save(first, 0)  # computed from "no plan": someone stored one since
    loaded = await plans.load(7)
    assert (loaded.epoch, loaded.root, loaded.rooms, loaded.keys) == (1, first.root, first.rooms, first.keys)
    assert loaded.parent == first.parent and loaded.backup == first.backup
    assert await plans.relay_of(7, 10) == first.rooms[10] and await plans.relay_of(7, 9999) is None
    for relay, n in first.use().items():
        assert await plans.meetings_on(relay) == [7]
        assert int(await plans.r.hget(plans.registry.plans_key(relay), "7")) == n
    gone = sorted(first.leaves())[0]
    second = plan(7, ROOMS, [r for r in RELAYS if r.id != gone], loaded)
    assert await plans.save(second, 1) == 2
    assert await plans.meetings_on(gone) == []  # nothing of this meeting left on it
    assert await plans.epoch(7) == 2
    await plans.drop(7)
    assert await plans.load(7) is None and await plans.epoch(7) == 2  # the epoch stays: late commands refused
    assert [await plans.meetings_on(r.id) for r in RELAYS] == [[]] * len(RELAYS)


async def test_an_older_epoch_is_refused_with_stale_epoch(plans):
    p = plan(7, ROOMS, RELAYS)
    await plans.save(p, 0)
    await plans.save(plan(7, ROOMS, RELAYS, p), 1)
    await plans.check_epoch(7, 2)
    await plans.check_epoch(7, 3)  # newer than stored: a plan being written; not refused
    with pytest.raises(DomainError) as err:
        await plans.check_epoch(7, 1)
    assert err.value.code == "stale_epoch" and "phương án cũ" in err.value.message
    await plans.check_epoch(8, 1)  # no plan for that meeting: nothing to fence


async def test_a_joining_room_is_recorded_without_a_new_epoch_when_its_relay_is_in_the_tree(plans):
    await live_relays(plans, [r.id for r in RELAYS])
    p = plan(7, ROOMS, RELAYS)
    await plans.save(p, 0)
    leaf = p.rooms[10]  # subtree "00"
    relay = await plans.place(7, RoomSpec(500, ("00", "late")))
    assert relay == leaf and await plans.epoch(7) == 1 and await plans.relay_of(7, 500) == leaf
    assert int(await plans.r.hget(plans.registry.plans_key(leaf), "7")) == p.use()[leaf] + 1
    assert await plans.place(7, RoomSpec(500, ("00", "late"))) == leaf  # asked again: the same
    await plans.registry.set_state(leaf, "draining")
    other = await plans.place(7, RoomSpec(501, ("00", "later")))
    assert other not in (None, leaf)


async def test_the_first_room_creates_the_plan(plans):
    await live_relays(plans, ["r0", "r1"])
    assert await plans.place(9, RoomSpec(1)) in ("r0", "r1")
    assert (await plans.load(9)).epoch == 1


async def test_a_joining_room_needing_a_relay_outside_the_tree_makes_a_new_plan_that_moves_nothing(plans):
    await live_relays(plans, ["r0", "r1", "r2"])
    small = [RoomSpec(1)] + [RoomSpec(10 + i, ("01", f"c{i}")) for i in range(20)]
    p = plan(7, small, [RelayInfo(r, 100) for r in ("r0", "r1", "r2")])
    assert set(p.rooms.values()) == {p.root}  # one relay carries it all
    await plans.save(p, 0)
    # the root is full now (other meetings): a room of a new subtree goes to another relay, joining the tree
    await plans.r.hset(plans.registry.plans_key(p.root), "99", 80)
    relay = await plans.place(7, RoomSpec(500, ("02", "x")))
    after = await plans.load(7)
    assert relay not in (None, p.root) and after.epoch == 2 and after.rooms[500] == relay
    assert after.parent[relay] == after.root == p.root
    assert after.moves_from(p) == [] and {r: after.rooms[r] for r in p.rooms} == p.rooms

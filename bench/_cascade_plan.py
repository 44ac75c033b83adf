"""Cascade bench, case `plan` (issue 11): the control plane's placement on the pre-2025 national list.

One room per unit of confserver/rooms/data/units-pre2025.jsonl (10,811: the centre, 63 provinces, 696 districts,
10,051 communes), keyed by its codes below the centre, over --relays simulated relays of RELAY_CAPACITY-like
capacity with a random load from other meetings. Timed (placement.plan only, no I/O): fresh plans, re-plans after
removing one relay, re-plans after adding one; each removal/addition checks that the rooms that moved are exactly
the removed relay's (none for an addition). With REDIS_URL, beside it (a throwaway key prefix): the national plan
saved and loaded through plans.Plans, and the monitor's re-plan when a leaf goes (load, plan, compare-and-set save).

    .venv/bin/python bench/_cascade_plan.py [--relays 48] [--trials 10] [--capacity 350]
Last line: one JSON object.
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confserver.media.placement import RelayInfo, RoomSpec, plan  # noqa: E402  (pure: no Django needed)


def national_rooms() -> list[RoomSpec]:
    key: dict[str, tuple] = {}
    rooms = []
    with open(ROOT / "confserver" / "rooms" / "data" / "units-pre2025.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            u = json.loads(line)
            key[u["code"]] = key[u["parent"]] + (u["code"],) if u["parent"] else ()
            rooms.append(RoomSpec(i, key[u["code"]]))
    return rooms


def pct(values, q):
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


def reported(p, relays):
    """The relays as the registry reports them once the plan is applied: this meeting's rooms are load too."""
    use = p.use()
    return [RelayInfo(r.id, r.capacity, r.load + use[r.id], r.state) for r in relays]


async def through_redis(p, relays, n=10) -> dict:
    """Save + load of the national plan, and the monitor's re-plan of it when one relay goes (load, plan without
    it, compare-and-set save: the control plane's share of a failover), on REDIS_URL under a throwaway prefix."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    from confserver.media import registry
    from confserver.media.monitor import Monitor

    r = registry.connect(os.environ["REDIS_URL"])
    prefix = f"bench-cascade-{uuid.uuid4().hex[:8]}"
    mon = Monitor(r, None, prefix_=prefix, dead_after_s=600)
    stored, replans, exact = [], [], True
    try:
        for relay in relays:
            await mon.registry.register(
                relay.id, "bench", channel=relay.id, address="127.0.0.1", capacity=relay.capacity, dead_after_s=600
            )
        epoch = 0
        for _ in range(n):
            t = time.perf_counter()
            epoch = await mon.plans.save(p, epoch)
            loaded = await mon.plans.load(p.meeting_id)
            stored.append((time.perf_counter() - t) * 1000)
            assert loaded.rooms == p.rooms
        rng = random.Random(5)
        for _ in range(n):
            current = await mon.plans.load(p.meeting_id)
            victim = rng.choice(sorted(current.leaves()))
            had = sorted(room for room, relay in current.rooms.items() if relay == victim)
            t = time.perf_counter()
            event = await mon.replan(p.meeting_id, {victim}, "dead")
            replans.append((time.perf_counter() - t) * 1000)
            exact &= sorted(m["room_id"] for m in event["moves"]) == had
            await mon.registry.set_state(victim, "draining")  # gone for the next rounds
    finally:
        keys = [k async for k in r.scan_iter(f"{prefix}:*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    return {
        "plan_store_ms_p95": pct(stored, 0.95),
        "replan_redis_ms_p95": pct(replans, 0.95),
        "replan_redis_ms_max": round(max(replans), 1),
        "replan_moved_only_that_relays_rooms": exact,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--relays", type=int, default=48)
    ap.add_argument("--trials", type=int, default=10, help="of each kind: fresh, remove one, add one")
    ap.add_argument("--capacity", type=int, default=350)
    args = ap.parse_args()
    rng = random.Random(11)
    rooms = national_rooms()
    times = {"fresh": [], "remove": [], "add": []}
    moved_remove, expected_remove, moved_add, exact = [], [], [], True
    levels, leaves, fill = set(), [], []
    for trial in range(args.trials):
        relays = [RelayInfo(f"relay-{i:02d}", args.capacity, rng.randrange(0, 40)) for i in range(args.relays)]
        p, ms = timed(lambda: plan(trial + 1, rooms, relays))
        times["fresh"].append(ms)
        levels.add(p.levels())
        leaves.append(len(p.leaves()))
        use = p.use()
        fill.append(max((use[r.id] + r.load) / r.capacity for r in relays if r.id != p.root))
        now = reported(p, relays)
        victim = rng.choice(sorted(p.relays()))
        after, ms = timed(lambda: plan(trial + 1, rooms, [r for r in now if r.id != victim], p))
        times["remove"].append(ms)
        moved = sorted(m["room_id"] for m in after.moves_from(p))
        had = sorted(room for room, relay in p.rooms.items() if relay == victim)
        moved_remove.append(len(moved))
        expected_remove.append(len(had))
        exact &= moved == had
        after, ms = timed(lambda: plan(trial + 1, rooms, now + [RelayInfo("relay-new", args.capacity)], p))
        times["add"].append(ms)
        moved_add.append(len(after.moves_from(p)))
        exact &= not after.moves_from(p)
        print(
            f"trial {trial}: fresh {times['fresh'][-1]:.0f} ms, remove {victim} {times['remove'][-1]:.0f} ms "
            f"({moved_remove[-1]} moved, it had {expected_remove[-1]}), add {times['add'][-1]:.0f} ms "
            f"({moved_add[-1]} moved)",
            file=sys.stderr,
            flush=True,
        )
    every = times["fresh"] + times["remove"] + times["add"]
    result = {
        "plan_rooms": len(rooms),
        "plan_relays": args.relays,
        "plan_capacity": args.capacity,
        "plan_levels": sorted(levels),
        "plan_leaves": [min(leaves), max(leaves)],
        "plan_fill_max_pct": round(100 * max(fill), 1),
        "plans_timed": len(every),
        "plan_ms_p95": pct(every, 0.95),
        "plan_ms_max": round(max(every), 1),
        "plan_ms_p95_fresh": pct(times["fresh"], 0.95),
        "plan_ms_p95_remove": pct(times["remove"], 0.95),
        "plan_ms_p95_add": pct(times["add"], 0.95),
        "moved_on_remove": max(moved_remove),
        "moved_on_remove_expected": expected_remove[moved_remove.index(max(moved_remove))],
        "moved_on_add": max(moved_add),
        "moved_only_that_relays_rooms": exact,
    }
    if os.environ.get("REDIS_URL"):
        relays = [RelayInfo(f"relay-{i:02d}", args.capacity) for i in range(args.relays)]
        result.update(asyncio.run(through_redis(plan(1, rooms, relays), relays)))
    with open("/proc/loadavg") as f:
        result["loadavg"] = f.read().split()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

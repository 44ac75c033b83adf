"""Placement rules of the relay cascade (issue 11): pure functions over rooms and relays."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from confserver.media.placement import DRAINING, Plan, RelayInfo, RoomSpec, place_room, plan, room_key

DATA = Path(__file__).resolve().parents[2] / "confserver" / "rooms" / "data"


def national_rooms(name="units-pre2025.jsonl") -> list[RoomSpec]:
    """One room per unit of the national list, keyed by its codes below the central unit."""
    key = {}
    rooms = []
    for i, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), start=1):
        u = json.loads(line)
        key[u["code"]] = key[u["parent"]] + (u["code"],) if u["parent"] else ()
        rooms.append(RoomSpec(i, key[u["code"]]))
    return rooms


def relays(n, capacity=350, **loads) -> list[RelayInfo]:
    return [RelayInfo(f"r{i:02d}", capacity, loads.get(f"r{i:02d}", 0)) for i in range(n)]


def reported(p: Plan, rs: list[RelayInfo]) -> list[RelayInfo]:
    """The relays as the registry would report them once the plan is applied (this meeting's use as load)."""
    use = p.use()
    return [RelayInfo(r.id, r.capacity, r.load + use[r.id], r.state) for r in rs]


def test_room_key_is_the_codes_below_the_host():
    assert room_key("VN.", "VN.46.474.19753.") == ("46", "474", "19753")
    assert room_key("VN.46.", "VN.46.") == ()
    with pytest.raises(ValueError):
        room_key("VN.46.", "VN.01.")


def test_a_subtree_goes_to_its_leaf_and_the_host_to_the_root():
    rooms = (
        [RoomSpec(1)]
        + [RoomSpec(10 + i, ("01", f"c{i}")) for i in range(60)]
        + [RoomSpec(100 + i, ("02", f"d{i}")) for i in range(50)]
    )
    p = plan(7, rooms, relays(4, capacity=100))
    leaf_of = {s: {p.rooms[r.id] for r in rooms if r.key[:1] == (s,)} for s in ("01", "02")}
    assert all(len(v) == 1 for v in leaf_of.values()), leaf_of  # each province on one leaf
    assert leaf_of["01"] != leaf_of["02"]  # 60 + 50 > 80: they cannot share one
    assert p.rooms[1] == p.root and p.root not in leaf_of["01"] | leaf_of["02"]
    assert all(p.parent[leaf] == p.root for leaf in p.leaves()) and p.levels() == 2
    assert p.leaves() == {next(iter(leaf_of["01"])): ["01"], next(iter(leaf_of["02"])): ["02"]}


def test_small_meeting_stays_on_one_relay():
    rooms = [RoomSpec(1)] + [RoomSpec(10 + i, ("474", f"c{i}")) for i in range(150)]
    p = plan(7, rooms, relays(3))
    assert set(p.rooms.values()) == {p.root} and p.parent == {} and p.levels() == 1
    assert p.backup[p.root] != p.root


def test_relays_are_filled_to_80_percent_counting_other_meetings():
    rooms = [RoomSpec(1)] + [RoomSpec(10 + i, (f"{i % 7:02d}", f"c{i}")) for i in range(300)]
    rs = relays(8, capacity=100, r03=50)
    p = plan(7, rooms, rs)
    use = p.use()
    assert all(use[r.id] + r.load <= 80 for r in rs), use
    assert use["r03"] <= 30
    assert sorted(p.rooms) == sorted(r.id for r in rooms)


def test_a_subtree_too_big_for_one_leaf_is_cut_between_districts():
    rooms = [RoomSpec(1)] + [
        RoomSpec(1000 * d + c, ("01", f"0{d}", f"{d}{c:03d}")) for d in range(1, 4) for c in range(30)
    ]
    p = plan(7, rooms, relays(4, capacity=80))  # 64 rooms a relay: two districts (60) fit, three (90) do not
    by_district = {d: {p.rooms[1000 * d + c] for c in range(30)} for d in range(1, 4)}
    assert all(len(v) == 1 for v in by_district.values()), by_district
    assert len(set.union(*by_district.values())) == 2


def test_two_choices_picks_the_less_loaded():
    current = plan(7, [RoomSpec(1)], relays(1))
    rs = [RelayInfo("r00", 350, 10), RelayInfo("busy", 350, 200), RelayInfo("idle", 350, 20)]
    picks = Counter(place_room(current, RoomSpec(99, ("05",)), rs, rng=random.Random(seed)) for seed in range(60))
    # r00 is the root (it feeds the tree, so it is left out); of the two others, always the less loaded
    assert picks == Counter({"idle": 60})
    rs = [RelayInfo("r00", 350, 10)] + [RelayInfo(f"x{i}", 350, 10 * i) for i in range(1, 6)]
    for seed in range(40):
        rng = random.Random(seed)
        a, b = random.Random(seed).sample(["x1", "x2", "x3", "x4", "x5"], 2)
        assert place_room(current, RoomSpec(99, ("05",)), rs, rng=rng) == min(a, b, key=lambda x: int(x[1:]))


def test_a_joining_room_goes_to_a_leaf_of_its_subtree_while_it_has_headroom():
    rooms = (
        [RoomSpec(1)]
        + [RoomSpec(10 + i, ("01", f"c{i}")) for i in range(60)]
        + [RoomSpec(100 + i, ("02", f"d{i}")) for i in range(50)]
    )
    rs = relays(4, capacity=100)
    p = plan(7, rooms, rs)
    leaf = p.rooms[10]
    assert place_room(p, RoomSpec(500, ("01", "new")), reported(p, rs)) == leaf
    full = [RelayInfo(r.id, r.capacity, 80 if r.id == leaf else r.load) for r in reported(p, rs)]
    assert place_room(p, RoomSpec(500, ("01", "new")), full, rng=random.Random(1)) != leaf


def test_removing_a_relay_moves_only_its_rooms_first_to_its_backup():
    rooms = national_rooms()
    rs = relays(45)
    p = plan(1, rooms, rs)
    assert len(p.rooms) == 10_811 and p.levels() == 2
    use = p.use()
    for victim in sorted(p.leaves())[:3] + [p.root]:
        after = plan(1, rooms, [r for r in reported(p, rs) if r.id != victim], p)
        moved = after.moves_from(p)
        assert sorted(m["room_id"] for m in moved) == sorted(r for r, relay in p.rooms.items() if relay == victim)
        # its backup had headroom for all of them (two relays of the 45 are spare): they all go there
        assert {m["to"] for m in moved} == {p.backup[victim]}
        assert victim not in after.relays() and victim not in after.backup.values()
        if victim == p.root:
            assert after.root == p.backup[victim] and all(after.parent[leaf] == after.root for leaf in after.leaves())
        assert use[victim] > 0


def test_adding_a_relay_moves_nothing():
    rooms = national_rooms()
    rs = relays(45)
    p = plan(1, rooms, rs)
    after = plan(1, rooms, reported(p, rs) + [RelayInfo("new", 350)], p)
    assert after.moves_from(p) == [] and after.rooms == p.rooms


def test_a_draining_relay_gets_no_new_rooms_and_its_rooms_move():
    rooms = [RoomSpec(1)] + [RoomSpec(10 + i, (f"{i % 5:02d}", f"c{i}")) for i in range(200)]
    rs = relays(5, capacity=100)
    p = plan(7, rooms, rs)
    leaf = sorted(p.leaves())[0]
    drained = [RelayInfo(r.id, r.capacity, r.load, DRAINING if r.id == leaf else r.state) for r in reported(p, rs)]
    after = plan(7, rooms, drained, p)
    assert leaf not in after.rooms.values()
    assert {m["room_id"] for m in after.moves_from(p)} == {r for r, relay in p.rooms.items() if relay == leaf}
    # the idlest relay, draining, is never picked for a joining room
    idle = [
        RelayInfo("r00", 100, 0),
        RelayInfo("idle", 100, 0, DRAINING),
        RelayInfo("b", 100, 50),
        RelayInfo("c", 100, 60),
    ]
    assert all(place_room(after, RoomSpec(999, ("77",)), idle, rng=random.Random(s)) != "idle" for s in range(30))
    fresh = plan(8, rooms, idle)
    assert "idle" not in fresh.relays() and "idle" not in fresh.backup.values()


def test_a_middle_level_only_when_the_root_cannot_feed_every_leaf():
    rooms = [RoomSpec(1)] + [RoomSpec(10 + i, (f"{i // 6:02d}", f"c{i}")) for i in range(120)]
    two = plan(7, rooms, relays(20, capacity=100))
    assert two.levels() == 2
    three = plan(7, rooms, relays(40, capacity=10))  # 8 rooms a leaf -> 20 leaves; the root feeds at most 8
    assert three.levels() == 3
    middles = {m for m, parent in three.parent.items() if parent == three.root}
    assert 0 < len(middles) <= 8
    for leaf in set(three.rooms.values()) - {three.root}:
        assert three.parent[leaf] in middles or leaf in middles
    use = three.use()
    assert all(use[r] <= 8 for r in use if r != three.root), use


@pytest.mark.django_db
def test_a_province_meeting_s_rooms_are_keyed_by_district_then_commune(hue_pre2025):
    from datetime import timedelta

    from django.utils import timezone

    from confserver.media.plans import meeting_rooms
    from confserver.rooms.hierarchy import subtree
    from confserver.rooms.models import Meeting, Participation, Room

    start = timezone.now()
    meeting = Meeting.objects.create(
        host_unit=hue_pre2025, title="Họp toàn tỉnh", scheduled_start=start, scheduled_end=start + timedelta(hours=2)
    )
    rooms = Room.objects.filter(unit__in=subtree(hue_pre2025))
    Participation.objects.bulk_create([Participation(meeting=meeting, room=r) for r in rooms])
    specs = meeting_rooms(meeting)
    assert len(specs) == 1 + 9 + 134
    host_room = Room.objects.get(unit=hue_pre2025)
    assert {s.key for s in specs if s.id == host_room.id} == {()}
    assert len({s.subtree for s in specs if s.key}) == 9  # the districts
    assert all(len(s.key) in (0, 1, 2) for s in specs)
    p = plan(meeting.id, specs, relays(6, capacity=60))  # 48 rooms a leaf: no district is cut (the largest has 39)
    by_district = {}
    for s in specs:
        if s.key:
            by_district.setdefault(s.subtree, set()).add(p.rooms[s.id])
    assert all(len(v) == 1 for v in by_district.values()), by_district
    assert p.rooms[host_room.id] == p.root

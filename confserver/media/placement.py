"""Where a meeting's rooms go in the relay cascade (issue 11): plain functions, no I/O.

A plan has a root relay (the host's own rooms: the chair and the publishers), leaf relays that each serve one or
more subtrees (a room's subtree is the unit right below the host: its province in a national meeting, its district
or commune in a province's), a middle level only when the root cannot feed every leaf, a backup for each relay of
the tree, and the relay of each room. Rules (docs/cascade.md):

- stable: a room keeps its relay while that relay is still usable, so adding a relay moves nothing and removing
  one moves only its rooms; the rooms of a relay that is gone go first to its backup;
- fill: a relay takes rooms only up to FILL (80 %) of its capacity, counting its load from other meetings;
- a room goes to a leaf of its subtree; a subtree too big for one leaf is cut in depth-first order (districts stay
  whole as long as they fit); a room that fits nowhere, and a room joining later without a leaf of its subtree
  with headroom, goes to the less loaded of two random live relays (`place_room`).
"""

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

FILL = 0.8
LIVE, DRAINING = "live", "draining"
KEY_SEP = "/"


class NoRelay(Exception):
    """No live relay to plan on."""


@dataclass(frozen=True)
class RelayInfo:
    id: str
    capacity: int  # rooms at full load (measured: bench/relay.py)
    load: int = 0  # rooms on it now, every meeting's (the planner takes this meeting's own out)
    state: str = LIVE


class RoomSpec(NamedTuple):  # a tuple: a national meeting makes 10,811 of them per plan
    id: int
    key: tuple[str, ...] = ()  # unit codes below the host unit, top down; () = a room of the host unit itself

    @property
    def subtree(self) -> str:
        return self.key[0] if self.key else ""


def room_key(host_path: str, unit_path: str, sep: str = ".") -> tuple[str, ...]:
    """The codes of a room's unit below the host ("VN.46.474." under "VN." → ("46", "474"))."""
    if not unit_path.startswith(host_path):
        raise ValueError(f"{unit_path!r} is not under {host_path!r}")
    return tuple(c for c in unit_path[len(host_path) :].split(sep) if c)


@dataclass
class Plan:
    meeting_id: int
    root: str
    rooms: dict[int, str]  # room id -> relay id
    keys: dict[int, tuple[str, ...]]  # room id -> RoomSpec.key
    parent: dict[str, str] = field(default_factory=dict)  # relay of the tree -> the relay that feeds it
    backup: dict[str, str] = field(default_factory=dict)  # relay of the tree -> where its rooms go if it fails
    epoch: int = 0  # set by plans.Plans when stored

    def use(self) -> Counter:
        """What this meeting costs each relay: its rooms plus one per relay it feeds."""
        use = Counter(self.rooms.values())
        use.update(self.parent.values())
        return use

    def relays(self) -> set[str]:
        return {self.root, *self.rooms.values(), *self.parent, *self.parent.values()}

    def leaves(self) -> dict[str, list[str]]:
        """Relay -> the subtrees it serves (the root's own rooms excluded)."""
        out: dict[str, set[str]] = defaultdict(set)
        for room, relay in self.rooms.items():
            if relay != self.root:
                key = self.keys.get(room, ())
                out[relay].add(key[0] if key else "")
        return {relay: sorted(s) for relay, s in sorted(out.items())}

    def levels(self) -> int:
        depth = 1
        for relay in self.parent:
            d, r = 1, relay
            while r in self.parent and d < 10:
                r, d = self.parent[r], d + 1
            depth = max(depth, d)
        return depth

    def tree(self) -> dict:
        """The plan without its rooms (stored apart, looked up one at a time)."""
        return {
            "meeting_id": self.meeting_id,
            "root": self.root,
            "parent": self.parent,
            "backup": self.backup,
            "leaves": self.leaves(),
            "levels": self.levels(),
        }

    def moves_from(self, before: "Plan | None") -> list[dict]:
        """Rooms whose relay changed since `before`."""
        old = before.rooms if before else {}
        return [
            {"room_id": room, "from": old[room], "to": relay}
            for room, relay in sorted(self.rooms.items())
            if room in old and old[room] != relay
        ]


def _usable(relays: Iterable[RelayInfo], exclude) -> dict[str, RelayInfo]:
    return {r.id: r for r in relays if r.state == LIVE and r.capacity > 0 and r.id not in exclude}


def plan(
    meeting_id: int,
    rooms: Iterable[RoomSpec],
    relays: Iterable[RelayInfo],
    previous: Plan | None = None,
    *,
    exclude: Iterable[str] = (),
    fill: float = FILL,
) -> Plan:
    """The plan of a meeting's rooms over the live relays, keeping `previous` where it is still valid.

    `exclude`: relays to move off although they look live (a relay that restarted lost its peers)."""
    valid = _usable(relays, set(exclude))
    if not valid:
        raise NoRelay("no live relay")
    rooms = list(rooms)
    prev_use = previous.use() if previous else Counter()
    headroom = {rid: math.floor(fill * r.capacity) - max(0, r.load - prev_use.get(rid, 0)) for rid, r in valid.items()}
    assigned: dict[int, str] = {}
    used: Counter = Counter()  # rooms per relay in this plan

    def put(room: RoomSpec, relay: str):
        assigned[room.id] = relay
        headroom[relay] -= 1
        used[relay] += 1

    # 1. Keep every room whose relay is still usable.
    pending: list[RoomSpec] = []
    gone_from: dict[int, str] = {}
    for room in rooms:
        relay = previous.rooms.get(room.id) if previous else None
        if relay in valid:
            put(room, relay)
        else:
            pending.append(room)
            if relay is not None:
                gone_from[room.id] = relay

    # 2. The root: the previous one, else its backup, else the relay with the most headroom.
    root = None
    if previous:
        root = previous.root if previous.root in valid else previous.backup.get(previous.root)
    if root not in valid:
        root = max(valid, key=lambda rid: (headroom[rid], rid))
    if not (set(used) - {root}) and len(pending) <= headroom[root]:
        for room in pending:  # one relay carries it all: no cascade
            put(room, root)
        pending = []
    rest = []
    pending.sort(key=lambda r: (r.key, r.id))  # depth-first: a cut subtree keeps its districts together
    for room in pending:
        if not room.key:
            put(room, root)  # the host's rooms (the chair) on the root, whatever its fill
        else:
            rest.append(room)

    # 3. Rooms of a relay that is gone go to its backup while it has headroom.
    if previous and gone_from:
        still: list[RoomSpec] = []
        orphans: defaultdict[str, list[RoomSpec]] = defaultdict(list)
        for room in rest:
            (orphans[gone_from[room.id]] if room.id in gone_from else still).append(room)
        for gone, members in orphans.items():
            target = previous.backup.get(gone)
            if target in valid and headroom[target] > 0:  # the root too, when it is the backup (no spare)
                cut = _cut(members, headroom[target])
                for room in members[:cut]:
                    put(room, target)
                members = members[cut:]
            still.extend(members)
        rest = still

    # 4. The others by subtree, largest first: leaves of the subtree, a leaf with room for the whole subtree,
    #    a fresh relay, else cut in depth-first order over the relays with the most headroom.
    serving: dict[str, set[str]] = defaultdict(set)
    keys = {room.id: room.key for room in rooms}
    for room_id, relay in assigned.items():
        if relay != root and keys[room_id]:
            serving[keys[room_id][0]].add(relay)
    groups: dict[str, list[RoomSpec]] = defaultdict(list)
    for room in rest:
        groups[room.subtree].append(room)
    leaf_candidates = [rid for rid in valid if rid != root] or [root]
    overflow: list[RoomSpec] = []
    for subtree, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        members = list(members)
        for relay in sorted(serving[subtree], key=lambda rid: (-headroom[rid], rid)):
            while members and headroom[relay] > 0:
                put(members.pop(0), relay)
        if not members:
            continue
        open_leaves = set(used) - {root}
        fits = [rid for rid in open_leaves if headroom[rid] >= len(members)]
        if fits:
            target = min(fits, key=lambda rid: (headroom[rid], rid))  # best fit
        else:
            fresh = [rid for rid in leaf_candidates if rid not in open_leaves and headroom[rid] >= len(members)]
            target = max(fresh, key=lambda rid: (headroom[rid], rid)) if fresh else None
        if target is not None:
            for room in members:
                put(room, target)
            serving[subtree].add(target)
            continue
        while members:
            target = max(leaf_candidates, key=lambda rid: (headroom[rid], rid not in open_leaves, rid))
            if headroom[target] <= 0:
                break
            cut = _cut(members, headroom[target])
            take, members = members[:cut], members[cut:]
            for room in take:
                put(room, target)
            serving[subtree].add(target)
            open_leaves.add(target)
        overflow.extend(members)
    rng = random.Random(meeting_id)
    for room in overflow:  # over every relay's fill: the less loaded of two
        put(room, _two_choices(list(valid), lambda rid: -headroom[rid] / max(1, valid[rid].capacity), rng))

    # 5. The tree: leaves under the root, or under middle relays when the root cannot feed them all.
    parent = _tree(root, assigned, valid, headroom, previous)
    result = Plan(meeting_id, root, assigned, keys, parent, {}, previous.epoch if previous else 0)
    result.backup = _backups(result, valid, headroom, previous)
    return result


def _cut(members: list[RoomSpec], room: int) -> int:
    """How many of `members` (depth-first) to put on a relay with `room` left: whole second-level units
    (districts) while one fits, else as many rooms as fit."""
    if len(members) <= room:
        return len(members)
    best = 0
    for i in range(1, room + 1):
        if members[i].key[:2] != members[i - 1].key[:2]:
            best = i
    return best or room


def _tree(
    root: str, assigned: dict[int, str], valid: dict[str, RelayInfo], headroom: dict[str, int], previous: Plan | None
) -> dict[str, str]:
    leaves = sorted({relay for relay in assigned.values() if relay != root})
    if len(leaves) <= max(headroom[root], 1):
        headroom[root] -= len(leaves)
        return {leaf: root for leaf in leaves}
    # A middle level: keep the previous middles still usable, add the relays with the most headroom.
    prev_parent = previous.parent if previous else {}
    middles = [m for m in sorted(set(prev_parent.values()) - {root}) if m in valid and m != root]
    candidates = sorted(
        (rid for rid in valid if rid != root and rid not in middles),
        key=lambda rid: (rid in leaves, -headroom[rid], rid),
    )
    while sum(max(0, headroom[m]) for m in middles) < len(leaves) - len(middles) and candidates:
        middles.append(candidates.pop(0))
    parent = {m: root for m in middles}
    headroom[root] -= len(middles)
    for leaf in leaves:
        if leaf in parent:
            continue
        before = prev_parent.get(leaf)
        target = (
            before
            if before in parent and before != leaf and headroom[before] > 0
            else max((m for m in middles if m != leaf), key=lambda m: (headroom[m], m))
        )
        parent[leaf] = target
        headroom[target] -= 1
    return parent


def _backups(result: Plan, valid: dict[str, RelayInfo], headroom: dict[str, int], previous: Plan | None) -> dict:
    """A backup per relay of the tree: one with headroom for all its rooms if any (for one failure at a time:
    several relays may share a backup), the least shared of those and the root last; else the one with the most
    headroom. The previous choice stays while usable."""
    use = result.use()
    nodes = sorted(result.relays(), key=lambda rid: (-use[rid], rid))
    shared: Counter = Counter()
    backup = {}
    for node in nodes:
        before = previous.backup.get(node) if previous else None
        if before in valid and before != node:
            choice = before
        else:
            others = [rid for rid in valid if rid != node]
            if not others:
                continue
            whole = [rid for rid in others if headroom[rid] >= use[node]]
            choice = (
                min(whole, key=lambda rid: (rid == result.root, shared[rid], -headroom[rid], rid))
                if whole
                else max(others, key=lambda rid: (headroom[rid], rid))
            )
        backup[node] = choice
        shared[choice] += 1
    return backup


def _two_choices(candidates: list[str], score, rng: random.Random) -> str:
    """The better (lower score) of two random candidates: as good as the least loaded for balance, without
    every placer herding onto the same relay between two reports of its load."""
    if len(candidates) == 1:
        return candidates[0]
    a, b = rng.sample(candidates, 2)
    return a if (score(a), a) <= (score(b), b) else b


def place_room(
    current: Plan, room: RoomSpec, relays: Iterable[RelayInfo], *, rng: random.Random | None = None, fill: float = FILL
) -> str | None:
    """The relay for a room joining a planned meeting: a leaf of its subtree with headroom, else the less loaded
    of two random live relays under their fill (any live one under capacity if none is); None when all are full.
    Loads are the registry's (every meeting's rooms, this one's included)."""
    rng = rng or random.Random()
    valid = _usable(relays, ())
    if not valid:
        return None
    if not room.key and current.root in valid:
        return current.root

    def util(rid):
        return valid[rid].load / valid[rid].capacity

    leaves = {
        relay
        for r, relay in current.rooms.items()
        if relay != current.root and current.keys.get(r, ())[:1] == room.key[:1]
    }
    open_leaves = [rid for rid in leaves if rid in valid and valid[rid].load < fill * valid[rid].capacity]
    if open_leaves:
        return min(open_leaves, key=lambda rid: (util(rid), rid))
    under = [rid for rid in valid if valid[rid].load < fill * valid[rid].capacity]
    if len(under) > 1 and current.root in under:
        under.remove(current.root)  # the root feeds the tree; a leaf takes the room
    if not under:
        under = [rid for rid in valid if valid[rid].load < valid[rid].capacity]
    if not under:
        return None
    return _two_choices(under, util, rng)

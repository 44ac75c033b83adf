"""A meeting's relay plan in Redis under an epoch number (issue 11).

Every stored change of a plan takes the next epoch (HINCRBY, in the transaction that writes it, compare-and-set
on the epoch it was computed from: WATCH/MULTI), and a relay refuses a command that carries an older epoch than
the stored one (`check_epoch`, wired into relayd.handle): a monitor or worker acting on an old plan cannot undo
a newer one (fencing). Keys, under `<LIVE_PREFIX>:cascade:`:
  plan:<meeting>          hash: epoch, tree (JSON: root, parent, backup, leaves, levels), rooms (JSON: {"relays":
                          [names], "id": [room ids], "at": [index in relays], "key": ["codes/joined"]}), rev
  plan:<meeting>:joined   hash: rooms placed since the plan was stored: room id -> "relay<TAB>codes '/'-joined"
The rooms are one JSON value, not a hash field each: redis-py parses a 10,811-field HGETALL in ~350 ms, json.loads
the same in ~10 ms; `relay_of` keeps the last one it read per meeting and epoch.
  plans                   set of planned meetings
  relay:<id>:plans        hash: meeting -> what the plan costs that relay (its rooms + the relays it feeds)
"""

import asyncio
import json

from redis.exceptions import WatchError

from confserver.errors import DomainError

from .placement import KEY_SEP, Plan, RoomSpec, place_room
from .placement import plan as make_plan
from .registry import Registry, connect, prefix

TTL_S = 2 * 24 * 3600  # a plan outlives any meeting; ending a meeting drops it

# KEYS: plan, joined, relay's plans; ARGV: epoch expected, room, "relay\tkey", relay, meeting, ttl
_ASSIGN = """
if tostring(redis.call('HGET', KEYS[1], 'epoch') or '0') ~= ARGV[1] then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return -1 end
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
redis.call('EXPIRE', KEYS[3], ARGV[6])
return 1
"""


class StaleEpoch(DomainError):
    status = 409


class PlanConflict(Exception):
    """The plan changed since it was read (another monitor or worker stored one): read it again."""


class Plans:
    def __init__(self, r, prefix_: str | None = None):
        self.r = r
        self.p = prefix_ or prefix()
        self.registry = Registry(r, self.p)
        self._assign = r.register_script(_ASSIGN)
        self._cache: dict[int, Plan] = {}  # meeting -> the plan as last read (relay_of)

    def key(self, meeting_id: int) -> str:
        return f"{self.p}:plan:{meeting_id}"

    def joined_key(self, meeting_id: int) -> str:
        return f"{self.p}:plan:{meeting_id}:joined"

    @property
    def index(self) -> str:
        return f"{self.p}:plans"

    async def epoch(self, meeting_id: int) -> int:
        return int(await self.r.hget(self.key(meeting_id), "epoch") or 0)

    async def load(self, meeting_id: int) -> Plan | None:
        async with self.r.pipeline(transaction=True) as p:
            p.hmget(self.key(meeting_id), "epoch", "tree", "rooms")
            p.hgetall(self.joined_key(meeting_id))
            (epoch, tree, rooms), joined = await p.execute()
        if not tree:
            return None
        plan = _plan_from(meeting_id, int(epoch or 0), tree, json.loads(rooms or "{}"), joined)
        self._cache[meeting_id] = plan
        return plan

    async def relay_of(self, meeting_id: int, room_id: int) -> str | None:
        """The relay a room is to use: a joined room's field, else the plan as last read for this epoch."""
        async with self.r.pipeline(transaction=False) as p:
            p.hget(self.joined_key(meeting_id), str(room_id))
            p.hget(self.key(meeting_id), "epoch")
            joined, epoch = await p.execute()
        if joined:
            return joined.split("\t", 1)[0]
        cached = self._cache.get(meeting_id)
        if cached is None or cached.epoch != int(epoch or 0):
            cached = await self.load(meeting_id)
        return cached.rooms.get(int(room_id)) if cached else None

    async def save(self, new: Plan, expected_epoch: int, tree: dict | None = None) -> int:
        """Store `new` if the stored epoch is still `expected_epoch` (0: none yet); return the new epoch.
        `tree`: new.tree() if the caller has it already."""
        key = self.key(new.meeting_id)
        use = new.use()
        mid = str(new.meeting_id)
        async with self.r.pipeline(transaction=True) as p:
            try:
                await p.watch(key)
                epoch, stored = await p.hmget(key, "epoch", "tree")
                if int(epoch or 0) != expected_epoch:
                    raise PlanConflict(f"meeting {new.meeting_id}: epoch {epoch}, not {expected_epoch}")
                before = _tree_relays(json.loads(stored)) if stored else set()
                p.multi()
                p.hincrby(key, "epoch", 1)
                names = sorted(set(new.rooms.values()))
                index = {name: i for i, name in enumerate(names)}
                ids = list(new.rooms)
                rooms = {
                    "relays": names,
                    "id": ids,
                    "at": [index[new.rooms[r]] for r in ids],
                    "key": [KEY_SEP.join(new.keys.get(r, ())) for r in ids],
                }
                p.hset(
                    key,
                    mapping={
                        "tree": json.dumps(tree or new.tree(), separators=(",", ":")),
                        "rooms": json.dumps(rooms, separators=(",", ":")),
                    },
                )
                p.hincrby(key, "rev", 1)
                p.expire(key, TTL_S)
                p.delete(self.joined_key(new.meeting_id))
                p.sadd(self.index, mid)
                for relay in before - set(use):
                    p.hdel(self.registry.plans_key(relay), mid)
                for relay, n in use.items():
                    p.hset(self.registry.plans_key(relay), mid, n)
                    p.expire(self.registry.plans_key(relay), TTL_S)
                result = await p.execute()
            except WatchError:
                raise PlanConflict(f"meeting {new.meeting_id}: changed while saving") from None
        new.epoch = int(result[0])
        self._cache.pop(new.meeting_id, None)
        return new.epoch

    async def assign(self, current: Plan, room: RoomSpec, relay: str) -> bool:
        """Record one joining room on a relay already in `current`'s tree, same epoch (nothing moves, so no
        fencing is needed). False if the plan changed meanwhile or the room already has a relay."""
        if relay not in current.relays():
            raise ValueError(f"{relay} is not in the plan's tree; plan the meeting again")
        done = await self._assign(
            keys=[self.key(current.meeting_id), self.joined_key(current.meeting_id), self.registry.plans_key(relay)],
            args=[
                str(current.epoch),
                str(room.id),
                f"{relay}\t{KEY_SEP.join(room.key)}",
                relay,
                str(current.meeting_id),
                TTL_S,
            ],
        )
        if int(done) > 0:
            current.rooms[room.id], current.keys[room.id] = relay, room.key
        return int(done) > 0

    async def place(self, meeting_id: int, room: RoomSpec, *, attempts: int = 5) -> str | None:
        """The relay for a room joining `meeting_id`, recorded in its plan: where the plan has it, else a leaf of
        its subtree, else the better of two (placement.place_room); a relay outside the tree is a new plan."""
        for _ in range(attempts):
            current = await self.load(meeting_id)
            relays = [r.info() for r in await self.registry.live()]
            if current is None:
                try:
                    await self.save(make_plan(meeting_id, [room], relays), 0)
                except PlanConflict:
                    continue
                return await self.relay_of(meeting_id, room.id)
            if room.id in current.rooms:
                return current.rooms[room.id]
            relay = place_room(current, room, relays)
            if relay is None:
                return None
            try:
                if relay in current.relays():
                    if await self.assign(current, room, relay):
                        return relay
                    continue
                rooms = [RoomSpec(r, current.keys.get(r, ())) for r in current.rooms] + [room]
                await self.save(make_plan(meeting_id, rooms, relays, current), current.epoch)
                return await self.relay_of(meeting_id, room.id)
            except PlanConflict:
                continue
        return None

    async def drop(self, meeting_id: int) -> None:
        """The meeting ended: its plan goes, its epoch stays (until the TTL) so late commands are still refused."""
        key = self.key(meeting_id)
        tree = await self.r.hget(key, "tree")
        async with self.r.pipeline(transaction=True) as p:
            p.hdel(key, "tree", "rooms")
            p.delete(self.joined_key(meeting_id))
            p.srem(self.index, str(meeting_id))
            for relay in _tree_relays(json.loads(tree)) if tree else ():
                p.hdel(self.registry.plans_key(relay), str(meeting_id))
            await p.execute()

    async def meetings_on(self, relay_id: str) -> list[int]:
        return sorted(int(m) for m in await self.r.hkeys(self.registry.plans_key(relay_id)))

    async def check_epoch(self, meeting_id: int, epoch: int) -> None:
        stored = await self.epoch(meeting_id)
        if int(epoch) < stored:
            raise StaleEpoch(
                "stale_epoch",
                f"Lệnh theo phương án cũ (lượt {int(epoch)}, hiện là lượt {stored}); máy chủ truyền hình từ chối.",
            )


def _tree_relays(tree: dict) -> set[str]:
    return {tree["root"], *tree.get("leaves", {}), *tree.get("parent", {}), *tree.get("parent", {}).values()}


def _plan_from(meeting_id: int, epoch: int, tree: str, rooms: dict, joined: dict) -> Plan:
    t = json.loads(tree)
    names, ids = rooms.get("relays", []), rooms.get("id", [])
    assigned = {room: names[at] for room, at in zip(ids, rooms.get("at", []))}
    keys = {room: tuple(key.split(KEY_SEP)) if key else () for room, key in zip(ids, rooms.get("key", []))}
    for room, v in joined.items():
        relay, _, key = v.partition("\t")
        assigned[int(room)] = relay
        keys[int(room)] = tuple(key.split(KEY_SEP)) if key else ()
    return Plan(meeting_id, t["root"], assigned, keys, t.get("parent", {}), t.get("backup", {}), epoch)


def meeting_rooms(meeting) -> list[RoomSpec]:
    """The invited rooms of a meeting (rooms.models.Meeting) as placement sees them: each keyed by its unit's codes
    below the host unit (its province in a national meeting; its district, then commune, in a province's). A room
    outside the host's subtree is keyed by its own unit's path from the top, so it still forms subtrees."""
    from confserver.rooms.models import PATH_SEP, Participation

    host = meeting.host_unit.path
    out = []
    for room_id, path in Participation.objects.filter(meeting=meeting).values_list("room_id", "room__unit__path"):
        key = tuple(c for c in (path[len(host) :] if path.startswith(host) else path).split(PATH_SEP) if c)
        out.append(RoomSpec(room_id, key))
    return out


_default: dict[int, tuple[asyncio.AbstractEventLoop, Plans]] = {}


def default() -> Plans:
    """This event loop's Plans on REDIS_URL."""
    loop = asyncio.get_running_loop()
    held = _default.get(id(loop))
    if held is None or held[0] is not loop:
        held = _default[id(loop)] = (loop, Plans(connect()))
    return held[1]


async def check_epoch(meeting_id: int, epoch: int | None) -> None:
    """Refuse (StaleEpoch, `stale_epoch`) a command carrying an epoch older than the meeting's stored plan.
    A command without an epoch, and any command without Redis (the embedded default has no plans), passes."""
    from django.conf import settings

    if epoch is None or not settings.REDIS_URL:
        return
    await default().check_epoch(meeting_id, epoch)

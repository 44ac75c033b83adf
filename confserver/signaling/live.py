"""Live meeting state shared by every server process: presence, hands, program, mutes.

Redis holds it when REDIS_URL is set (several daphne workers see one meeting);
the embedded default keeps it in this process. Both stores have the same
async interface so the domain layer (control.py) never knows which it has.
Durable facts (meeting state, roll call, timeline) live in the database.
"""

import asyncio
import json
import time
import weakref

from django.conf import settings

TTL_S = 24 * 3600  # live keys of a forgotten meeting expire by themselves

# The program: what every room watches.
LECTURE, FLOOR, BROADCAST = "lecture", "floor", "broadcast"


class MemoryStore:
    def __init__(self):
        self._m: dict[int, dict] = {}
        self._locks: dict[tuple[int, str], tuple[str, float]] = {}

    def _meeting(self, mid):
        return self._m.setdefault(mid, {"presence": {}, "queue": {}, "ctl": {}, "muted": set(), "waiting": {}})

    def _bump(self, mid):
        ctl = self._meeting(mid)["ctl"]
        ctl["rev"] = ctl.get("rev", 0) + 1

    async def presence_get(self, mid, room_id):
        info = self._meeting(mid)["presence"].get(room_id)
        return dict(info) if info else None

    async def presence_all(self, mid) -> dict[int, dict]:
        return {k: dict(v) for k, v in self._meeting(mid)["presence"].items()}

    async def presence_remove_if(self, mid, room_id, conn: str | None) -> bool:
        """Remove the room's presence if it still belongs to connection `conn` (None: any)."""
        p = self._meeting(mid)["presence"]
        if room_id in p and (conn is None or p[room_id].get("conn") == conn):
            del p[room_id]
            return True
        return False

    async def queue_add(self, mid, room_id) -> bool:
        q = self._meeting(mid)["queue"]
        if room_id in q:
            return False
        q[room_id] = time.time()
        self._bump(mid)
        return True

    async def queue_remove(self, mid, room_id) -> bool:
        gone = self._meeting(mid)["queue"].pop(room_id, None) is not None
        if gone:
            self._bump(mid)
        return gone

    async def queue_list(self, mid) -> list[int]:
        q = self._meeting(mid)["queue"]
        return sorted(q, key=lambda r: (q[r], r))

    async def ctl_get(self, mid) -> dict:
        return dict(self._meeting(mid)["ctl"])

    async def ctl_set(self, mid, **fields):
        self._meeting(mid)["ctl"].update(fields)
        self._bump(mid)

    async def muted_set(self, mid, room_id, muted: bool):
        s = self._meeting(mid)["muted"]
        (s.add if muted else s.discard)(room_id)
        self._bump(mid)

    async def muted_all(self, mid) -> set[int]:
        return set(self._meeting(mid)["muted"])

    async def view(self, mid, *, presence: bool) -> dict:
        """ctl, muted, queue (and presence when asked) in one go."""
        out = {"ctl": await self.ctl_get(mid), "muted": await self.muted_all(mid), "queue": await self.queue_list(mid)}
        if presence:
            out["presence"] = await self.presence_all(mid)
        return out

    async def join(self, mid, room_id, info: dict, *, role: str, refuse: dict[str, list[str]]) -> dict:
        m = self._meeting(mid)
        state = m["ctl"].get("state")
        if state is None:
            return {"status": "no_state"}
        if state in refuse.get(role, ()):
            return {"status": "refused", "state": state}
        if role == "room" and room_id in dropped_of(m["ctl"]):
            return {"status": "dropped", "state": state}
        old = m["presence"].get(room_id)
        m["presence"][room_id] = dict(info)
        if role == "chair":
            m["ctl"]["chair_room"] = room_id
        view = await self.view(mid, presence=role == "chair")
        return {"status": "ok", "state": state, "old": dict(old) if old else None} | view

    async def detach_if(self, mid, room_id, conn: str, at: float) -> bool:
        info = self._meeting(mid)["presence"].get(room_id)
        if not info or info.get("conn") != conn:
            return False
        info["detached"] = at
        return True

    async def clear(self, mid):
        self._m.pop(mid, None)

    # ---- admission (admission.py): rooms the chair dropped, rooms waiting to come in

    async def dropped_change(self, mid, room_id, dropped: bool) -> bool:
        ctl = self._meeting(mid)["ctl"]
        rooms = dropped_of(ctl)
        if (room_id in rooms) == dropped:
            return False
        ctl["dropped"] = sorted(rooms | {room_id} if dropped else rooms - {room_id})
        self._bump(mid)
        return True

    async def waiting_put(self, mid, room_id, info: dict):
        self._meeting(mid)["waiting"][room_id] = dict(info)

    async def waiting_remove_if(self, mid, room_id, conn: str) -> bool:
        w = self._meeting(mid)["waiting"]
        if room_id in w and w[room_id].get("conn") == conn:
            del w[room_id]
            return True
        return False

    async def waiting_all(self, mid) -> dict[int, dict]:
        return {k: dict(v) for k, v in self._meeting(mid)["waiting"].items()}

    # ---- recovery and sweeping (one process: its own heartbeat never stops, its store never empties)

    async def has_state(self, mid) -> bool:
        return "state" in self._meeting(mid)["ctl"]

    async def restore(self, mid, ctl: dict, muted, queue) -> bool:
        m = self._meeting(mid)
        if "state" in m["ctl"]:
            return False
        m["ctl"].update(ctl)
        m["muted"] |= set(muted)
        base = time.time() - len(queue)
        for i, room_id in enumerate(queue):
            m["queue"].setdefault(room_id, base + i)
        return True

    async def presence_put_if_absent(self, mid, room_id, info: dict) -> bool:
        p = self._meeting(mid)["presence"]
        if room_id in p:
            return False
        p[room_id] = dict(info)
        return True

    async def reassert(self, mid, room_id, info: dict) -> str | None:
        m = self._meeting(mid)
        if "state" not in m["ctl"]:
            return None
        cur = m["presence"].get(room_id)
        if cur is None:
            m["presence"][room_id] = dict(info)
            return "added"
        if cur.get("conn") == info["conn"] and cur.get("detached") is not None:
            del cur["detached"]
            return "undropped"
        return None

    async def heartbeat(self, worker: str, ttl: float) -> str:
        return "memory"

    async def alive(self, workers) -> set[str]:
        return set(workers)

    async def meetings(self) -> list[int]:
        return [mid for mid, m in self._m.items() if m["presence"]]

    async def sweep_lock(self, mid, ttl: float) -> bool:
        return True

    async def forget_if_empty(self, mid):
        pass

    async def try_lock(self, mid, name: str, ttl: float) -> str | None:
        """Take the meeting's lock `name` for at most `ttl` seconds; a token to unlock with, or None if held."""
        import secrets

        locks = self._locks
        held = locks.get((mid, name))
        if held is not None and held[1] > time.monotonic():
            return None
        token = secrets.token_hex(8)
        locks[(mid, name)] = (token, time.monotonic() + ttl)
        return token

    async def unlock(self, mid, name: str, token: str):
        locks = self._locks
        if locks.get((mid, name), (None,))[0] == token:
            del locks[(mid, name)]


class RedisStore:
    # Compare-and-delete: a stale grace timer must not remove a newer connection's presence.
    _REMOVE_IF = """
    local v = redis.call('HGET', KEYS[1], ARGV[1])
    if not v then return 0 end
    if ARGV[2] ~= '' and cjson.decode(v)['conn'] ~= ARGV[2] then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[1])
    return 1
    """

    # A join in one round trip: refuse by meeting state (or ask for it), take the room's
    # place, and read back what the joiner's snapshot needs.
    # KEYS presence, ctl, muted, queue, meetings set, meeting id;
    # ARGV room, info, role, ttl, chair-room value, refused states...
    _JOIN = """
    local state = redis.call('HGET', KEYS[2], 'state')
    if not state then return {'no_state'} end
    for i = 6, #ARGV do
        if state == ARGV[i] then return {'refused', state} end
    end
    if ARGV[3] == 'room' then
        local dropped = redis.call('HGET', KEYS[2], 'dropped')
        if dropped then
            local room = tonumber(ARGV[1])
            for _, r in ipairs(cjson.decode(dropped)) do
                if r == room then return {'dropped', state} end
            end
        end
    end
    local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('SADD', KEYS[5], KEYS[6])
    local presence = {}
    if ARGV[3] == 'chair' then
        redis.call('HSET', KEYS[2], 'chair_room', ARGV[5])
        redis.call('EXPIRE', KEYS[2], ARGV[4])
        presence = redis.call('HGETALL', KEYS[1])
    end
    return {'ok', state, old, redis.call('HGETALL', KEYS[2]), redis.call('SMEMBERS', KEYS[3]),
            redis.call('ZRANGE', KEYS[4], 0, -1), presence}
    """
    # Mark a room's presence as detached if it still belongs to connection ARGV[2].
    _DETACH_IF = """
    local v = redis.call('HGET', KEYS[1], ARGV[1])
    if not v then return 0 end
    local info = cjson.decode(v)
    if info['conn'] ~= ARGV[2] then return 0 end
    info['detached'] = tonumber(ARGV[3])
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(info))
    return 1
    """

    # Put back what the database kept, unless the meeting is live here already (KEYS ctl, muted,
    # queue; ARGV ctl as JSON, muted as JSON, queue as JSON, ttl).
    _RESTORE = """
    if redis.call('HEXISTS', KEYS[1], 'state') == 1 then return 0 end
    for k, v in pairs(cjson.decode(ARGV[1])) do redis.call('HSET', KEYS[1], k, cjson.encode(v)) end
    for _, r in ipairs(cjson.decode(ARGV[2])) do redis.call('SADD', KEYS[2], tostring(r)) end
    local t = redis.call('TIME')
    local base = tonumber(t[1]) - 100000
    for i, r in ipairs(cjson.decode(ARGV[3])) do redis.call('ZADD', KEYS[3], 'NX', base + i, tostring(r)) end
    for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
    return 1
    """
    # A place this worker's live connection holds: clear `detached` if the connection is ARGV[2]'s,
    # put the place back if it is missing (KEYS presence, ctl, meetings set; ARGV room, info, ttl, meeting id).
    _REASSERT = """
    if redis.call('HEXISTS', KEYS[2], 'state') == 0 then return 0 end
    local v = redis.call('HGET', KEYS[1], ARGV[1])
    if not v then
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('EXPIRE', KEYS[1], ARGV[3])
        redis.call('SADD', KEYS[3], ARGV[4])
        return 2
    end
    local info = cjson.decode(v)
    if info['conn'] ~= cjson.decode(ARGV[2])['conn'] or info['detached'] == nil then return 0 end
    info['detached'] = nil
    redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(info))
    return 1
    """
    # Add to (ARGV[3] '1') or remove from the queue KEYS[1]; bump KEYS[2]'s rev only if that changed it.
    _QUEUE_CHANGE = """
    local n
    if ARGV[3] == '1' then
        n = redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[1])
        redis.call('EXPIRE', KEYS[1], ARGV[2])
    else
        n = redis.call('ZREM', KEYS[1], ARGV[1])
    end
    if n > 0 then
        redis.call('HINCRBY', KEYS[2], 'rev', 1)
        redis.call('EXPIRE', KEYS[2], ARGV[2])
    end
    return n
    """
    _FORGET_IF_EMPTY = """
    if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
    return 0
    """
    # Add (ARGV[2] '1') or remove room ARGV[1] in the ctl hash KEYS[1]'s `dropped` list; 1 if that changed it.
    _DROPPED_CHANGE = """
    local v = redis.call('HGET', KEYS[1], 'dropped')
    local room = tonumber(ARGV[1])
    local out, found = {}, false
    if v then
        for _, r in ipairs(cjson.decode(v)) do
            if r == room then found = true else table.insert(out, r) end
        end
    end
    if ARGV[2] == '1' then
        if found then return 0 end
        table.insert(out, room)
    elseif not found then
        return 0
    end
    local enc = '[]'
    if #out > 0 then enc = cjson.encode(out) end
    redis.call('HSET', KEYS[1], 'dropped', enc)
    redis.call('HINCRBY', KEYS[1], 'rev', 1)
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1
    """
    _UNLOCK = """
    if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
    return 0
    """

    _SCRIPTS = {
        "_remove_if": "_REMOVE_IF",
        "_join": "_JOIN",
        "_detach_if": "_DETACH_IF",
        "_restore": "_RESTORE",
        "_forget_if_empty": "_FORGET_IF_EMPTY",
        "_reassert": "_REASSERT",
        "_queue_change": "_QUEUE_CHANGE",
        "_unlock": "_UNLOCK",
        "_dropped_change": "_DROPPED_CHANGE",
    }

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix
        # One client (pool and scripts) per event loop: a pooled connection belongs to the loop that opened it,
        # and synchronous callers (the HTTP API's tell_sync, management commands) run each call on a loop of its
        # own — reusing the first loop's connections there failed with "Event loop is closed".
        self._bound: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple] = weakref.WeakKeyDictionary()

    def _client(self) -> tuple:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError, TimeoutError

        loop = asyncio.get_running_loop()
        bound = self._bound.get(loop)
        if bound is None:
            # A blocking pool: a burst of joins waits for a connection instead of failing. A connection
            # that a Redis restart closed is retried on a fresh one instead of failing the action.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                decode_responses=True,
                max_connections=64,
                timeout=20,
                socket_connect_timeout=1,
                socket_timeout=2,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 4),
                retry_on_error=[ConnectionError, TimeoutError],
            )
            r = aioredis.Redis(connection_pool=pool)
            bound = self._bound[loop] = (
                r,
                {name: r.register_script(getattr(self, source)) for name, source in self._SCRIPTS.items()},
            )
        return bound

    @property
    def r(self):
        return self._client()[0]

    def __getattr__(self, name):
        if name in RedisStore._SCRIPTS:
            return self._client()[1][name]
        raise AttributeError(name)

    def _k(self, mid, name):
        return f"{self.prefix}:live:{mid}:{name}"

    def _g(self, name):
        return f"{self.prefix}:live:{name}"

    async def presence_get(self, mid, room_id):
        v = await self.r.hget(self._k(mid, "presence"), str(room_id))
        return json.loads(v) if v else None

    async def presence_all(self, mid):
        raw = await self.r.hgetall(self._k(mid, "presence"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    async def presence_remove_if(self, mid, room_id, conn):
        return bool(await self._remove_if(keys=[self._k(mid, "presence")], args=[str(room_id), conn or ""]))

    # Every change of the durable part bumps the ctl hash's `rev` in the same transaction, so the
    # database copy (durable.py) keeps the newest of concurrent writers.
    def _bump(self, p, mid):
        p.hincrby(self._k(mid, "ctl"), "rev", 1)
        p.expire(self._k(mid, "ctl"), TTL_S)

    async def queue_add(self, mid, room_id):
        return bool(
            await self._queue_change(
                keys=[self._k(mid, "queue"), self._k(mid, "ctl")], args=[str(room_id), TTL_S, "1", repr(time.time())]
            )
        )

    async def queue_remove(self, mid, room_id):
        return bool(
            await self._queue_change(
                keys=[self._k(mid, "queue"), self._k(mid, "ctl")], args=[str(room_id), TTL_S, "0", "0"]
            )
        )

    async def queue_list(self, mid):
        return [int(x) for x in await self.r.zrange(self._k(mid, "queue"), 0, -1)]

    async def ctl_get(self, mid):
        raw = await self.r.hgetall(self._k(mid, "ctl"))
        return {k: json.loads(v) for k, v in raw.items()}

    async def ctl_set(self, mid, **fields):
        k = self._k(mid, "ctl")
        async with self.r.pipeline(transaction=True) as p:
            p.hset(k, mapping={f: json.dumps(v) for f, v in fields.items()})
            self._bump(p, mid)
            await p.execute()

    async def muted_set(self, mid, room_id, muted):
        k = self._k(mid, "muted")
        async with self.r.pipeline(transaction=True) as p:
            if muted:
                p.sadd(k, str(room_id))
                p.expire(k, TTL_S)
            else:
                p.srem(k, str(room_id))
            self._bump(p, mid)
            await p.execute()

    async def muted_all(self, mid):
        return {int(x) for x in await self.r.smembers(self._k(mid, "muted"))}

    async def view(self, mid, *, presence: bool) -> dict:
        """ctl, muted, queue (and presence when asked) in one round trip, as of one moment."""
        async with self.r.pipeline(transaction=True) as p:
            p.hgetall(self._k(mid, "ctl"))
            p.smembers(self._k(mid, "muted"))
            p.zrange(self._k(mid, "queue"), 0, -1)
            if presence:
                p.hgetall(self._k(mid, "presence"))
            res = await p.execute()
        return _decode_view(res[0], res[1], res[2], res[3] if presence else None)

    async def join(self, mid, room_id, info, *, role, refuse):
        """Take the room's place unless the meeting's state refuses this role; returns the status
        ('ok', 'refused' or 'no_state' when the state is not cached yet), the state, the place's
        previous holder and the view (with presence for the chair) — one round trip."""
        keys = [self._k(mid, n) for n in ("presence", "ctl", "muted", "queue")] + [self._g("meetings"), str(mid)]
        res = await self._join(
            keys=keys,
            args=[
                str(room_id),
                json.dumps(info),
                role,
                TTL_S,
                json.dumps(room_id),
                *(json.dumps(s) for s in refuse.get(role, ())),
            ],
        )
        if res[0] == "no_state":
            return {"status": "no_state"}
        if res[0] in ("refused", "dropped"):
            return {"status": res[0], "state": json.loads(res[1])}
        view = _decode_view(_pairs(res[3]), res[4], res[5], _pairs(res[6]) if role == "chair" else None)
        return {"status": "ok", "state": json.loads(res[1]), "old": json.loads(res[2]) if res[2] else None} | view

    async def detach_if(self, mid, room_id, conn, at):
        return bool(await self._detach_if(keys=[self._k(mid, "presence")], args=[str(room_id), conn, repr(at)]))

    async def clear(self, mid):
        await self.r.delete(*(self._k(mid, n) for n in ("presence", "queue", "ctl", "muted", "waiting")))
        await self.r.srem(self._g("meetings"), str(mid))

    # ---- admission (admission.py): rooms the chair dropped, rooms waiting to come in

    async def dropped_change(self, mid, room_id, dropped: bool) -> bool:
        """Keep the room out (or let it back in); False if it was so already. Bumps `rev` (written through)."""
        return bool(
            await self._dropped_change(keys=[self._k(mid, "ctl")], args=[str(room_id), "1" if dropped else "0", TTL_S])
        )

    async def waiting_put(self, mid, room_id, info: dict):
        async with self.r.pipeline(transaction=True) as p:
            p.hset(self._k(mid, "waiting"), str(room_id), json.dumps(info))
            p.expire(self._k(mid, "waiting"), TTL_S)
            await p.execute()

    async def waiting_remove_if(self, mid, room_id, conn: str) -> bool:
        """Forget the room's waiting connection if it is still `conn` (compare-and-delete, as presence)."""
        return bool(await self._remove_if(keys=[self._k(mid, "waiting")], args=[str(room_id), conn]))

    async def waiting_all(self, mid) -> dict[int, dict]:
        raw = await self.r.hgetall(self._k(mid, "waiting"))
        return {int(k): json.loads(v) for k, v in raw.items()}

    # ---- recovery and sweeping --------------------------------------------------

    async def has_state(self, mid) -> bool:
        return bool(await self.r.hexists(self._k(mid, "ctl"), "state"))

    async def restore(self, mid, ctl: dict, muted, queue) -> bool:
        """Put the meeting's durable state back unless it is live here already; True if it was put."""
        keys = [self._k(mid, n) for n in ("ctl", "muted", "queue")]
        return bool(
            await self._restore(
                keys=keys, args=[json.dumps(ctl), json.dumps(list(muted)), json.dumps(list(queue)), TTL_S]
            )
        )

    async def presence_put_if_absent(self, mid, room_id, info: dict) -> bool:
        async with self.r.pipeline(transaction=True) as p:
            p.hsetnx(self._k(mid, "presence"), str(room_id), json.dumps(info))
            p.expire(self._k(mid, "presence"), TTL_S)
            p.sadd(self._g("meetings"), str(mid))
            res = await p.execute()
        return bool(res[0])

    async def reassert(self, mid, room_id, info: dict) -> str | None:
        """This worker's live connection holds the room's place: undo a drop, put back a lost place.
        Returns "added" (the place was missing), "undropped" (its `detached` was cleared) or None."""
        keys = [self._k(mid, "presence"), self._k(mid, "ctl"), self._g("meetings")]
        got = int(await self._reassert(keys=keys, args=[str(room_id), json.dumps(info), TTL_S, str(mid)]))
        return {2: "added", 1: "undropped"}.get(got)

    async def heartbeat(self, worker: str, ttl: float) -> str:
        """Say this worker is alive for `ttl` seconds; returns the store's epoch, which changes
        when the store lost its keys (a Redis restart without persistence)."""
        import secrets

        async with self.r.pipeline(transaction=True) as p:
            p.set(self._g(f"worker:{worker}"), "1", px=int(ttl * 1000))
            p.set(self._g("epoch"), secrets.token_hex(8), nx=True)
            p.get(self._g("epoch"))
            res = await p.execute()
        return res[2]

    async def alive(self, workers) -> set[str]:
        workers = list(workers)
        async with self.r.pipeline(transaction=False) as p:
            for w in workers:
                p.exists(self._g(f"worker:{w}"))
            res = await p.execute()
        return {w for w, n in zip(workers, res) if n}

    async def meetings(self) -> list[int]:
        return [int(x) for x in await self.r.smembers(self._g("meetings"))]

    async def sweep_lock(self, mid, ttl: float) -> bool:
        """One worker sweeps a meeting per round."""
        return bool(await self.r.set(self._k(mid, "sweep"), "1", nx=True, px=max(1, int(ttl * 1000))))

    async def forget_if_empty(self, mid):
        await self._forget_if_empty(keys=[self._k(mid, "presence"), self._g("meetings")], args=[str(mid)])

    async def try_lock(self, mid, name: str, ttl: float) -> str | None:
        """Take the meeting's lock `name` (shared by every process) for at most `ttl` seconds; a token
        to unlock with, or None if another holder has it."""
        import secrets

        token = secrets.token_hex(8)
        got = await self.r.set(self._k(mid, f"lock:{name}"), token, nx=True, px=max(1, int(ttl * 1000)))
        return token if got else None

    async def unlock(self, mid, name: str, token: str):
        await self._unlock(keys=[self._k(mid, f"lock:{name}")], args=[token])


def dropped_of(ctl: dict) -> set[int]:
    """The rooms the chair dropped and has not let back, from a ctl hash (Lua writes an empty list as {})."""
    rooms = ctl.get("dropped")
    return {int(r) for r in rooms} if isinstance(rooms, list) else set()


def _pairs(flat: list) -> dict:
    """A hash as HGETALL returns it inside a Lua script: a flat list of fields and values."""
    return dict(zip(flat[::2], flat[1::2]))


def _decode_view(ctl: dict, muted, queue, presence: dict | None) -> dict:
    """The store's raw ctl hash, muted set, queue (and presence hash) as the domain layer reads them."""
    out = {
        "ctl": {k: json.loads(v) for k, v in ctl.items()},
        "muted": {int(x) for x in muted},
        "queue": [int(x) for x in queue],
    }
    if presence is not None:
        out["presence"] = {int(k): json.loads(v) for k, v in presence.items()}
    return out


_store = None


def get_store():
    """The process's store (one Redis client per process; created on first use), written through
    to the database (durable.py)."""
    global _store
    if _store is None:
        from .durable import DurableStore

        url = settings.REDIS_URL
        _store = DurableStore(RedisStore(url, settings.LIVE_PREFIX) if url else MemoryStore())
    return _store


def reset_store():
    """Forget the process's store (tests switch event loops and settings)."""
    global _store
    _store = None

"""The relay registry in Redis (issue 11): each relay process says who it is, how to reach it, its capacity, its
load and that it is alive; the monitor (monitor.py) reads it.

Keys (docs/cascade.md), under `<LIVE_PREFIX>:cascade:`:
  relay:<id>          hash: channel, address, capacity, peers, meetings, state (live/draining/dead), incarnation
  relays:beats        sorted set: relay id -> its last heartbeat (ms, Redis's own clock)
  relays:draining     set of relays being drained
  relays:restarted    set of relays whose id a new process took before the monitor saw the old one die
  relay:<id>:plans    hash: meeting id -> rooms that meeting's plan puts on it (written by plans.py)
  relay:<id>:joins    the joins token bucket
Death is seen by polling the heartbeats (a key-expiry event arrived 19-23 s late with 10,000 keys carrying a TTL);
every time is Redis's `TIME`, so the clocks of the relays' machines do not matter.
"""

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from confserver.tasks import cancel_requested

from .placement import DRAINING, LIVE, RelayInfo

log = logging.getLogger(__name__)

DEAD = "dead"

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS: hash, beats, restarted, draining; ARGV: id, incarnation, dead_after_ms, field, value, ...
_REGISTER = (
    _NOW
    + """
local cur = redis.call('HGET', KEYS[1], 'incarnation')
if cur and cur ~= ARGV[2] then
    local state = redis.call('HGET', KEYS[1], 'state')
    local beat = redis.call('ZSCORE', KEYS[2], ARGV[1])
    if state ~= 'dead' and beat and now - tonumber(beat) < tonumber(ARGV[3]) then return -1 end
    if state ~= 'dead' then redis.call('SADD', KEYS[3], ARGV[1]) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'incarnation', ARGV[2], 'state', 'live', 'registered_ms', now,
           'beat_ms', now, unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
return now
"""
)
# KEYS: hash, beats; ARGV: id, incarnation, peers, meetings
_BEAT = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'incarnation', 'state')
if h[1] ~= ARGV[2] or h[2] == 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'peers', ARGV[3], 'meetings', ARGV[4], 'beat_ms', now)
redis.call('ZADD', KEYS[2], now, ARGV[1])
return now
"""
)
# KEYS: hash, beats; ARGV: id, incarnation. A clean exit: the beat goes to 0, so the monitor moves what is
# left on it at its next poll instead of 1.5 s later.
_STOP = """
if redis.call('HGET', KEYS[1], 'incarnation') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'stopped', '1')
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""
# KEYS: beats; ARGV: dead_after_ms -> {now, dead ids..., '|', live ids...}
_SCAN = (
    _NOW
    + """
local out = {now}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))) do
    out[#out + 1] = id
end
out[#out + 1] = '|'
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')) do
    out[#out + 1] = id
end
return out
"""
)
# KEYS: beats; ARGV: dead_after_ms, hash key prefix -> {now, dead id, its incarnation ('' if none), ...}: the monitor
# reads who was dead in the same step as which process that was, so a process registering again in between is not
# the one it then marks dead
_SCAN_DEAD = (
    _NOW
    + """
local out = {now}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', ARGV[2] .. id, 'incarnation') or ''
end
return out
"""
)
# KEYS: hash, beats, draining, restarted; ARGV: id, incarnation seen dead ('' if its hash was gone)
_MARK_DEAD = """
local cur = redis.call('HGET', KEYS[1], 'incarnation')
if cur and cur ~= ARGV[2] then return 0 end
if cur then
    redis.call('HSET', KEYS[1], 'state', 'dead')
    redis.call('PEXPIRE', KEYS[1], 3600000)
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
"""
# KEYS: bucket; ARGV: rate per s, burst, n -> ms to wait before these joins (the tokens are taken now: callers
# queue behind each other instead of retrying)
_ADMIT = (
    _NOW
    + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000) - tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], 60000)
if tokens >= 0 then return 0 end
return math.ceil(-tokens * 1000 / rate)
"""
)


def prefix() -> str:
    return f"{settings.LIVE_PREFIX}:cascade"


def connect(url: str | None = None):
    """A Redis client for the control plane (redis.asyncio, as channels_redis uses)."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(
        url or settings.REDIS_URL, decode_responses=True, socket_timeout=2, socket_connect_timeout=1
    )


@dataclass
class RelayRecord:
    id: str
    channel: str
    address: str
    capacity: int
    peers: int
    meetings: int
    planned: int  # rooms the stored plans put on it
    state: str
    incarnation: str
    age_ms: int | None  # since its last heartbeat

    @property
    def load(self) -> int:
        """Rooms on it: those connected, or those planned when more (they are on their way)."""
        return max(self.peers, self.planned)

    def info(self) -> RelayInfo:
        return RelayInfo(self.id, self.capacity, self.load, self.state)


class Registry:
    def __init__(self, r, prefix_: str | None = None):
        self.r = r
        self.p = prefix_ or prefix()
        self._register = r.register_script(_REGISTER)
        self._beat = r.register_script(_BEAT)
        self._stop = r.register_script(_STOP)
        self._scan = r.register_script(_SCAN)
        self._scan_dead = r.register_script(_SCAN_DEAD)
        self._mark_dead = r.register_script(_MARK_DEAD)
        self._admit = r.register_script(_ADMIT)

    def hash(self, relay_id: str) -> str:
        return f"{self.p}:relay:{relay_id}"

    def plans_key(self, relay_id: str) -> str:
        return f"{self.p}:relay:{relay_id}:plans"

    @property
    def beats(self) -> str:
        return f"{self.p}:relays:beats"

    @property
    def draining(self) -> str:
        return f"{self.p}:relays:draining"

    @property
    def restarted(self) -> str:
        return f"{self.p}:relays:restarted"

    async def register(
        self, relay_id: str, incarnation: str, *, channel: str, address: str, capacity: int, dead_after_s: float
    ) -> bool:
        """Claim `relay_id` for this process; False while another live process holds it."""
        fields = [
            "channel",
            channel,
            "address",
            address,
            "capacity",
            str(capacity),
            "peers",
            "0",
            "meetings",
            "0",
            "host",
            socket.gethostname(),
            "pid",
            str(os.getpid()),
        ]
        now = await self._register(
            keys=[self.hash(relay_id), self.beats, self.restarted, self.draining],
            args=[relay_id, incarnation, int(dead_after_s * 1000), *fields],
        )
        return int(now) > 0

    async def beat(self, relay_id: str, incarnation: str, peers: int, meetings: int) -> bool:
        """One heartbeat with the load now; False when this process no longer holds the id (declared dead)."""
        return (
            int(await self._beat(keys=[self.hash(relay_id), self.beats], args=[relay_id, incarnation, peers, meetings]))
            > 0
        )

    async def stop(self, relay_id: str, incarnation: str) -> None:
        await self._stop(keys=[self.hash(relay_id), self.beats], args=[relay_id, incarnation])

    async def set_state(self, relay_id: str, state: str) -> bool:
        """live or draining (an operator's drain); False for an unknown relay."""
        if state not in (LIVE, DRAINING):
            raise ValueError(state)
        async with self.r.pipeline(transaction=True) as p:
            p.exists(self.hash(relay_id))
            p.hset(self.hash(relay_id), "state", state)
            (p.sadd if state == DRAINING else p.srem)(self.draining, relay_id)
            exists, *_ = await p.execute()
        if not exists:
            await self.r.delete(self.hash(relay_id))
            await self.r.srem(self.draining, relay_id)
        return bool(exists)

    async def scan(self, dead_after_s: float) -> tuple[int, list[str], list[str]]:
        """(Redis's now in ms, ids whose heartbeat is older than dead_after_s, ids alive)."""
        out = await self._scan(keys=[self.beats], args=[int(dead_after_s * 1000)])
        now, rest = int(out[0]), list(out[1:])
        cut = rest.index("|")
        return now, rest[:cut], rest[cut + 1 :]

    async def dead(self, dead_after_s: float) -> dict[str, str]:
        """Relays whose heartbeat is older than dead_after_s -> the incarnation that stopped beating (one script)."""
        out = await self._scan_dead(keys=[self.beats], args=[int(dead_after_s * 1000), f"{self.p}:relay:"])
        rest = list(out[1:])
        return dict(zip(rest[::2], rest[1::2]))

    async def records(self, ids: list[str], now_ms: int | None = None) -> list[RelayRecord]:
        async with self.r.pipeline(transaction=False) as p:
            for relay_id in ids:
                p.hgetall(self.hash(relay_id))
                p.hvals(self.plans_key(relay_id))
            raw = await p.execute()
        out = []
        for relay_id, h, planned in zip(ids, raw[::2], raw[1::2]):
            if not h:
                continue
            beat = int(h.get("beat_ms", 0))
            out.append(
                RelayRecord(
                    relay_id,
                    h.get("channel", relay_id),
                    h.get("address", ""),
                    int(h.get("capacity", 0)),
                    int(h.get("peers", 0)),
                    int(h.get("meetings", 0)),
                    sum(int(x) for x in planned),
                    h.get("state", LIVE),
                    h.get("incarnation", ""),
                    now_ms - beat if now_ms is not None else None,
                )
            )
        return out

    async def live(self, dead_after_s: float | None = None) -> list[RelayRecord]:
        """Relays whose heartbeat is fresh (live or draining; placement leaves draining ones out)."""
        now, _, alive = await self.scan(dead_after_s or settings.RELAY_DEAD_AFTER_S)
        return [r for r in await self.records(alive, now) if r.state != DEAD]

    async def mark_dead(self, relay_id: str, incarnation: str) -> bool:
        """After the monitor moved its rooms: out of the heartbeats, kept an hour for the operator's view."""
        return bool(
            await self._mark_dead(
                keys=[self.hash(relay_id), self.beats, self.draining, self.restarted], args=[relay_id, incarnation]
            )
        )

    async def admit_join(
        self, relay_id: str, n: int = 1, *, rate: float | None = None, burst: int | None = None
    ) -> float:
        """Seconds to wait before sending `n` rooms to this relay (joins per relay per second are capped:
        RELAY_JOIN_RATE, burst RELAY_JOIN_BURST); the tokens are taken, so just wait and go."""
        ms = await self._admit(
            keys=[f"{self.p}:relay:{relay_id}:joins"],
            args=[rate or settings.RELAY_JOIN_RATE, burst or settings.RELAY_JOIN_BURST, n],
        )
        return int(ms) / 1000


def new_incarnation() -> str:
    return secrets.token_hex(8)


async def keep_registered(
    registry: Registry,
    relay_id: str,
    *,
    channel: str,
    address: str,
    capacity: int,
    load: Callable[[], tuple[int, int]],
    stop: asyncio.Event,
    period_s: float | None = None,
    dead_after_s: float | None = None,
) -> None:
    """A relay process's heartbeat until `stop`: registers (waiting while a live process holds the id), beats
    every `period_s` with `load()` = (peers, meetings), registers again if declared dead, stops the beat on exit."""
    period = period_s or settings.RELAY_HEARTBEAT_S
    dead_after = dead_after_s or settings.RELAY_DEAD_AFTER_S
    incarnation = None
    failing = False
    try:
        while not stop.is_set():
            try:
                if incarnation is None:
                    candidate = new_incarnation()
                    if await registry.register(
                        relay_id,
                        candidate,
                        channel=channel,
                        address=address,
                        capacity=capacity,
                        dead_after_s=dead_after,
                    ):
                        incarnation = candidate
                        log.warning("relay %s registered (%s, capacity %d)", relay_id, address, capacity)
                    else:
                        log.warning("relay id %s is held by another live process; waiting", relay_id)
                else:
                    peers, meetings = load()
                    if not await registry.beat(relay_id, incarnation, peers, meetings):
                        log.warning("relay %s was declared dead; registering again", relay_id)
                        incarnation = None
                        continue
                failing = False
            except Exception as exc:  # Redis away: keep trying; the monitor will have moved the rooms meanwhile
                if cancel_requested():  # a cancel redis-py turned into its own error (confserver/tasks.py)
                    raise asyncio.CancelledError() from exc
                if not failing:
                    log.warning("relay heartbeat failed (%s)", exc)
                failing = True
            if cancel_requested():  # a cancel redis-py took in (confserver/tasks.py)
                raise asyncio.CancelledError()
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                pass
    finally:
        if incarnation is not None:
            try:
                await asyncio.wait_for(registry.stop(relay_id, incarnation), 2)
            except Exception:
                log.warning("relay %s could not say it stops", relay_id)

"""The relay monitor (issue 11): one acts at a time, holding a lease; it polls the heartbeats, and when a relay
dies, restarts or is set to draining it plans the meetings on it again (a new epoch) and publishes the moves.

Lease: `SET <prefix>:monitor <token> NX PX RELAY_MONITOR_LEASE_MS`, renewed every poll and given up only by its
holder (Lua compare-and-delete); another monitor takes over at most a lease and a poll after the holder stops.
Moves go to the channel layer group `relay-plan` as {"type": "relay.plan", "meeting_id", "epoch", "reason",
"moves": [{"room_id", "from", "to"}], "plan": tree}; telling the rooms is the signaling side's (`publish_moves`
is the hand-off point), which paces them with Registry.admit_join.
"""

import asyncio
import logging
import secrets

from django.conf import settings

from confserver.tasks import cancel_requested

from .placement import DRAINING, NoRelay, RoomSpec
from .placement import plan as make_plan
from .plans import PlanConflict, Plans
from .registry import Registry

log = logging.getLogger(__name__)

PLAN_GROUP = "relay-plan"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def publish_moves(layer, event: dict) -> None:
    """Hand a plan change to the signaling side: every worker in `relay-plan` gets it and tells its rooms that
    moved to build a new peer connection on their new relay (their backup, for a dead one)."""
    if layer is not None:
        await layer.group_send(PLAN_GROUP, event)


async def record_failover(event: dict) -> None:
    """The meeting's timeline says its rooms moved (kind `relay_failover`: the relays left, the rooms moved, why)."""
    if not event["moves"]:
        return
    from channels.db import database_sync_to_async

    def write():
        from confserver.rooms import timeline
        from confserver.rooms.models import Meeting, TimelineKind

        meeting = Meeting.objects.filter(pk=event["meeting_id"]).first()
        if meeting is not None:
            timeline.record(
                meeting,
                TimelineKind.RELAY_FAILOVER,
                relays=event["relays"],
                rooms=len(event["moves"]),
                reason=event["reason"],
                epoch=event["epoch"],
            )

    try:
        # database_sync_to_async, not sync_to_async: it hands the thread's connection back when done (a plain
        # sync_to_async left it checked out of the pool for as long as the executor's thread lived)
        await database_sync_to_async(write, thread_sensitive=False)()
    except Exception:  # the moves are published; a timeline that cannot be written does not stop them
        log.warning("meeting %s: recording the failover failed", event["meeting_id"], exc_info=True)


class Monitor:
    def __init__(
        self,
        r,
        layer=None,
        *,
        prefix_: str | None = None,
        token: str | None = None,
        lease_ms: int | None = None,
        poll_s: float | None = None,
        dead_after_s: float | None = None,
    ):
        self.r = r
        self.plans = Plans(r, prefix_)
        self.registry: Registry = self.plans.registry
        self.layer = layer
        self.token = token or secrets.token_hex(8)
        self.lease_ms = lease_ms or settings.RELAY_MONITOR_LEASE_MS
        self.poll_s = poll_s or settings.RELAY_MONITOR_POLL_S
        self.dead_after_s = dead_after_s or settings.RELAY_DEAD_AFTER_S
        self.lease_key = f"{self.plans.p}:monitor"
        self.holding = False
        self.events: list[dict] = []  # what this monitor published (the operator's log, tests)
        self._stuck: set[tuple[int, str]] = set()  # (meeting, relay) with nowhere to move yet
        self._writes: set[asyncio.Task] = set()  # timeline rows being written (record_failover)
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)

    # the lease

    async def hold(self) -> bool:
        """Take the lease or keep it; whether this monitor holds it now."""
        if self.holding:
            self.holding = bool(await self._renew(keys=[self.lease_key], args=[self.token, self.lease_ms]))
            if not self.holding:
                log.warning("monitor %s lost its lease", self.token)
        if not self.holding:
            self.holding = bool(await self.r.set(self.lease_key, self.token, nx=True, px=self.lease_ms))
            if self.holding:
                log.warning("monitor %s holds the lease", self.token)
        return self.holding

    async def release(self) -> None:
        if self.holding:
            await self._release(keys=[self.lease_key], args=[self.token])
            self.holding = False

    # the work

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop`; act only while holding the lease; give it up on the way out."""
        failing = False
        try:
            while not stop.is_set():
                try:
                    if await self.hold():
                        await self.step()
                    failing = False
                except Exception as exc:
                    if cancel_requested():  # see below
                        raise asyncio.CancelledError() from exc
                    if not failing:
                        log.warning("monitor step failed (%s)", exc, exc_info=True)
                    failing = True
                # A cancel that lands inside a Redis command is turned by redis-py into an error of its own, or
                # taken in (confserver/tasks.py): without this check the monitor outlived its task's cancel
                if cancel_requested():
                    raise asyncio.CancelledError()
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_s)
                except TimeoutError:
                    pass
        finally:
            try:
                await asyncio.wait_for(self.release(), 2)
            except Exception:
                pass

    async def step(self) -> list[dict]:
        """One poll: relays dead (heartbeat too old), restarted (their id taken by a new process) or draining
        lose their rooms; the meetings with rooms on them are planned again. Returns the events published."""
        dead = await self.registry.dead(self.dead_after_s)  # with the incarnation seen dead, read in the same script
        restarted = set(await self.r.smembers(self.registry.restarted))
        draining = set(await self.r.smembers(self.registry.draining))
        bad = (
            [(rid, "dead") for rid in dead]
            + [(rid, "restarted") for rid in sorted(restarted)]
            + [(rid, "draining") for rid in sorted(draining - set(dead))]
        )
        published = []
        for relay_id, reason in bad:
            handled = True
            for meeting_id in await self.plans.meetings_on(relay_id):
                if not await self.hold():
                    return published  # another monitor acts now
                try:
                    event = await self.replan(meeting_id, {relay_id}, reason)
                except NoRelay:
                    if (meeting_id, relay_id) not in self._stuck:  # said once, retried every poll
                        log.warning("meeting %s: no live relay to move to from %s", meeting_id, relay_id)
                        self._stuck.add((meeting_id, relay_id))
                    handled = False
                    continue
                if event is not None:
                    published.append(event)
            if not handled:
                continue
            if reason == "dead":
                await self.registry.mark_dead(relay_id, dead[relay_id])
                log.warning("relay %s is dead (no heartbeat for %.1f s)", relay_id, self.dead_after_s)
            elif reason == "restarted":
                await self.r.srem(self.registry.restarted, relay_id)
        return published

    async def replan(self, meeting_id: int, exclude: set[str], reason: str, *, attempts: int = 5) -> dict | None:
        """Plan a meeting again without `exclude`, store it (new epoch) and publish the moves."""
        for _ in range(attempts):
            current = await self.plans.load(meeting_id)
            if current is None:
                return None
            relays = [r.info() for r in await self.registry.live(self.dead_after_s)]
            rooms = [RoomSpec(room, current.keys.get(room, ())) for room in current.rooms]
            new = make_plan(meeting_id, rooms, relays, current, exclude=exclude, fill=settings.RELAY_FILL)
            tree = new.tree()
            try:
                epoch = await self.plans.save(new, current.epoch, tree)
            except PlanConflict:
                continue
            event = {
                "type": "relay.plan",
                "meeting_id": meeting_id,
                "epoch": epoch,
                "reason": reason,
                "relays": sorted(exclude),
                "moves": new.moves_from(current),
                "plan": tree,
            }
            self.events.append(event)
            await publish_moves(self.layer, event)
            # in the background: the next meeting's moves do not wait for the database
            task = asyncio.ensure_future(record_failover(event))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
            log.warning(
                "meeting %s: epoch %d, %d rooms moved off %s (%s)",
                meeting_id,
                epoch,
                len(event["moves"]),
                ",".join(sorted(exclude)),
                reason,
            )
            return event
        raise PlanConflict(f"meeting {meeting_id}: the plan kept changing")


async def drain(registry: Registry, relay_id: str, on: bool = True) -> bool:
    """An operator drains a relay (no new rooms; the monitor moves its rooms) or puts it back."""
    return await registry.set_state(relay_id, DRAINING if on else "live")

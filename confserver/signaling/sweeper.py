"""The sweeper: ends presence that no live worker vouches for (issue 9, #8).

A place whose worker stopped beating is marked dropped (as of when the worker
went quiet); a dropped place older than the grace period (and a heartbeat, so the
holding worker's own timer goes first) leaves, with every consequence of
control.leave. Every worker sweeps; a short lock lets one act per meeting and
round, and leave's compare-and-delete makes a second one harmless.
"""

import logging
import time

from channels.layers import get_channel_layer
from django.conf import settings

from . import control, heartbeat
from .live import get_store

log = logging.getLogger(__name__)

# Workers found without a heartbeat key, and when this process first found so: a worker counts
# as dead only once it has stayed missing for another worker TTL (a late beat is not a death).
_missing: dict[str, float] = {}


async def sweep() -> int:
    """One round over the meetings with presence; returns how many places were ended."""
    store = get_store()
    ended = 0
    for mid in await store.meetings():
        if not await store.sweep_lock(mid, 0.9 * settings.SIGNALING_HEARTBEAT_S):
            continue
        try:
            ended += await sweep_meeting(mid)
        except Exception:
            log.exception("sweeping meeting %s failed", mid)
    return ended


async def sweep_meeting(mid: int) -> int:
    from .consumers import tell

    store = get_store()
    presence = await store.presence_all(mid)
    if not presence:
        await store.forget_if_empty(mid)
        return 0
    now = time.time()
    workers = {p["worker"] for p in presence.values() if p.get("worker")}
    alive = await store.alive(workers)
    mono = time.monotonic()
    for w in workers:
        if w in alive:
            _missing.pop(w, None)
        else:
            _missing.setdefault(w, mono)
    ended = 0
    for room_id, info in presence.items():
        if info.get("detached") is None:
            w = info.get("worker")
            if w and w not in alive and mono - _missing[w] >= heartbeat.worker_ttl():
                await store.detach_if(mid, room_id, info["conn"], now - 2 * heartbeat.worker_ttl())
            continue
        if now - info["detached"] <= settings.SIGNALING_GRACE_S + settings.SIGNALING_HEARTBEAT_S:
            continue
        gone = control.Actor(
            user=None,
            meeting_id=mid,
            role=info.get("role", control.ROOM),
            room_id=room_id,
            room_name="",
            conn=info["conn"],
        )
        out = await control.leave(gone, reason="connection_lost")
        if out.events:
            ended += 1
            await tell(get_channel_layer(), mid, out)
    return ended

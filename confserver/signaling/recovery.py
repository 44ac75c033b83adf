"""After the live store lost its keys (a Redis restart): put back each meeting this worker
serves, from the database and from its own connections, and tell its clients to redraw once
events reach this worker again (issue 9, #9).

Events published while Redis was gone, or before this worker's subscriptions came back, are
lost to its clients: the `resync` that follows makes them take a fresh snapshot instead.
"""
import asyncio
import logging
import time

from . import durable, sessions
from .live import get_store

log = logging.getLogger(__name__)

RESYNC = {"event": "resync"}
PROBE_FOR_S = 10.0


async def recover():
    from .presence import LOCAL, info_of

    store = get_store()
    held: dict[int, list] = {mid: [] for mid in sessions._hubs}
    for h in list(LOCAL.values()):
        held.setdefault(h.actor.meeting_id, []).append(h)
    for mid, helds in held.items():
        await durable.restore(mid, store.raw)
        # A room's live connection first: a stale entry of the same room (the old connection of a
        # resumed room, a dropped one in its grace period) must not take the place from it.
        live = {h.actor.room_id for h in helds if h.detached is None and not (h.task and h.task.done())}
        for h in sorted(helds, key=lambda h: h.detached is not None):
            a = h.actor
            if h.detached is not None and a.room_id in live:
                continue
            info = info_of(a) | ({"detached": h.detached} if h.detached is not None else {})
            await store.presence_put_if_absent(mid, a.room_id, info)
            if a.is_chair and h.detached is None and (await store.ctl_get(mid)).get("chair_room") != a.room_id:
                await store.ctl_set(mid, chair_room=a.room_id)  # the chair's join did not write it through
        log.warning("meeting %s: live state back; %d places of this worker registered again", mid, len(helds))
        hub = sessions._hubs.get(mid)
        if hub is None:
            continue
        end = time.monotonic() + PROBE_FOR_S
        while not await hub.probe() and time.monotonic() < end:
            await asyncio.sleep(0.1)
        hub.deliver_local(dict(RESYNC))

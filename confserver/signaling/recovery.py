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

# The meetings recovered for the store's current epoch: a round that failed for some retries only those.
_done: tuple[str | None, set[int]] = (None, set())


async def recover(epoch: str | None = None) -> bool:
    """Put back every meeting this worker serves; True once all of them are back for `epoch`."""
    global _done
    from .presence import LOCAL

    if _done[0] != epoch:
        _done = (epoch, set())
    held: dict[int, list] = {mid: [] for mid in sessions._hubs}
    for h in list(LOCAL.values()):
        held.setdefault(h.actor.meeting_id, []).append(h)
    ok, back = True, []
    for mid, helds in held.items():
        if mid in _done[1]:
            continue
        try:
            await _recover_meeting(mid, helds)
        except Exception:
            ok = False
            log.exception("meeting %s: recovery failed; retried next round", mid)
            continue
        _done[1].add(mid)
        back.append(mid)
    await resync(back)
    return ok


async def _recover_meeting(mid: int, helds: list):
    from .presence import info_of

    store = get_store()
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


async def resync(mids=None):
    """Once events reach this worker again, tell the clients of the meetings `mids` (None: all it
    serves) to take a fresh snapshot: what was published meanwhile is lost to them."""
    async def one(hub):
        end = time.monotonic() + PROBE_FOR_S
        while not await hub.probe() and time.monotonic() < end:
            await asyncio.sleep(0.1)
        hub.deliver_local(dict(RESYNC))

    hubs = [h for mid, h in list(sessions._hubs.items()) if mids is None or mid in mids]
    await asyncio.gather(*(one(h) for h in hubs))

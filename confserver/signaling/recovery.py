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
    if back:
        task = asyncio.ensure_future(_settle_later(back))
        SETTLING.add(task)
        task.add_done_callback(SETTLING.discard)
    await resync(back)
    return ok


# The settle rounds scheduled by recoveries (tests wait for them).
SETTLING: set[asyncio.Task] = set()


async def _settle_later(mids):
    """Once the rooms still connected somewhere have had a grace period to take their places
    back, settle each recovered meeting."""
    from django.conf import settings

    await asyncio.sleep(settings.SIGNALING_GRACE_S)
    for mid in mids:
        try:
            await settle(mid)
        except Exception:
            log.exception("meeting %s: settling after recovery failed", mid)


async def settle(mid: int):
    """The queue and the floor came back from the database; rooms that left while the store was
    away may still be queued or hold the floor: unqueue them and return to the lecture, as their
    leave would have (events, write-through, timeline)."""
    from channels.layers import get_channel_layer

    from confserver.rooms import timeline
    from confserver.rooms.models import Meeting

    from .consumers import tell
    from .control import LECTURE, Outcome, _queue_event, _room_ref, _set_program, db

    store = get_store()
    if not await store.raw.has_state(mid):
        return  # ended (or lost again) meanwhile: nothing to settle, nothing to bring back
    present = set(await store.presence_all(mid))
    out, gone = Outcome(), set()
    for room_id in await store.queue_list(mid):
        if room_id not in present and await store.queue_remove(mid, room_id):
            gone.add(room_id)
    if gone:
        out.events.append(await _queue_event(mid))
    ctl = await store.ctl_get(mid)
    holder = ctl.get("floor_room") or ctl.get("source_room")
    if holder is not None and int(holder) not in present:
        out.events += await _set_program(mid, LECTURE, None)
        gone.add(int(holder))
    for room_id in sorted(gone):
        await db(timeline.record)(
            Meeting(pk=mid), "leave", actor=None, room=_room_ref(room_id), reason="gone_during_outage"
        )
    if out.events:
        log.warning("meeting %s: %d rooms gone during the outage unqueued or off the floor", mid, len(gone))
        await tell(get_channel_layer(), mid, out)


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

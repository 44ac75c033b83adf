"""Which relay a call goes to when MEDIA_CASCADE is on (issue 11, item 4): the one the meeting's plan names.

The plan is made when the first room of a meeting opens its media (all its invited rooms, `plans.meeting_rooms`,
placed at once), a room not in it is placed by the join rule (`Plans.place`), and every call carries the plan's
epoch, so a relay refuses a call made from an older plan (`stale_epoch`). No Redis, no live relay, or no plan
(for a call that does not open a peer): None, and remote.py keeps today's CRC choice.
"""

import logging

from channels.db import database_sync_to_async
from django.conf import settings

from . import plans
from .placement import NoRelay
from .placement import plan as make_plan

log = logging.getLogger(__name__)


def enabled() -> bool:
    return bool(settings.MEDIA_CASCADE and settings.REDIS_URL)


async def _current(ps: plans.Plans, meeting_id: int):
    """The meeting's plan as last read, read again when its epoch changed."""
    epoch = await ps.epoch(meeting_id)
    cached = ps._cache.get(meeting_id)
    if cached is not None and cached.epoch == epoch:
        return cached
    return await ps.load(meeting_id)


async def _first_plan(ps: plans.Plans, meeting_id: int) -> None:
    """The meeting's first room opens its media: place all its invited rooms now (epoch 1)."""
    from confserver.rooms.models import Meeting

    def rooms():
        return plans.meeting_rooms(Meeting.objects.select_related("host_unit").get(pk=meeting_id))

    specs = await database_sync_to_async(rooms, thread_sensitive=False)()  # returns its connection
    relays = [r.info() for r in await ps.registry.live()]
    if not relays or not specs:
        return
    try:
        await ps.save(make_plan(meeting_id, specs, relays, fill=settings.RELAY_FILL), 0)
    except plans.PlanConflict:  # another worker planned it meanwhile: use theirs
        pass


async def room(meeting_id: int, room_id: int, *, place: bool = False) -> tuple[str, int] | None:
    """(relay channel, epoch) for a room's call; with `place` (open_peer) the meeting is planned, or the room
    placed, when it is not yet."""
    ps = plans.default()
    try:
        if place and await ps.epoch(meeting_id) == 0:
            await _first_plan(ps, meeting_id)
        relay = await ps.relay_of(meeting_id, room_id)
        if relay is None and place:
            relay = await ps.place(meeting_id, plans.RoomSpec(room_id, ()))
        if relay is None:
            return None
        return relay, await ps.epoch(meeting_id)
    except NoRelay:
        log.warning("meeting %s: no live relay in the registry; the CRC choice", meeting_id)
        return None


async def meeting(meeting_id: int) -> tuple[list[str], str, int] | None:
    """(every relay of the meeting's plan, its root, epoch) for a meeting-wide call; None without a plan."""
    current = await _current(plans.default(), meeting_id)
    if current is None:
        return None
    return sorted(current.relays()), current.root, current.epoch


async def ended(meeting_id: int) -> None:
    """The meeting ended: its plan goes (the relays' loads with it), its epoch stays for fencing (Plans.drop)."""
    await plans.default().drop(meeting_id)

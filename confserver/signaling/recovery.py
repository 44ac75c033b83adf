"""After the live store lost its keys (a Redis restart): put back each meeting this worker
serves, from the database and from its own connections, and tell clients to redraw (issue 9, #9)."""
import logging

from channels.layers import get_channel_layer

from . import durable
from .live import get_store

log = logging.getLogger(__name__)

RESYNC = {"event": "resync"}


async def recover():
    from .consumers import tell
    from .control import Outcome
    from .presence import LOCAL, info_of

    store = get_store()
    meetings: dict[int, list] = {}
    for held in list(LOCAL.values()):
        meetings.setdefault(held.actor.meeting_id, []).append(held)
    for mid, helds in meetings.items():
        await durable.restore(mid, store.raw)
        for held in helds:
            a = held.actor
            info = info_of(a) | ({"detached": held.detached} if held.detached is not None else {})
            await store.presence_put_if_absent(mid, a.room_id, info)
        log.warning("meeting %s: %d places of this worker registered again", mid, len(helds))
        await tell(get_channel_layer(), mid, Outcome(events=[dict(RESYNC)]))

"""A room's tier moved by the relay's loop (issue 15, media/tiers.py): that room is told, so that its page says
what of the program it receives and why ("the room page says when it is on audio only and why"), as it is told
when the chair pins it (control.pin_tier). The same `tier` event, sent to the room's connection alone and
numbered like its other notifications (a resumed session gets it replayed); the other rooms have no use for it,
and the chair's console reads every room's tier from the quality stats. Called in whichever process runs the
relay (the embedded default, or a relay process: Django and the channel layer, no consumer)."""

from channels.layers import get_channel_layer

from .control import Outcome
from .live import get_store


def tier_event(room_id: int, tier: str, reason: str) -> dict:
    return {"event": "tier", "room_id": room_id, "tier": tier, "reason": reason}


async def tell_room(meeting_id: int, room_id: int, tier: str, reason: str) -> bool:
    """Send the room's connection its new tier; False when the room has no connection now (it is told at its
    next move; a room that reconnects its media starts afresh at the full tier)."""
    from .consumers import tell

    info = await get_store().presence_get(meeting_id, room_id)
    conn = (info or {}).get("conn")
    if not conn:
        return False
    message = {"type": "meeting.notify", "event": tier_event(room_id, tier, reason)}
    await tell(get_channel_layer(), meeting_id, Outcome(direct=[(conn, message)]))
    return True

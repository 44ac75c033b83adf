"""Rooms whose links the chair revoked leave the meeting at once (rooms/tokens.py revokes)."""

from . import control
from .live import get_store


async def cut_rooms(meeting_id: int, room_ids: list[int]) -> control.Outcome:
    """Close the live connection of each room (not the chair's console) and take it out of the meeting."""
    out = control.Outcome()
    store = get_store()
    for room_id in room_ids:
        info = await store.presence_get(meeting_id, room_id)
        if not info or info.get("role") != control.ROOM or not info.get("conn"):
            continue
        left = await control.cut(meeting_id, room_id, info["conn"], reason="token_revoked")
        out.events += left.events
        out.direct += left.direct
    return out

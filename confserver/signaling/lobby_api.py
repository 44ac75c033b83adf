"""The room page's lobby, before joining: which room the link is for, and whether the chair keeps it out
(issue 12, item 11). GET /api/meetings/{id}/lobby with the room's token; mounted in confserver/api.py."""

from datetime import datetime

from ninja import Router, Schema

from confserver.errors import Forbidden
from confserver.rooms import meetings, policy
from confserver.rooms.schemas import ErrorOut

from .models import LiveState

router = Router(tags=["meetings"])
ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class LobbyOut(Schema):
    meeting_id: int
    title: str
    state: str
    host_unit_name: str
    scheduled_start: datetime
    test_run_at: datetime | None
    room_id: int
    room_name: str
    unit_name: str
    dropped: bool  # the chair dropped this room and has not let it back ("Cho vào lại")


@router.get("/{meeting_id}/lobby", response={200: LobbyOut, **ERRORS})
def lobby(request, meeting_id: int):
    """The meeting and the room the caller's link is for (a room terminal's token; the chair side has no lobby)."""
    user = request.auth
    if getattr(user, "room_token", None) is None:
        raise Forbidden("room_only", "Thao tác này dành cho phòng họp.")
    m = meetings.get_meeting(meeting_id)
    part = policy.check_terminal_can_join(user, m)
    # The live state's database copy: written through on every drop and let-back (durable.py), read without Redis.
    dropped = LiveState.objects.filter(meeting_id=m.id).values_list("dropped", flat=True).first() or []
    return LobbyOut(
        meeting_id=m.id,
        title=m.title,
        state=m.state,
        host_unit_name=m.host_unit.name,
        scheduled_start=m.scheduled_start,
        test_run_at=m.test_run_at,
        room_id=part.room_id,
        room_name=part.room.name,
        unit_name=part.room.unit.name,
        dropped=part.room_id in dropped,
    )

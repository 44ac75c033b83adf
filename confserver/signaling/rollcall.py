"""Roll call (điểm danh) on the socket: the chair starts and ends it, rooms answer, the chair marks a room.

A room's mark goes to the chair and to that room only (an absence reason is for the chair)."""

from django.utils import timezone

from confserver.errors import Conflict
from confserver.rooms import meetings, timeline
from confserver.rooms.models import Meeting, Participation, RollCall

from .control import CHAIR, TO, Actor, Outcome, _chair_only, _check_active, _room_only, _room_ref, db, forget_rooms
from .live import get_store


async def roll_call_start(actor: Actor) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    store = get_store()
    if (await store.ctl_get(actor.meeting_id)).get("roll_call"):
        raise Conflict("roll_call_active", "Đang điểm danh.")
    await store.ctl_set(actor.meeting_id, roll_call=True)
    await db(timeline.record)(Meeting(pk=actor.meeting_id), "roll_call_start", actor=actor.user)
    return Outcome(events=[{"event": "roll_call", "active": True}])


async def roll_call_end(actor: Actor) -> Outcome:
    _chair_only(actor)
    store = get_store()
    if not (await store.ctl_get(actor.meeting_id)).get("roll_call"):
        raise Conflict("roll_call_inactive", "Không có đợt điểm danh nào đang diễn ra.")
    await store.ctl_set(actor.meeting_id, roll_call=False)
    summary = await db(_roll_call_summary)(actor)
    forget_rooms(actor.meeting_id)
    return Outcome(reply={"summary": summary}, events=[{"event": "roll_call", "active": False, "summary": summary}])


def _roll_call_summary(actor):
    counts = {c.value: 0 for c in RollCall}
    for status in Participation.objects.filter(meeting_id=actor.meeting_id).values_list("roll_call", flat=True):
        counts[status] += 1
    timeline.record(Meeting(pk=actor.meeting_id), "roll_call_end", actor=actor.user, summary=counts)
    return counts


async def roll_call_answer(actor: Actor) -> Outcome:
    _room_only(actor)
    if not (await get_store().ctl_get(actor.meeting_id)).get("roll_call"):
        raise Conflict("roll_call_inactive", "Không có đợt điểm danh nào đang diễn ra.")
    await db(_answer)(actor)
    forget_rooms(actor.meeting_id)
    return _roll_call_marked(actor.room_id, RollCall.PRESENT_ONLINE.value, "", actor.conn)


def _roll_call_marked(room_id: int, status: str, reason: str, conn: str | None) -> Outcome:
    """A room's roll-call mark goes to the chair and to that room's connection `conn`, not to
    the other rooms: an absence reason is for the chair (issue 9, finding 11)."""
    mark = {"event": "roll_call_mark", "room_id": room_id, "status": status, "reason": reason}
    out = Outcome(events=[{**mark, TO: CHAIR}])
    if conn:
        out.direct.append((conn, {"type": "meeting.notify", "event": mark}))
    return out


def _answer(actor):
    Participation.objects.filter(meeting_id=actor.meeting_id, room_id=actor.room_id).update(
        roll_call=RollCall.PRESENT_ONLINE, absence_reason="", roll_call_at=timezone.now()
    )
    timeline.record(Meeting(pk=actor.meeting_id), "roll_call_answer", actor=actor.user, room=_room_ref(actor.room_id))


async def roll_call_mark(actor: Actor, room_id: int, status: str, reason: str) -> Outcome:
    _chair_only(actor)

    def mark():
        return meetings.mark_roll_call(actor.user, meetings.get_meeting(actor.meeting_id), room_id, status, reason)

    part = await db(mark)()
    forget_rooms(actor.meeting_id)
    info = await get_store().presence_get(actor.meeting_id, room_id)
    conn = info.get("conn") if info and info.get("role") != CHAIR else None  # the chair hears it anyway
    return _roll_call_marked(room_id, part.roll_call, part.absence_reason, conn)

"""Who may come in: rooms the chair dropped stay out until let back, and rooms that knock before
the meeting opens (or while dropped) wait on their socket and are told the moment they may join.

A dropped room is in the live ctl's `dropped` list (in Redis, written through to LiveState): its join is
refused with `room_dropped` on every worker until the chair's `readmit_room` ("Cho vào lại", issue 12,
item 3). A room whose join is refused with `not_started` or `room_dropped` keeps its socket open as a
waiting one (the `waiting` hash: its connection and worker); the chair's console sees it, and when the
meeting opens, or the chair lets it back, the socket is sent `may_join` and joins at once instead of
knocking on a timer (issue 12, item 11).
"""

import time

from confserver.errors import Conflict
from confserver.rooms import timeline
from confserver.rooms.models import Meeting

from . import heartbeat
from .control import ACTIVE, CHAIR, TO, Actor, Outcome, _chair_only, _check_active, _check_room, _room_ref, db
from .live import dropped_of, get_store

WAIT_CODES = ("not_started", "room_dropped")  # a join refused for one of these waits on its socket

DROPPED_MESSAGE = "Chủ trì đã ngắt kết nối phòng này khỏi cuộc họp. Hãy chờ chủ trì cho vào lại; trang sẽ tự vào họp."


def _waiting_event(room_id: int, waiting: bool, reason: str | None = None) -> dict:
    return {"event": "waiting", "room_id": room_id, "waiting": waiting, "reason": reason, TO: CHAIR}


def _dropped_event(room_id: int, dropped: bool) -> dict:
    return {"event": "room_dropped", "room_id": room_id, "dropped": dropped, TO: CHAIR}


async def keep_out(meeting_id: int, room_id: int) -> list[dict]:
    """The chair dropped the room: its joins are refused until it is let back. The chair's event."""
    await get_store().dropped_change(meeting_id, room_id, True)
    return [_dropped_event(room_id, True)]


async def readmit(actor: Actor, room_id: int) -> Outcome:
    """ "Cho vào lại": a dropped room may join again; if it waits on a socket, it is told to join now."""
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id, online=False)
    store = get_store()
    if not await store.dropped_change(actor.meeting_id, room_id, False):
        raise Conflict("room_not_dropped", "Phòng này không bị ngắt; không cần cho vào lại.")
    await db(timeline.record)(Meeting(pk=actor.meeting_id), "readmitted", actor=actor.user, room=_room_ref(room_id))
    out = Outcome(events=[_dropped_event(room_id, False)])
    info = (await store.waiting_all(actor.meeting_id)).get(room_id)
    if info:
        out.direct.append((info["conn"], {"type": "meeting.may_join", "reason": "readmitted"}))
    return out


async def wait(actor: Actor, code: str) -> Outcome:
    """The room's join was refused with `code` (WAIT_CODES): its socket waits; the chair sees it waiting."""
    reason = "dropped" if code == "room_dropped" else "not_started"
    info = {"conn": actor.conn, "since": time.time(), "worker": heartbeat.WORKER_ID, "reason": reason}
    await get_store().waiting_put(actor.meeting_id, actor.room_id, info)
    heartbeat.ensure_started()  # the chair's view of waiting rooms trusts the workers that beat
    return Outcome(events=[_waiting_event(actor.room_id, True, reason)])


async def stop_waiting(actor: Actor, *, tell: bool = True) -> Outcome:
    """The waiting socket joined (the presence event says so) or closed (the chair is told)."""
    gone = await get_store().waiting_remove_if(actor.meeting_id, actor.room_id, actor.conn)
    return Outcome(events=[_waiting_event(actor.room_id, False)] if gone and tell else [])


async def opened(meeting_id: int, state: str) -> Outcome:
    """The meeting is open (test run or live): every waiting room that is not dropped joins now."""
    out = Outcome()
    if state not in ACTIVE:
        return out
    store = get_store()
    dropped = dropped_of(await store.ctl_get(meeting_id))
    for room_id, info in (await store.waiting_all(meeting_id)).items():
        if room_id not in dropped:
            out.direct.append((info["conn"], {"type": "meeting.may_join", "reason": "opened"}))
    return out


async def view(meeting_id: int, ctl: dict) -> tuple[set[int], dict[int, dict]]:
    """For the chair's snapshot: the dropped rooms, and the rooms waiting on a live worker's socket."""
    store = get_store()
    waiting = await store.waiting_all(meeting_id)
    alive = await store.alive({w["worker"] for w in waiting.values() if w.get("worker")})
    return dropped_of(ctl), {r: w for r, w in waiting.items() if w.get("worker") in alive}

"""Presence: a room (or the chair's console) taking its place in a meeting, dropping and leaving.

Each place records the worker holding it; that worker's heartbeat and the sweeper
(heartbeat.py, sweeper.py) end a place whose worker or connection died without
saying so. Imported through control.py (which re-exports join, detach and leave).
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from confserver.errors import Conflict, Forbidden
from confserver.media import service
from confserver.rooms import meetings, timeline
from confserver.rooms.models import Meeting, MeetingState, Participation

from . import heartbeat
from .control import (
    CHAIR,
    LECTURE,
    ROOM,
    TO,
    Actor,
    Outcome,
    _queue_event,
    _room_ref,
    _set_program,
    chair_rooms,
    current_state,
    db,
)
from .live import get_store

log = logging.getLogger(__name__)

# Meeting states in which a role may not join.
_REFUSE_JOIN = {CHAIR: [MeetingState.ENDED.value], ROOM: [MeetingState.ENDED.value, MeetingState.SCHEDULED.value]}


@dataclass
class Held:
    """A place this process holds: the actor, the task of its connection, when it dropped."""

    actor: Actor
    task: asyncio.Task | None
    detached: float | None = None


# Places held by this process's connections, by connection (channel) name.
LOCAL: dict[str, Held] = {}

_chair_rooms: dict[int, tuple[float, int | None]] = {}


def chair_room_sync(meeting_id: int, fresh: bool = False) -> int | None:
    """The room the chair speaks from (the host unit's first room, as authorize picks it);
    cached briefly, as the invited rooms are."""
    hit = _chair_rooms.get(meeting_id)
    if hit and not fresh and time.monotonic() - hit[0] < 30:
        return hit[1]
    room_id = chair_rooms(meeting_id).values_list("room_id", flat=True).first()
    _chair_rooms[meeting_id] = (time.monotonic(), room_id)
    return room_id


_chair_lookups: dict[int, asyncio.Future] = {}


async def chair_room(meeting_id: int) -> int | None:
    """chair_room_sync from the event loop: a cached answer without a thread hop, and one lookup
    in flight per meeting when the cache is empty (a meeting's start: thousands of joins at once)."""
    hit = _chair_rooms.get(meeting_id)
    if hit and time.monotonic() - hit[0] < 30:
        return hit[1]
    lookup = _chair_lookups.get(meeting_id)
    if lookup is None or lookup.get_loop() is not asyncio.get_running_loop():
        lookup = _chair_lookups[meeting_id] = asyncio.ensure_future(db(chair_room_sync)(meeting_id, True))
        lookup.add_done_callback(
            lambda f: _chair_lookups.pop(meeting_id, None) if _chair_lookups.get(meeting_id) is f else None
        )
    return await asyncio.shield(lookup)


def info_of(actor: Actor, since: float | None = None) -> dict:
    return {
        "conn": actor.conn,
        "session": actor.session,
        "role": actor.role,
        "since": since or time.time(),
        "worker": heartbeat.WORKER_ID,
    }


async def join(actor: Actor) -> tuple[Outcome, str, dict]:
    """Take the actor's place; a second connection for the same room replaces the first.

    Returns the outcome, the meeting state and the live view the snapshot is drawn
    from (one store round trip). The join's attendance and timeline rows are written
    in batches (JOINS) so a burst of rooms is not queued behind the database.
    """
    if actor.role == ROOM and actor.room_id == await chair_room(actor.meeting_id):
        # The chair's console speaks for this room: a terminal here would take its place (issue 9, #7).
        raise Forbidden(
            "chair_room",
            "Phòng chủ trì do bàn điều khiển của chủ trì sử dụng; "
            "thiết bị phòng không vào họp bằng liên kết phòng ở phòng này.",
        )
    heartbeat.ensure_started()
    store = get_store()
    info = info_of(actor)
    got = await store.join(actor.meeting_id, actor.room_id, info, role=actor.role, refuse=_REFUSE_JOIN)
    if got["status"] == "no_state":  # the first join since the live keys went: put the meeting back
        state = await current_state(actor.meeting_id, live=True)
        got = await store.join(actor.meeting_id, actor.room_id, info, role=actor.role, refuse=_REFUSE_JOIN)
        if got["status"] == "no_state":  # cleared again meanwhile (the meeting just ended)
            got = {"status": "refused", "state": state}
    if got["status"] == "dropped":
        from .admission import DROPPED_MESSAGE

        raise Forbidden("room_dropped", DROPPED_MESSAGE)
    if got["status"] != "ok":
        if got.get("state") == MeetingState.ENDED:
            raise meetings.ended()
        raise Conflict("not_started", "Cuộc họp chưa mở; phòng vào được khi chạy thử hoặc đang họp.")
    LOCAL[actor.conn] = Held(actor, asyncio.current_task())
    old = got["old"]
    out = Outcome()
    if old and old.get("conn") and old["conn"] != actor.conn:
        out.direct.append((old["conn"], {"type": "meeting.replaced"}))
    if not old:
        out.events.append(online_event(actor))
        if settings.SIGNALING_JOIN_BATCH_S > 0:
            JOINS.add(actor)
        else:
            await db(_write_joins)([(actor, timezone.now())])
    return out, got["state"], got


class _JoinWriter:
    """Writes joins (attendance 'joined' and a timeline row) in one database call per batch."""

    def __init__(self):
        self.pending: list[tuple[Actor, object]] = []
        self.task: asyncio.Task | None = None

    def add(self, actor: Actor):
        self.pending.append((actor, timezone.now()))
        if self.task is None or self.task.done() or self.task.get_loop() is not asyncio.get_running_loop():
            self.task = asyncio.ensure_future(self._flush())

    async def _flush(self):
        while self.pending:
            await asyncio.sleep(settings.SIGNALING_JOIN_BATCH_S)
            batch, self.pending = self.pending, []
            try:
                await db(_write_joins)(batch)
            except Exception:
                log.exception("writing %d joins failed", len(batch))

    async def drain(self):
        """Wait until every join so far is written."""
        if self.task is not None and self.task.get_loop() is asyncio.get_running_loop():
            await self.task


def _write_joins(batch):
    from django.db import transaction

    from confserver.rooms.models import InviteStatus, TimelineEvent

    with transaction.atomic():
        for (mid,) in {(a.meeting_id,) for a, _ in batch}:
            rows = [(a, at) for a, at in batch if a.meeting_id == mid]
            Participation.objects.filter(meeting_id=mid, room_id__in=[a.room_id for a, _ in rows]).exclude(
                status=InviteStatus.JOINED
            ).update(status=InviteStatus.JOINED, joined_at=rows[0][1])
            TimelineEvent.objects.bulk_create(
                [
                    TimelineEvent(
                        meeting_id=mid,
                        at=at,
                        kind="join",
                        actor=a.user if a.user and a.user.pk else None,
                        room_id=a.room_id,
                        data={"role": a.role},
                    )
                    for a, at in rows
                ]
            )


JOINS = _JoinWriter()


async def detach(actor: Actor):
    """The connection dropped: keep the room present for the grace period."""
    at = time.time()
    await get_store().detach_if(actor.meeting_id, actor.room_id, actor.conn, at)
    held = LOCAL.get(actor.conn)
    if held is not None:  # only once the store has it: check_local retries a detach that failed
        held.detached = at


async def leave(actor: Actor, *, reason: str = "left") -> Outcome:
    """The room is gone (it left, was dropped, or did not come back in time)."""
    store = get_store()
    out = Outcome()
    held = LOCAL.pop(actor.conn, None) if actor.conn else None  # before the removal: check_local must not put it back
    try:
        removed = await store.presence_remove_if(actor.meeting_id, actor.room_id, actor.conn or None)
    except Exception:
        if held is not None:  # kept, so check_local and the sweeper end the place once the store is back
            LOCAL.setdefault(actor.conn, held)
        raise
    if not removed:
        return out  # a newer connection holds the room's place
    out.events.append({"event": "presence", "room_id": actor.room_id, "online": False, "reason": reason, TO: CHAIR})
    await service.close_peer(actor.meeting_id, actor.room_id)
    if await store.queue_remove(actor.meeting_id, actor.room_id):
        out.events.append(await _queue_event(actor.meeting_id))
    ctl = await store.ctl_get(actor.meeting_id)
    if actor.room_id in (ctl.get("floor_room"), ctl.get("source_room")) and not actor.is_chair:
        out.events += await _set_program(actor.meeting_id, LECTURE, None)
    await db(timeline.record)(
        Meeting(pk=actor.meeting_id), "leave", actor=actor.user, room=_room_ref(actor.room_id), reason=reason
    )
    return out


async def check_local():
    """Connections of this process that ended without detaching (a crashed handler, a flood
    close) drop like any other: their rooms stay for the grace period, then the sweeper ends them."""
    now = time.time()
    for conn, held in list(LOCAL.items()):
        if LOCAL.get(conn) is not held:
            continue  # left (or replaced) meanwhile
        a = held.actor
        if held.detached is None:
            if held.task is not None and held.task.done():
                await get_store().detach_if(a.meeting_id, a.room_id, conn, now)
                held.detached = now
            else:  # live here: undo a sweeper's mistaken drop, put back a place the store lost
                if await get_store().reassert(a.meeting_id, a.room_id, info_of(a)) == "added":
                    await _tell_back_online(a)
        elif now - held.detached > settings.SIGNALING_GRACE_S + 3 * settings.SIGNALING_HEARTBEAT_S:
            LOCAL.pop(conn, None)  # its grace timer or the sweeper has ended it by now


def online_event(actor: Actor) -> dict:
    """The chair's `presence` event for a room (or console) that took its place."""
    return {"event": "presence", "room_id": actor.room_id, "online": True, "role": actor.role, TO: CHAIR}


async def _tell_back_online(actor: Actor):
    """A re-assert put back a place the store had lost (a sweeper ended it while this worker was
    slow): the chair saw it go offline, so it hears that it is online again, as on a join."""
    from channels.layers import get_channel_layer

    from .consumers import tell

    try:
        await tell(get_channel_layer(), actor.meeting_id, Outcome(events=[online_event(actor)]))
    except Exception:  # the event is lost: the clients take a fresh snapshot once events flow again
        log.exception("meeting %s: telling the chair room %s is back failed", actor.meeting_id, actor.room_id)
        heartbeat.resync_due = True

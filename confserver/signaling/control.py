"""Meeting control: the domain layer behind the socket (consumers stay thin).

Each action validates and authorises (raising a coded DomainError), changes
the live store and/or the database, and returns an Outcome: the reply data,
the events to fan out to the whole meeting, and messages for single
connections. Nothing here knows about WebSockets.
"""

import logging
import time
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.errors import Conflict, DomainError, Forbidden, NotFound
from confserver.media import service
from confserver.rooms import meetings, policy, timeline, tokens
from confserver.rooms.models import Meeting, MeetingState, Participation

from .live import BROADCAST, FLOOR, LECTURE, get_store

log = logging.getLogger(__name__)

CHAIR, ROOM = "chair", "room"
# An event carrying TO: CHAIR goes to the chair's consoles only. Presence does: 250 rooms
# joining would otherwise cost 250 x 250 deliveries, and a room has no use for them.
TO = "_to"
ACTIVE = (MeetingState.TEST_RUN, MeetingState.LIVE)


def db(fn):
    """Run ORM code off the event loop, in the thread pool (joins run side by side)."""
    return database_sync_to_async(fn, thread_sensitive=False)


@dataclass
class Actor:
    """Who is on a connection: the chair's console or one room's terminal."""

    user: object
    meeting_id: int
    role: str
    room_id: int  # the chair speaks from the host unit's room
    room_name: str
    conn: str = ""  # the connection's channel name
    session: str = ""

    @property
    def is_chair(self):
        return self.role == CHAIR


@dataclass
class Outcome:
    reply: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    direct: list[tuple[str, dict]] = field(default_factory=list)


def group_name(meeting_id: int) -> str:
    return f"meeting-{meeting_id}"


# ---- connecting -------------------------------------------------------------


@db
def admit(user, token: str | None, meeting_id: int) -> tuple[Actor, str]:
    """`authorize` for a connection that brings a room token (then `user` is ignored) or a
    logged-in user, in one trip to the thread pool: a burst of rooms connecting at once
    is not queued behind a single thread."""
    if token:
        return _admit_terminal(tokens.read_room_token(token), meeting_id)
    return authorize(user, meeting_id)


_ADMIT_SQL = None


def _admit_terminal(claims: tokens.Claims, meeting_id: int) -> tuple[Actor, str]:
    """`authorize` for a room token in one query (user, room, meeting, invitation and the link's row:
    bound to this meeting, not revoked, not expired), the same checks in the same order: rooms connect
    in bursts of hundreds."""
    global _ADMIT_SQL
    from django.db import connection

    from confserver.accounts.models import User
    from confserver.rooms.models import Room, RoomToken

    if not 0 < meeting_id < 2**63:  # the URL takes any digits; the database column does not
        raise meetings.not_found(meeting_id)
    if _ADMIT_SQL is None:
        t = {m.__name__: m._meta.db_table for m in (User, Room, Meeting, Participation, RoomToken)}
        _ADMIT_SQL = (
            f"SELECT u.username, u.unit_id, r.name, r.unit_id, m.id, m.state, p.id, t.id, "
            f"CASE WHEN t.revoked_at IS NULL THEN 0 ELSE 1 END, CASE WHEN t.expires_at > %s THEN 0 ELSE 1 END "
            f"FROM {t['User']} u JOIN {t['Room']} r ON r.id = u.room_id "
            f"LEFT JOIN {t['Meeting']} m ON m.id = %s "
            f"LEFT JOIN {t['Participation']} p ON p.meeting_id = m.id AND p.room_id = u.room_id "
            f"LEFT JOIN {t['RoomToken']} t ON t.jti = %s AND t.meeting_id = m.id AND t.terminal_id = u.id "
            f"AND t.room_id = u.room_id "
            f"WHERE u.id = %s AND u.room_id = %s AND u.role = %s AND u.is_active"
        )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cur:
        cur.execute(_ADMIT_SQL, [now, meeting_id, claims.jti, claims.user_id, claims.room_id, Role.TERMINAL.value])
        row = cur.fetchone()
    if row is None:
        raise tokens.BadToken(*tokens.STALE)
    username, unit_id, room_name, room_unit, mid, state, part, link, revoked, expired = row
    if mid is None:
        raise meetings.not_found(meeting_id)
    if claims.meeting_id != mid:
        raise tokens.wrong_meeting()
    if link is None:
        raise tokens.BadToken(*tokens.STALE)
    if revoked:
        raise tokens.BadToken(*tokens.REVOKED)
    if expired:
        raise tokens.BadToken(*tokens.EXPIRED)
    if state == MeetingState.ENDED:
        raise meetings.ended()
    if part is None:
        raise policy.not_invited(room_name)
    user_id, room_id = claims.user_id, claims.room_id
    user = User(id=user_id, username=username, role=Role.TERMINAL, unit_id=unit_id, room_id=room_id, is_active=True)
    user.room = Room(id=room_id, name=room_name, unit_id=room_unit)
    return Actor(user, mid, ROOM, room_id, room_name), state


def chair_rooms(meeting_id: int):
    """The meeting's rooms of the host unit; the chair speaks from the first."""
    from django.db.models import F

    return Participation.objects.filter(meeting_id=meeting_id, room__unit_id=F("meeting__host_unit_id")).order_by(
        "room_id"
    )


def authorize(user, meeting_id: int) -> tuple[Actor, str]:
    """Decide who a connecting user is in this meeting, or refuse; returns (actor, meeting state)."""
    if user is None or not user.is_authenticated:
        raise Forbidden("unauthenticated", "Cần đăng nhập hoặc dùng liên kết của phòng.")
    meeting = meetings.get_meeting(meeting_id)
    if meeting.state == MeetingState.ENDED:
        raise meetings.ended()
    if user.role == Role.TERMINAL:
        part = policy.check_terminal_can_join(user, meeting)
        return Actor(user, meeting.id, ROOM, part.room_id, part.room.name), meeting.state
    policy.check_chair(user, meeting)
    chair = chair_rooms(meeting.id).select_related("room").first()
    if chair is None:
        raise NotFound("no_chair_room", "Đơn vị chủ trì chưa có phòng họp trong cuộc họp này.")
    return Actor(user, meeting.id, CHAIR, chair.room_id, chair.room.name), meeting.state


# ---- reading ----------------------------------------------------------------

_rooms_cache: dict[int, tuple[float, list[dict]]] = {}


def _rooms_sync(meeting_id: int, fresh: bool = False) -> list[dict]:
    """The meeting's invited rooms (cached briefly: joins and checks read it often)."""
    hit = _rooms_cache.get(meeting_id)
    if hit and not fresh and time.monotonic() - hit[0] < 30:
        return hit[1]
    rows = [
        {
            "room_id": p.room_id,
            "name": p.room.name,
            "unit_code": p.room.unit.code,
            "unit_name": p.room.unit.name,
            "level": p.room.unit.level,
            "roll_call": p.roll_call,
            "absence_reason": p.absence_reason,
        }
        for p in Participation.objects.filter(meeting_id=meeting_id)
        .select_related("room__unit")
        .order_by("room__unit__path", "room_id")
    ]
    _rooms_cache[meeting_id] = (time.monotonic(), rows)
    return rows


_rooms = db(_rooms_sync)


def forget_rooms(meeting_id: int):
    _rooms_cache.pop(meeting_id, None)


async def program(meeting_id: int) -> dict:
    return _program_of(await get_store().ctl_get(meeting_id))


def _program_of(ctl: dict) -> dict:
    return {
        "mode": ctl.get("mode", LECTURE),
        "source_room": ctl.get("source_room"),
        "floor_room": ctl.get("floor_room"),
        "chair_room": ctl.get("chair_room"),
        "floor_may_present": bool(ctl.get("floor_may_present")),
        # The speaker's clock (issue 12, item 10): since when (server time, s) and the chair's limit, if any.
        "floor_since": ctl.get("floor_since"),
        "floor_limit_s": ctl.get("floor_limit_s"),
    }


async def snapshot(actor: Actor, state: str, view: dict | None = None) -> dict:
    """Everything a client needs to draw the meeting from scratch, from the live `view`
    (read here in one store round trip when not given)."""
    from confserver.recording import live as _recording

    if view is None:
        view = await get_store().view(actor.meeting_id, presence=actor.is_chair)
    muted, queue, ctl = view["muted"], view["queue"], view["ctl"]
    snap = {
        "meeting_id": actor.meeting_id,
        "state": state,
        "me": {
            "role": actor.role,
            "room_id": actor.room_id,
            "room_name": actor.room_name,
            "muted": actor.room_id in muted,
            "hand_raised": actor.room_id in queue,
        },
        "program": _program_of(ctl),
        "queue": queue,
        "muted": sorted(muted),
        "roll_call_active": bool(ctl.get("roll_call")),
        "recording": _recording.public(ctl.get(_recording.FIELD)),
        "ice_servers": service.browser_ice_servers(f"room-{actor.room_id}"),
        "low_layer": settings.MEDIA_LOW_LAYER,  # offer the shared low layer's m-line (web/js/media.js)
        "server_time": time.time(),  # clients count the speaker's clock from it, not from their own clock
    }
    if actor.is_chair:
        from . import admission

        presence = view["presence"]
        snap["online"] = sorted(presence)
        rooms = [dict(r) for r in await db(_rooms_sync)(actor.meeting_id, True)]
        dropped, waiting = await admission.view(actor.meeting_id, ctl)
        for r in rooms:
            p = presence.get(r["room_id"])
            r["online"] = p is not None
            r["reconnecting"] = bool(p and p.get("detached"))
            r["dropped"] = r["room_id"] in dropped
            r["waiting"] = waiting[r["room_id"]]["reason"] if r["room_id"] in waiting and p is None else None
        snap["rooms"] = rooms
    return snap


def _room_ref(room_id):
    from confserver.rooms.models import Room

    return Room(pk=room_id)


# ---- floor and program ------------------------------------------------------


async def _queue_event(mid) -> dict:
    return {"event": "queue", "queue": await get_store().queue_list(mid)}


async def _set_program(mid, mode, room_id, *, may_present=False) -> list[dict]:
    """Change what every room watches. Returns the events: the program, and the end of a room's
    presentation that the new program no longer allows (the chair side's goes on)."""
    from confserver.agenda import sync

    fields = {
        "mode": mode,
        "source_room": room_id if mode != LECTURE else None,
        "floor_room": room_id if mode == FLOOR else None,
        "floor_may_present": bool(may_present and mode == FLOOR),
    }
    before = await get_store().ctl_get(mid)
    if mode != FLOOR or before.get("floor_room") != room_id:  # a new speaker's clock starts, without a limit
        # In milliseconds: the durable copy (LiveState) gives back the same number after a Redis restart.
        fields |= {"floor_since": round(time.time(), 3) if mode == FLOOR else None, "floor_limit_s": None}
    await get_store().ctl_set(mid, **fields)
    prog = await program(mid)
    for hook in PROGRAM_HOOKS:
        await hook(mid, prog)
    out = [{"event": "program", **prog}]
    keep = prog["floor_room"] if prog["floor_may_present"] else None
    ended = await db(sync.end_room_presentation)(Meeting(pk=mid), keep_room_id=keep)
    if ended is not None:
        out.append(_agenda_event(ended))
    return out


# Called with (meeting_id, program dict) whenever the program changes (the media relay listens).
PROGRAM_HOOKS: list = []
MUTE_HOOKS: list = []


async def current_state(mid, *, live=False) -> str:
    """The meeting state from the database; with `live`, from the live store when it has it
    (every change made through the socket or the HTTP API goes through state_changed)."""
    if live:
        state = (await get_store().ctl_get(mid)).get("state")
        if state:
            return state
    state = await db(lambda: Meeting.objects.values_list("state", flat=True).get(pk=mid))()
    if live:
        await get_store().ctl_set(mid, state=state)
    return state


async def _check_active(mid, allow=ACTIVE):
    state = await current_state(mid)
    if state not in allow:
        raise Conflict("bad_state", "Thao tác này chỉ làm được khi cuộc họp đang chạy thử hoặc đang họp.")
    return state


def _chair_only(actor: Actor):
    if not actor.is_chair:
        raise Forbidden("chair_only", "Chỉ chủ trì mới được làm thao tác này.")


def _room_only(actor: Actor):
    if actor.is_chair:
        raise Forbidden("room_only", "Thao tác này dành cho phòng họp.")


async def _check_room(mid, room_id, *, online=True):
    rooms = {r["room_id"] for r in await _rooms(mid)}
    if room_id not in rooms:
        raise NotFound("room_not_invited", f"Phòng {room_id} không có trong cuộc họp.")
    if online and await get_store().presence_get(mid, room_id) is None:
        raise Conflict("room_offline", f"Phòng {room_id} đang không kết nối.")


async def raise_hand(actor: Actor) -> Outcome:
    _room_only(actor)
    await _check_active(actor.meeting_id)
    store = get_store()
    if (await store.ctl_get(actor.meeting_id)).get("floor_room") == actor.room_id:
        raise Conflict("has_floor", "Phòng đang được phát biểu.")
    if not await store.queue_add(actor.meeting_id, actor.room_id):
        raise Conflict("already_raised", "Phòng đã đăng ký phát biểu.")
    await db(timeline.record)(
        Meeting(pk=actor.meeting_id), "hand_raised", actor=actor.user, room=_room_ref(actor.room_id)
    )
    ev = await _queue_event(actor.meeting_id)
    return Outcome(reply={"queue": ev["queue"]}, events=[ev])


async def lower_hand(actor: Actor) -> Outcome:
    """Withdraw the request; a room holding the floor gives it back."""
    _room_only(actor)
    await _check_active(actor.meeting_id)
    store = get_store()
    out = Outcome()
    if await store.queue_remove(actor.meeting_id, actor.room_id):
        out.events.append(await _queue_event(actor.meeting_id))
        await db(timeline.record)(
            Meeting(pk=actor.meeting_id), "hand_lowered", actor=actor.user, room=_room_ref(actor.room_id)
        )
    elif (await store.ctl_get(actor.meeting_id)).get("floor_room") == actor.room_id:
        out.events += await _set_program(actor.meeting_id, LECTURE, None)
        await db(timeline.record)(
            Meeting(pk=actor.meeting_id), "floor_released", actor=actor.user, room=_room_ref(actor.room_id)
        )
    else:
        raise Conflict("not_raised", "Phòng chưa đăng ký phát biểu.")
    return out


async def grant_floor(actor: Actor, room_id: int, may_present: bool = False) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id)
    if room_id == actor.room_id:
        raise Conflict("is_chair", "Phòng chủ trì không cần được cho phát biểu.")
    store = get_store()
    out = Outcome()
    if (await program(actor.meeting_id))["floor_room"] == room_id:
        # The room already speaks: only its leave to present changes (its microphone stays as the chair left it).
        out.events += await _set_program(actor.meeting_id, FLOOR, room_id, may_present=may_present)
        await db(timeline.record)(
            Meeting(pk=actor.meeting_id),
            "floor_present",
            actor=actor.user,
            room=_room_ref(room_id),
            allowed=may_present,
        )
        return out
    if await store.queue_remove(actor.meeting_id, room_id):
        out.events.append(await _queue_event(actor.meeting_id))
    if room_id in await store.muted_all(actor.meeting_id):
        # Giving the floor opens the room's microphone (in the timeline too: the console's log after a reload).
        out.events.extend(await _mute(actor.meeting_id, room_id, False))
        await db(timeline.record)(
            Meeting(pk=actor.meeting_id), "unmuted", actor=actor.user, room=_room_ref(room_id), by="floor"
        )
    out.events += await _set_program(actor.meeting_id, FLOOR, room_id, may_present=may_present)
    await db(timeline.record)(
        Meeting(pk=actor.meeting_id),
        "floor_granted",
        actor=actor.user,
        room=_room_ref(room_id),
        may_present=may_present,
    )
    return out


async def revoke_floor(actor: Actor) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    prog = await program(actor.meeting_id)
    if prog["floor_room"] is None:
        raise Conflict("no_floor", "Không có phòng nào đang phát biểu.")
    evs = await _set_program(actor.meeting_id, LECTURE, None)
    await db(timeline.record)(
        Meeting(pk=actor.meeting_id), "floor_revoked", actor=actor.user, room=_room_ref(prog["floor_room"])
    )
    return Outcome(events=evs)


async def set_floor_limit(actor: Actor, limit_s: int | None) -> Outcome:
    """The chair gives the room with the floor a speaking limit (seconds, counted from when it got the
    floor), or takes it away (None)."""
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    if (await program(actor.meeting_id))["floor_room"] is None:
        raise Conflict("no_floor", "Không có phòng nào đang phát biểu.")
    await get_store().ctl_set(actor.meeting_id, floor_limit_s=limit_s)
    return Outcome(events=[{"event": "program", **await program(actor.meeting_id)}])


async def broadcast_room(actor: Actor, room_id: int) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id)
    evs = await _set_program(
        actor.meeting_id,
        BROADCAST if room_id != actor.room_id else LECTURE,
        room_id if room_id != actor.room_id else None,
    )
    await db(timeline.record)(Meeting(pk=actor.meeting_id), "broadcast", actor=actor.user, room=_room_ref(room_id))
    return Outcome(events=evs)


async def lecture_mode(actor: Actor) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    evs = await _set_program(actor.meeting_id, LECTURE, None)
    await db(timeline.record)(Meeting(pk=actor.meeting_id), "lecture_mode", actor=actor.user)
    return Outcome(events=evs)


async def _mute(mid, room_id, muted) -> list[dict]:
    await get_store().muted_set(mid, room_id, muted)
    for hook in MUTE_HOOKS:
        await hook(mid, room_id, muted)
    return [{"event": "muted", "room_id": room_id, "muted": muted}]


async def mute_room(actor: Actor, room_id: int, muted: bool) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id, online=False)
    events = await _mute(actor.meeting_id, room_id, muted)
    await db(timeline.record)(
        Meeting(pk=actor.meeting_id), "muted" if muted else "unmuted", actor=actor.user, room=_room_ref(room_id)
    )
    return Outcome(events=events)


async def pin_tier(actor: Actor, room_id: int, tier: str | None) -> Outcome:
    """The chair pins a connected room to a tier of the program's video, or lets its link decide (None);
    the room is told, so that its page can say why it sees no picture (issue 15)."""
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id)
    now = await service.pin_tier(actor.meeting_id, room_id, tier)
    return Outcome(
        reply={"room_id": room_id, "tier": now, "pinned": tier},
        events=[{"event": "tier", "room_id": room_id, "tier": now, "reason": "pinned" if tier else "recovered"}],
    )


async def drop_room(actor: Actor, room_id: int) -> Outcome:
    _chair_only(actor)
    await _check_active(actor.meeting_id)
    await _check_room(actor.meeting_id, room_id)
    if room_id == actor.room_id:
        raise Conflict("is_chair", "Không thể ngắt phòng chủ trì.")
    from . import admission

    info = await get_store().presence_get(actor.meeting_id, room_id)
    kept_out = await admission.keep_out(actor.meeting_id, room_id)  # first: a quick rejoin is refused already
    out = await cut(actor.meeting_id, room_id, info["conn"], reason="dropped")
    out.events += kept_out
    await db(timeline.record)(Meeting(pk=actor.meeting_id), "dropped", actor=actor.user, room=_room_ref(room_id))
    return out


async def cut(meeting_id: int, room_id: int, conn: str, *, reason: str) -> Outcome:
    """Take a room out of the meeting and close its connection (dropped by the chair, link revoked)."""
    gone = Actor(user=None, meeting_id=meeting_id, role=ROOM, room_id=room_id, room_name="", conn=conn)
    out = await leave(gone, reason=reason)
    out.direct.append((conn, {"type": "meeting.dropped"}))
    return out


# ---- meeting state and roll call --------------------------------------------


async def set_state(actor: Actor, state: str) -> Outcome:
    _chair_only(actor)
    await db(meetings.change_state)(actor.user, actor.meeting_id, state)
    return await state_changed(actor.meeting_id, state)


async def state_changed(meeting_id: int, state: str) -> Outcome:
    """What follows a state change, however it was made (socket or HTTP API)."""
    from confserver.recording import live as recording

    from . import admission

    out = Outcome(events=[{"event": "state", "state": state}])
    await get_store().ctl_set(meeting_id, state=state)
    out.events += await recording.state_changed(meeting_id, state)  # on when live, off at the end
    out.direct += (await admission.opened(meeting_id, state)).direct  # rooms waiting on their socket join now
    if state == MeetingState.ENDED:
        await get_store().clear(meeting_id)
        await service.end_meeting(meeting_id)
        out.direct.append(("*", {"type": "meeting.ended"}))
    return out


def _agenda_event(ev: dict) -> dict:
    # The agenda keeps its own counter; `seq` on the socket is the session's.
    ev = dict(ev)
    ev["sync_seq"] = ev.pop("seq")
    return ev


# Roll call: signaling/rollcall.py. Paperless (agenda item, synced document view): signaling/paperless.py.


# ---- media ------------------------------------------------------------------


async def media_offer(actor: Actor, sdp: str) -> Outcome:
    """The client's WebRTC offer to the meeting's relay; the reply carries the answer."""
    state = await current_state(actor.meeting_id)
    if state not in ACTIVE and not actor.is_chair:
        raise Conflict("bad_state", "Chưa thể gửi hình và tiếng khi cuộc họp chưa mở.")
    store = get_store()
    prog = await program(actor.meeting_id)
    if prog["chair_room"] is None and actor.is_chair:
        prog["chair_room"] = actor.room_id
    answer = await service.open_peer(
        actor.meeting_id, actor.room_id, sdp, prog, await store.muted_all(actor.meeting_id)
    )
    return Outcome(reply={"sdp": answer})


async def media_candidate(actor: Actor, candidate: str | None, sdp_mid: str | None, index: int | None) -> Outcome:
    cand = None if candidate is None else {"candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": index}
    await service.add_ice_candidate(actor.meeting_id, actor.room_id, cand)
    return Outcome()


async def multiview(actor: Actor, room_ids: list[int]) -> Outcome:
    _chair_only(actor)
    known = {r["room_id"] for r in await _rooms(actor.meeting_id)}
    unknown = [r for r in room_ids if r not in known]
    if unknown:
        raise NotFound("room_not_invited", f"Phòng không có trong cuộc họp: {unknown}.")
    return Outcome(reply={"slots": await service.set_multiview(actor.meeting_id, actor.room_id, room_ids)})


# Presence lives in its own module; consumers call it through here.
from .presence import JOINS, detach, join, leave  # noqa: E402

__all__ = ["Actor", "Outcome", "DomainError", "authorize", "join", "leave", "detach", "snapshot", "JOINS"]

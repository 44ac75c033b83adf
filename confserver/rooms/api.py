"""HTTP API for units and meetings (mounted in confserver/api.py)."""
from django.http import HttpRequest
from ninja import Router

from confserver.errors import DomainError

from . import attendance as attendance_rules
from . import meetings, policy, timeline, tokens
from .hierarchy import subtree
from .models import Level, Meeting
from .schemas import (AttendanceOut, AttendanceRow, ErrorOut, InvitedOut, MeetingIn, MeetingOut, RollCallIn,
                      RevokedOut, RoomTokenOut, SelectionIn, StateIn, TimelineRow, UnitOut)

LEVELS = {"province": Level.PROVINCE, "district": Level.DISTRICT, "commune": Level.COMMUNE}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def meeting_out(m: Meeting) -> MeetingOut:
    return MeetingOut(
        id=m.id, title=m.title, host_unit=m.host_unit.code, host_unit_name=m.host_unit.name,
        scheduled_start=m.scheduled_start, scheduled_end=m.scheduled_end, state=m.state,
        started_at=m.started_at, ended_at=m.ended_at,
        invited_rooms=getattr(m, "n_rooms", None) if getattr(m, "n_rooms", None) is not None else m.participations.count(),
    )


def to_selection(s: SelectionIn) -> meetings.Selection:
    return meetings.Selection(mode=s.mode, max_level=LEVELS[s.max_level] if s.max_level else None,
                              unit_codes=tuple(s.unit_codes))


def viewable(request: HttpRequest, meeting_id: int) -> Meeting:
    m = meetings.get_meeting(meeting_id)
    policy.check_can_view(request.auth, m)
    return m


units = Router(tags=["units"])
rooms_api = Router(tags=["meetings"])


@units.get("/{code}/subtree", response={200: list[UnitOut], **ERRORS})
def unit_subtree(request, code: str, max_level: str | None = None, only_level: str | None = None):
    """Units under `code` (itself included), optionally down to / only at a level."""
    unit = meetings.get_unit(code)
    if not policy.in_scope(request.auth, unit):
        raise policy.Forbidden("outside_subtree", f"Đơn vị {code} nằm ngoài phạm vi của bạn.")
    for name, value in (("max_level", max_level), ("only_level", only_level)):
        if value is not None and value not in LEVELS:
            raise DomainError("bad_level", f"{name} phải là một trong {', '.join(LEVELS)}.")
    qs = subtree(unit, max_level=LEVELS.get(max_level), only_level=LEVELS.get(only_level)).select_related("parent")
    return [UnitOut(code=u.code, name=u.name, division_type=u.division_type, level=u.level,
                    parent_code=u.parent.code if u.parent else None) for u in qs]


@rooms_api.post("", response={201: MeetingOut, **ERRORS})
def create_meeting(request, payload: MeetingIn):
    m = meetings.create_meeting(request.auth, host_unit_code=payload.host_unit, title=payload.title,
                                scheduled_start=payload.scheduled_start, scheduled_end=payload.scheduled_end,
                                selection=to_selection(payload.participants))
    return 201, meeting_out(m)


@rooms_api.get("", response=list[MeetingOut])
def list_meetings(request, state: str | None = None):
    from django.db.models import Count

    qs = policy.visible_meetings(request.auth).annotate(n_rooms=Count("participations", distinct=True))
    if state:
        qs = qs.filter(state=state)
    return [meeting_out(m) for m in qs[:500]]


@rooms_api.get("/{meeting_id}", response={200: MeetingOut, **ERRORS})
def read_meeting(request, meeting_id: int):
    return meeting_out(viewable(request, meeting_id))


@rooms_api.post("/{meeting_id}/invite", response={200: InvitedOut, **ERRORS})
def invite(request, meeting_id: int, payload: SelectionIn):
    return InvitedOut(invited=meetings.invite(request.auth, meetings.get_meeting(meeting_id), to_selection(payload)))


@rooms_api.post("/{meeting_id}/state", response={200: MeetingOut, **ERRORS})
def change_state(request, meeting_id: int, payload: StateIn):
    from confserver.signaling.consumers import tell_sync
    from confserver.signaling.control import state_changed

    m = meetings.change_state(request.auth, meeting_id, payload.state)
    # Rooms connected to the meeting see the change as if the chair made it on the socket.
    tell_sync(m.id, state_changed, m.id, m.state)
    return meeting_out(m)


@rooms_api.post("/{meeting_id}/confirm", response={200: AttendanceRow, **ERRORS})
def confirm(request, meeting_id: int):
    """A room terminal confirms its room will attend."""
    return attendance_row(meetings.confirm(request.auth, meetings.get_meeting(meeting_id)))


def attendance_row(p, full: bool = True) -> AttendanceRow:
    """A room's attendance; not `full`: who the room is, nothing of its attendance."""
    row = AttendanceRow(room_id=p.room_id, room_name=p.room.name, unit_code=p.room.unit.code,
                        unit_name=p.room.unit.name, level=p.room.unit.level)
    if full:
        row.status, row.confirmed_at, row.joined_at = p.status, p.confirmed_at, p.joined_at
        row.roll_call, row.absence_reason = p.roll_call, p.absence_reason
    return row


@rooms_api.get("/{meeting_id}/attendance", response={200: AttendanceOut, **ERRORS})
def attendance(request, meeting_id: int):
    """Every invited room; a room terminal reads its own row and the counts, of other rooms only their names."""
    m = meetings.get_meeting(meeting_id)
    parts = attendance_rules.for_reader(request.auth, m)
    counts: dict[str, int] = {}
    for p, _ in parts:
        counts[p.roll_call] = counts.get(p.roll_call, 0) + 1
        counts[p.status] = counts.get(p.status, 0) + 1
    return AttendanceOut(meeting_id=m.id, total=len(parts), counts=counts,
                         rooms=[attendance_row(p, full) for p, full in parts])


@rooms_api.post("/{meeting_id}/attendance/{room_id}", response={200: AttendanceRow, **ERRORS})
def mark_roll_call(request, meeting_id: int, room_id: int, payload: RollCallIn):
    p = meetings.mark_roll_call(request.auth, meetings.get_meeting(meeting_id), room_id, payload.status, payload.reason)
    return attendance_row(p)


@rooms_api.get("/{meeting_id}/timeline", response={200: list[TimelineRow], **ERRORS})
def meeting_timeline(request, meeting_id: int):
    """The meeting's timeline, as far as the caller may read it (titles, other rooms: timeline.for_reader)."""
    m = viewable(request, meeting_id)
    return [TimelineRow(at=e.at, kind=e.kind, room_id=e.room_id, actor=e.actor.username if e.actor else None, data=e.data)
            for e in timeline.for_reader(request.auth, m)]


@rooms_api.get("/{meeting_id}/room-tokens", response={200: list[RoomTokenOut], **ERRORS})
def room_tokens(request, meeting_id: int):
    """The chair's operator hands each invited room its sign-in link."""
    from confserver.accounts.models import Role, User

    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    from confserver.signaling.presence import chair_room_sync

    # The chair's console speaks for the host unit's room: no terminal link for it (issue 9, #7).
    room_ids = m.participations.exclude(room_id=chair_room_sync(m.id, fresh=True)).values_list("room_id", flat=True)
    terminals = list(User.objects.filter(role=Role.TERMINAL, room_id__in=room_ids, is_active=True).order_by("room_id"))
    links = tokens.links_for(m, terminals, by=request.auth)
    out = []
    for t in terminals:
        token = tokens.sign(links[t.pk])
        # In the fragment: browsers do not send it, so no access log records it.
        out.append(RoomTokenOut(room_id=t.room_id, token=token, expires_at=links[t.pk].expires_at,
                                url=f"/web/room.html?meeting={m.id}#token={token}"))
    return out


@rooms_api.delete("/{meeting_id}/room-tokens", response={200: RevokedOut, **ERRORS})
def revoke_room_tokens(request, meeting_id: int, room_id: int | None = None):
    """The chair revokes the links of one room (`room_id`) or of every room; their live connections are cut."""
    from confserver.signaling.consumers import tell_sync
    from confserver.signaling.revoked import cut_rooms

    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    rooms = tokens.revoke(m, room_id=room_id)
    if rooms:
        tell_sync(m.id, cut_rooms, m.id, rooms)
    return RevokedOut(meeting_id=m.id, rooms=rooms)



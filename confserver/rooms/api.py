"""HTTP API for units and meetings (mounted in confserver/api.py)."""

from ninja import Router

from confserver.errors import DomainError, NotFound

from . import attendance as attendance_rules
from . import meetings, planning, policy, timeline, tokens
from .hierarchy import subtree, tree
from .models import Level, Meeting
from .schemas import (
    AttendanceOut,
    AttendanceRow,
    ErrorOut,
    InvitationOut,
    InvitedOut,
    MeetingCopyIn,
    MeetingEditIn,
    MeetingIn,
    MeetingOut,
    RevokedOut,
    RollCallIn,
    RoomTokenOut,
    SelectionIn,
    StateIn,
    TimelineRow,
    UnitNodeOut,
    UnitOut,
)

LEVELS = {"province": Level.PROVINCE, "district": Level.DISTRICT, "commune": Level.COMMUNE}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def meeting_out(m: Meeting) -> MeetingOut:
    return MeetingOut(
        id=m.id,
        title=m.title,
        host_unit=m.host_unit.code,
        host_unit_name=m.host_unit.name,
        scheduled_start=m.scheduled_start,
        scheduled_end=m.scheduled_end,
        test_run_at=m.test_run_at,
        place=m.place,
        state=m.state,
        started_at=m.started_at,
        ended_at=m.ended_at,
        invited_rooms=_invited_rooms(m),
    )


def _invited_rooms(m: Meeting) -> int:
    n = getattr(m, "n_rooms", None)  # counted by the list's query when it made `m`
    return n if n is not None else m.participations.count()


def to_selection(s: SelectionIn) -> meetings.Selection:
    return meetings.Selection(
        mode=s.mode,
        max_level=LEVELS[s.max_level] if s.max_level else None,
        only_level=LEVELS[s.only_level] if s.only_level else None,
        root=s.root,
        unit_codes=tuple(s.unit_codes),
    )


def viewable(request, meeting_id: int) -> Meeting:  # django-ninja's request, with .auth
    m = meetings.get_meeting(meeting_id)
    policy.check_can_view(request.auth, m)
    return m


units = Router(tags=["units"])
rooms_api = Router(tags=["meetings"])


def scoped_unit(request, code: str):
    unit = meetings.get_unit(code)
    if not policy.in_scope(request.auth, unit):
        raise policy.Forbidden("outside_subtree", f"Đơn vị {code} nằm ngoài phạm vi của bạn.")
    return unit


def unit_out(u) -> UnitOut:
    return UnitOut(
        code=u.code,
        name=u.name,
        division_type=u.division_type,
        level=u.level,
        parent_code=u.parent.code if u.parent_id else None,
    )


@units.get("/mine", response={200: UnitOut, **ERRORS})
def my_unit(request):
    """The caller's own unit: the top of what a host may invite."""
    if not request.auth.unit_id:
        raise NotFound("unit_not_found", "Tài khoản này không gắn với đơn vị nào.")
    return unit_out(request.auth.unit)


@units.get("/{code}/subtree", response={200: list[UnitOut], **ERRORS})
def unit_subtree(request, code: str, max_level: str | None = None, only_level: str | None = None, q: str | None = None):
    """Units under `code` (itself included), optionally down to / only at a level, or whose name holds `q`
    with or without accents ("thuan hoa" finds "Thuận Hóa")."""
    from confserver.agenda.fold import fold

    unit = scoped_unit(request, code)
    for name, value in (("max_level", max_level), ("only_level", only_level)):
        if value is not None and value not in LEVELS:
            raise DomainError("bad_level", f"{name} phải là một trong {', '.join(LEVELS)}.")
    qs = subtree(unit, max_level=LEVELS.get(max_level or ""), only_level=LEVELS.get(only_level or "")).select_related(
        "parent"
    )
    wanted = " ".join(fold(q or "").split())
    return [unit_out(u) for u in qs if not wanted or wanted in " ".join(fold(u.name).split())]


@units.get("/{code}/tree", response={200: list[UnitNodeOut], **ERRORS})
def unit_tree(request, code: str):
    """The subtree of `code` in tree order, with each unit's rooms and its folded name: the invitation tree."""
    from confserver.agenda.fold import fold

    return [
        UnitNodeOut(
            **unit_out(u).model_dump(),
            rooms=u.n_rooms,  # type: ignore[attr-defined]  # tree() counts them
            folded=" ".join(fold(u.name).split()),
        )
        for u in tree(scoped_unit(request, code))
    ]


@rooms_api.post("", response={201: MeetingOut, **ERRORS})
def create_meeting(request, payload: MeetingIn):
    m = meetings.create_meeting(
        request.auth,
        host_unit_code=payload.host_unit,
        title=payload.title,
        scheduled_start=payload.scheduled_start,
        scheduled_end=payload.scheduled_end,
        test_run_at=payload.test_run_at,
        place=payload.place,
        selection=to_selection(payload.participants),
    )
    return 201, meeting_out(m)


@rooms_api.patch("/{meeting_id}", response={200: MeetingOut, **ERRORS})
def edit_meeting(request, meeting_id: int, payload: MeetingEditIn):
    """Change a meeting before it is live: its details, and with `participants` its whole invitation."""
    given = payload.model_fields_set
    extra = {"test_run_at": payload.test_run_at} if "test_run_at" in given else {}
    m = planning.update_meeting(
        request.auth,
        meeting_id,
        title=payload.title,
        scheduled_start=payload.scheduled_start,
        scheduled_end=payload.scheduled_end,
        place=payload.place,
        selection=to_selection(payload.participants) if payload.participants else None,
        **extra,
    )
    return meeting_out(m)


@rooms_api.post("/{meeting_id}/copy", response={201: MeetingOut, **ERRORS})
def copy_meeting(request, meeting_id: int, payload: MeetingCopyIn):
    """A new meeting like `meeting_id` (host, invited rooms, title and place unless given) at a new time."""
    m = planning.copy_meeting(
        request.auth,
        meeting_id,
        title=payload.title,
        scheduled_start=payload.scheduled_start,
        scheduled_end=payload.scheduled_end,
        test_run_at=payload.test_run_at,
        place=payload.place,
    )
    return 201, meeting_out(m)


@rooms_api.get("/{meeting_id}/invitation", response={200: InvitationOut, **ERRORS})
def read_invitation(request, meeting_id: int):
    """The invited rooms' units, for the chair side's invitation tree."""
    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    inv = planning.invitation(m)
    return InvitationOut(meeting_id=m.id, rooms=inv.rooms, unit_codes=inv.unit_codes)


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
    row = AttendanceRow(
        room_id=p.room_id,
        room_name=p.room.name,
        unit_code=p.room.unit.code,
        unit_name=p.room.unit.name,
        level=p.room.unit.level,
    )
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
    return AttendanceOut(
        meeting_id=m.id, total=len(parts), counts=counts, rooms=[attendance_row(p, full) for p, full in parts]
    )


@rooms_api.post("/{meeting_id}/attendance/{room_id}", response={200: AttendanceRow, **ERRORS})
def mark_roll_call(request, meeting_id: int, room_id: int, payload: RollCallIn):
    p = meetings.mark_roll_call(request.auth, meetings.get_meeting(meeting_id), room_id, payload.status, payload.reason)
    return attendance_row(p)


@rooms_api.get("/{meeting_id}/timeline", response={200: list[TimelineRow], **ERRORS})
def meeting_timeline(request, meeting_id: int):
    """The meeting's timeline, as far as the caller may read it (titles, other rooms: timeline.for_reader)."""
    m = viewable(request, meeting_id)
    return [
        TimelineRow(at=e.at, kind=e.kind, room_id=e.room_id, actor=e.actor.username if e.actor else None, data=e.data)
        for e in timeline.for_reader(request.auth, m)
    ]


@rooms_api.get("/{meeting_id}/room-tokens", response={200: list[RoomTokenOut], **ERRORS})
def room_tokens(request, meeting_id: int):
    """The chair's operator hands each invited room its sign-in link."""
    from confserver.accounts.models import Role, User

    m = meetings.get_meeting(meeting_id)
    policy.check_chair(request.auth, m)
    from confserver.signaling.presence import chair_room_sync

    # The chair's console speaks for the host unit's room: no terminal link for it (issue 9, #7).
    chair = chair_room_sync(m.id, fresh=True)
    room_ids = m.participations.exclude(room_id=chair).values_list("room_id", flat=True)  # type: ignore[misc]  # None: none
    terminals = list(User.objects.filter(role=Role.TERMINAL, room_id__in=room_ids, is_active=True).order_by("room_id"))
    links = tokens.links_for(m, terminals, by=request.auth)
    out = []
    for t in terminals:
        assert t.room_id is not None  # chosen by room above
        token = tokens.sign(links[t.pk])
        # In the fragment: browsers do not send it, so no access log records it.
        out.append(
            RoomTokenOut(
                room_id=t.room_id,
                token=token,
                expires_at=links[t.pk].expires_at,
                url=f"/web/room.html?meeting={m.id}#token={token}",
            )
        )
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


# Calling a room back: its link again through the webhook, or as a QR code (issue 12, item 5).
from .callback_api import router as _callback  # noqa: E402

rooms_api.add_router("", _callback)

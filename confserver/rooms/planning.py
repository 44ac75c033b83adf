"""Planning a meeting before it runs (issue 12, item 4): edit its details and its invitation, copy a past one.

The invitation is the set of invited rooms (Participation rows). Editing replaces it with what a Selection
names (meetings.selected_units: only units of the host's subtree; the host unit always stays); it is refused
once the meeting is live, and during the test run it may only grow (a room may already be connected).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from confserver.errors import Conflict

from . import meetings, policy, timeline
from .models import Meeting, MeetingState, Participation, Room, RoomToken

_UNSET = object()


@dataclass(frozen=True)
class Invitation:
    rooms: int
    unit_codes: list[str]  # the units of the invited rooms, in tree order


def invitation(meeting: Meeting) -> Invitation:
    """Who is invited, as the page's tree shows it: the units of the invited rooms."""
    parts = meeting.participations.select_related("room__unit").order_by("room__unit__path")
    codes = list(dict.fromkeys(p.room.unit.code for p in parts))
    return Invitation(rooms=len(parts), unit_codes=codes)


def _locked(meeting: Meeting) -> Conflict:
    label = MeetingState(meeting.state).label.lower()
    return Conflict("meeting_locked", f"Cuộc họp {label}: không sửa được thông tin và danh sách mời nữa.")


def _rooms_of(meeting: Meeting, selection: meetings.Selection) -> set[int]:
    units = meetings.selected_units(meeting.host_unit, selection)
    return set(Room.objects.filter(unit__in=units, is_active=True).values_list("id", flat=True))


@transaction.atomic
def update_meeting(
    user,
    meeting_id: int,
    *,
    title: str | None = None,
    scheduled_start: datetime | None = None,
    scheduled_end: datetime | None = None,
    test_run_at=_UNSET,
    place: str | None = None,
    selection: meetings.Selection | None = None,
) -> Meeting:
    """Change what is given (None: unchanged; `test_run_at` may be set to None) and, with a `selection`,
    replace the invitation. Refused once live (`meeting_locked`); nothing changes on any refusal."""
    meeting = Meeting.objects.select_for_update().select_related("host_unit").filter(pk=meeting_id).first()
    if meeting is None:
        raise meetings.not_found(meeting_id)
    policy.check_chair(user, meeting)
    if meeting.state in (MeetingState.LIVE, MeetingState.ENDED):
        raise _locked(meeting)
    start = scheduled_start or meeting.scheduled_start
    end = scheduled_end or meeting.scheduled_end
    test_run = meeting.test_run_at if test_run_at is _UNSET else test_run_at
    meetings.check_schedule(start, end, test_run)
    changed = {}
    for field, value in (
        ("title", title),
        ("scheduled_start", start),
        ("scheduled_end", end),
        ("test_run_at", test_run),
        ("place", place),
    ):
        if value is not None or field == "test_run_at":
            if getattr(meeting, field) != value:
                setattr(meeting, field, value)
                changed[field] = value
    if changed:
        meeting.save(update_fields=list(changed))
    if selection is not None:
        _replace_invitation(user, meeting, selection)
    return meeting


def _replace_invitation(user, meeting: Meeting, selection: meetings.Selection) -> None:
    want = _rooms_of(meeting, selection)
    have = set(meeting.participations.values_list("room_id", flat=True))
    added, removed = sorted(want - have), sorted(have - want)
    if removed and meeting.state == MeetingState.TEST_RUN:
        raise Conflict("invitation_in_test_run", "Đang chạy thử: chỉ mời thêm được phòng, không bỏ được phòng đã mời.")
    if not added and not removed:
        return
    meeting.participations.filter(room_id__in=removed).delete()
    # A room no longer invited cannot enter by a link handed out before.
    RoomToken.objects.filter(meeting=meeting, room_id__in=removed, revoked_at=None).update(revoked_at=timezone.now())
    Participation.objects.bulk_create([Participation(meeting=meeting, room_id=r) for r in added], batch_size=2000)
    timeline.record(meeting, "invited", actor=user, invited=len(added), removed=len(removed), total=len(want))


@transaction.atomic
def copy_meeting(
    user,
    meeting_id: int,
    *,
    title: str | None,
    scheduled_start: datetime,
    scheduled_end: datetime,
    test_run_at: datetime | None = None,
    place: str | None = None,
) -> Meeting:
    """A new scheduled meeting with the same host and invited rooms (those still in use) as `meeting_id`,
    at a new time; title and place are the old ones unless given."""
    source = meetings.get_meeting(meeting_id)
    policy.check_chair(user, source)
    meetings.check_schedule(scheduled_start, scheduled_end, test_run_at)
    copy = Meeting.objects.create(
        host_unit=source.host_unit,
        title=title or source.title,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        test_run_at=test_run_at,
        place=source.place if place is None else place,
        created_by=user,
    )
    rooms = source.participations.filter(
        room__is_active=True, room__unit__path__startswith=source.host_unit.path
    ).values_list("room_id", flat=True)
    parts = [Participation(meeting=copy, room_id=r) for r in rooms]
    Participation.objects.bulk_create(parts, batch_size=2000)
    timeline.record(copy, "created", actor=user, invited=len(parts), copied_from=source.id)
    return copy

"""Meetings: creation for a subtree, invitations, the state machine, attendance."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from confserver.errors import Conflict, DomainError, NotFound

from . import policy, timeline
from .hierarchy import subtree
from .models import AdminUnit, InviteStatus, Meeting, MeetingState, Participation, RollCall, Room

# scheduled → test run → live → ended; nothing else.
TRANSITIONS = {
    MeetingState.SCHEDULED: {MeetingState.TEST_RUN},
    MeetingState.TEST_RUN: {MeetingState.LIVE},
    MeetingState.LIVE: {MeetingState.ENDED},
    MeetingState.ENDED: set(),
}


@dataclass(frozen=True)
class Selection:
    """Which units of the host's subtree take part: a subtree (the host's, or that of `root` inside it),
    down to `max_level` or only at `only_level`; or the picked `unit_codes`. The host unit always takes part."""

    mode: str = "subtree"  # "subtree" | "units"
    max_level: int | None = None
    unit_codes: tuple[str, ...] = ()
    only_level: int | None = None
    root: str | None = None  # e.g. a district: "the district with its communes", "all communes of the district"


def get_unit(code: str) -> AdminUnit:
    try:
        return AdminUnit.objects.get(code=code)
    except AdminUnit.DoesNotExist:
        raise NotFound("unit_not_found", f"Không có đơn vị mã {code}.") from None


def not_found(meeting_id: int) -> NotFound:
    return NotFound("meeting_not_found", f"Không có cuộc họp số {meeting_id}.")


def ended() -> Conflict:
    return Conflict("meeting_ended", "Cuộc họp đã kết thúc.")


def get_meeting(meeting_id: int) -> Meeting:
    try:
        return Meeting.objects.select_related("host_unit").get(pk=meeting_id)
    except Meeting.DoesNotExist:
        raise not_found(meeting_id) from None


def selected_units(host_unit: AdminUnit, selection: Selection):
    """The chosen units: a queryset for a subtree (used as a subquery), a list for picks."""
    if selection.mode == "subtree":
        top = host_unit
        if selection.root and selection.root != host_unit.code:
            top = get_unit(selection.root)
            if not top.is_within(host_unit):
                raise policy.Forbidden("outside_subtree", f"Đơn vị nằm ngoài đơn vị chủ trì: {top.code}.")
        units = subtree(top, max_level=selection.max_level, only_level=selection.only_level)
        if top != host_unit or selection.only_level is not None:
            units = units | AdminUnit.objects.filter(pk=host_unit.pk)
        return units
    if selection.mode != "units":
        raise DomainError("bad_selection", f"Cách chọn '{selection.mode}' không hợp lệ.")
    codes = set(selection.unit_codes)
    found = {u.code: u for u in AdminUnit.objects.filter(code__in=codes)}
    missing = sorted(codes - set(found))
    if missing:
        raise NotFound("unit_not_found", f"Không có đơn vị mã: {', '.join(missing)}.")
    outside = sorted(c for c, u in found.items() if not u.is_within(host_unit))
    if outside:
        raise policy.Forbidden("outside_subtree", f"Đơn vị nằm ngoài đơn vị chủ trì: {', '.join(outside)}.")
    found.setdefault(host_unit.code, host_unit)
    return list(found.values())


def _invite_units(meeting: Meeting, units) -> int:
    rooms = Room.objects.filter(unit__in=units, is_active=True)
    have = set(meeting.participations.values_list("room_id", flat=True))
    new = [Participation(meeting=meeting, room=r) for r in rooms if r.id not in have]
    Participation.objects.bulk_create(new, batch_size=2000)
    return len(new)


def check_schedule(start: datetime, end: datetime, test_run_at: datetime | None = None) -> None:
    if end <= start:
        raise DomainError("bad_schedule", "Giờ kết thúc phải sau giờ bắt đầu.")
    if test_run_at is not None and test_run_at > start:
        raise DomainError("bad_test_run", "Giờ chạy thử phải trước hoặc đúng giờ bắt đầu cuộc họp.")


@transaction.atomic
def create_meeting(
    user,
    *,
    host_unit_code: str,
    title: str,
    scheduled_start: datetime,
    scheduled_end: datetime,
    selection: Selection,
    test_run_at: datetime | None = None,
    place: str = "",
) -> Meeting:
    host_unit = get_unit(host_unit_code)
    policy.check_host_for_unit(user, host_unit)
    check_schedule(scheduled_start, scheduled_end, test_run_at)
    units = selected_units(host_unit, selection)
    meeting = Meeting.objects.create(
        host_unit=host_unit,
        title=title,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        test_run_at=test_run_at,
        place=place,
        created_by=user,
    )
    invited = _invite_units(meeting, units)
    timeline.record(meeting, "created", actor=user, invited=invited)
    return meeting


@transaction.atomic
def invite(user, meeting: Meeting, selection: Selection) -> int:
    policy.check_chair(user, meeting)
    if meeting.state == MeetingState.ENDED:
        raise ended()
    invited = _invite_units(meeting, selected_units(meeting.host_unit, selection))
    timeline.record(meeting, "invited", actor=user, invited=invited)
    return invited


@transaction.atomic
def change_state(user, meeting_id: int, to: str) -> Meeting:
    """Move the meeting along scheduled → test_run → live → ended; refuse anything else."""
    meeting = Meeting.objects.select_for_update().select_related("host_unit").filter(pk=meeting_id).first()
    if meeting is None:
        raise not_found(meeting_id)
    policy.check_chair(user, meeting)
    try:
        target = MeetingState(to)
    except ValueError:
        raise DomainError("bad_state", f"Trạng thái '{to}' không tồn tại.") from None
    current = MeetingState(meeting.state)
    if target not in TRANSITIONS[current]:
        raise Conflict("bad_transition", f"Không thể chuyển từ '{current.label}' sang '{target.label}'.")
    now = timezone.now()
    meeting.state = target
    if target == MeetingState.LIVE:
        meeting.started_at = now
    elif target == MeetingState.ENDED:
        meeting.ended_at = now
    meeting.save(update_fields=["state", "started_at", "ended_at"])
    timeline.record(meeting, "state", actor=user, at=now, state=target.value, previous=current.value)
    return meeting


def confirm(user, meeting: Meeting) -> Participation:
    """A room terminal confirms it will attend."""
    part = policy.check_terminal_can_join(user, meeting)
    if part.status == InviteStatus.INVITED:
        part.status = InviteStatus.CONFIRMED
        part.confirmed_at = timezone.now()
        part.save(update_fields=["status", "confirmed_at"])
    return part


def mark_joined(part: Participation) -> None:
    if part.status != InviteStatus.JOINED:
        Participation.objects.filter(pk=part.pk).update(status=InviteStatus.JOINED, joined_at=timezone.now())


@transaction.atomic
def mark_roll_call(user, meeting: Meeting, room_id: int, status: str, reason: str = "") -> Participation:
    """The chair's operator marks a room's roll-call status (absent needs a reason)."""
    policy.check_chair(user, meeting)
    if meeting.state not in (MeetingState.TEST_RUN, MeetingState.LIVE):
        raise Conflict("bad_state", "Chỉ điểm danh khi đang chạy thử hoặc đang họp.")
    try:
        value = RollCall(status)
    except ValueError:
        raise DomainError("bad_roll_call", f"Trạng thái điểm danh '{status}' không hợp lệ.") from None
    if value == RollCall.ABSENT and not reason.strip():
        raise DomainError("reason_required", "Vắng mặt phải có lý do.")
    part = Participation.objects.select_for_update().filter(meeting=meeting, room_id=room_id).first()
    if part is None:
        raise NotFound("room_not_invited", "Phòng này không được mời vào cuộc họp.")
    part.roll_call = value
    part.absence_reason = reason.strip() if value == RollCall.ABSENT else ""
    part.roll_call_at = timezone.now()
    part.save(update_fields=["roll_call", "absence_reason", "roll_call_at"])
    timeline.record(
        meeting, "roll_call_mark", actor=user, room=part.room, status=value.value, reason=part.absence_reason
    )
    return part


def attendance(meeting: Meeting) -> list[Participation]:
    return list(meeting.participations.select_related("room__unit").order_by("room__unit__path", "room_id"))

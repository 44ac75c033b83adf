"""Check-in of delegates and the meeting's quorum.

A delegate is checked in once: by scanning the hall's QR code with their own link ("qr"), by the secretary
in the console ("secretary"), or by their remote room's clerk ("clerk"). Each check-in is a timeline row
(the attendance record per person) and an event for the chair, the rooms and the delegates.
"""

from django.db import transaction
from django.utils import timezone

from confserver.errors import Conflict, DomainError
from confserver.rooms import meetings, timeline
from confserver.rooms.models import Meeting, MeetingState

from .models import CheckedInBy, Delegate, QuorumRule, Seat

BY = {CheckedInBy.QR, CheckedInBy.SECRETARY, CheckedInBy.CLERK}


def is_checked_in(delegate: Delegate) -> bool:
    return delegate.checked_in_at is not None


def rule(meeting: Meeting) -> tuple[int, int]:
    """(numerator, denominator): present must be more than this fraction of all delegates."""
    r = QuorumRule.objects.filter(meeting_id=meeting.pk).first()
    return (r.numerator, r.denominator) if r else (1, 2)


def quorum(meeting: Meeting) -> dict:
    """{present, expected, needed, met}: needed is the least whole number more than the rule's fraction of
    all the meeting's delegates (more than half by default)."""
    qs = Delegate.objects.filter(meeting_id=meeting.pk)
    expected = qs.count()
    present = qs.exclude(checked_in_at=None).count()
    num, den = rule(meeting)
    needed = expected * num // den + 1 if expected else 0
    return {"present": present, "expected": expected, "needed": needed, "met": expected > 0 and present >= needed}


def checkin_event(delegate: Delegate, q: dict) -> dict:
    return {
        "event": "delegate_checkin",
        "meeting_id": delegate.meeting_id,
        "delegate_id": delegate.pk,
        "name": delegate.name,
        "room_id": delegate.room_id,
        "checked_in_by": delegate.checked_in_by,
        "checked_in_at": delegate.checked_in_at.isoformat() if delegate.checked_in_at else None,
        "quorum": q,
    }


def check_in_at_hall(delegate: Delegate) -> dict | None:
    """The delegate scanned the hall's QR code with their own link: a hall delegate is checked in ("qr"); a
    remote room's delegate is refused (not in the hall: their room's clerk checks them in), nothing changed."""
    return check_in(delegate, CheckedInBy.QR)


def not_in_hall() -> DomainError:
    return Conflict(
        "delegate_not_in_hall",
        "Đại biểu dự tại điểm cầu, không điểm danh bằng mã QR của hội trường; "
        "cán bộ điểm cầu của phòng sẽ điểm danh đại biểu.",
    )


@transaction.atomic
def check_in(delegate: Delegate, by: str, *, actor=None) -> dict | None:
    """Mark `delegate` present (`by`: "qr", "secretary" or "clerk"); the event to fan out, or None when
    they were checked in already (nothing changes)."""
    if by not in BY:
        raise DomainError("checkin_method", "Cách điểm danh không hợp lệ.")
    d = Delegate.objects.select_for_update(of=("self",)).select_related("meeting", "room").get(pk=delegate.pk)
    if d.meeting.state == MeetingState.ENDED:
        raise meetings.ended()
    if by == CheckedInBy.QR and (d.seat != Seat.HALL or d.room_id is not None):
        raise not_in_hall()  # checked under the row lock: a move to a room meanwhile is seen
    if d.checked_in_at is not None:
        delegate.checked_in_at, delegate.checked_in_by = d.checked_in_at, d.checked_in_by
        return None
    d.checked_in_at, d.checked_in_by = timezone.now(), by
    d.save(update_fields=["checked_in_at", "checked_in_by"])
    delegate.checked_in_at, delegate.checked_in_by = d.checked_in_at, d.checked_in_by
    timeline.record(
        d.meeting,
        "delegate_checkin",
        actor=actor,
        room=d.room,
        at=d.checked_in_at,
        delegate_id=d.pk,
        name=d.name,
        position=d.position,
        unit=d.unit,
        by=by,
    )
    return checkin_event(d, quorum(d.meeting))

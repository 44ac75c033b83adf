"""Who may see a meeting's recordings, and the log of every look (issue 10, item 6).

Reviewers, hosts and administrators whose unit covers the meeting's host unit (the scope rule of
confserver/rooms/policy.py), and only once the meeting has ended; room terminals never.
"""

from confserver.accounts.models import Role
from confserver.audit.context import client_address
from confserver.errors import Conflict, Forbidden, NotFound
from confserver.rooms import meetings, policy
from confserver.rooms.models import Meeting, MeetingState

from .models import AccessAction, RecordingAccess, Segment

REVIEW_ROLES = (Role.REVIEWER, Role.HOST, Role.ADMIN)


def not_reviewer() -> Forbidden:
    return Forbidden("not_reviewer", "Bạn không có quyền xem lại bản ghi của cuộc họp này.")


def check_can_review(user, meeting: Meeting) -> None:
    if getattr(user, "role", None) not in REVIEW_ROLES or not policy.in_scope(user, meeting.host_unit):
        raise not_reviewer()
    if meeting.state != MeetingState.ENDED:
        raise Conflict("meeting_not_ended", "Chỉ xem lại được cuộc họp đã kết thúc.")


def reviewable_meeting(user, meeting_id: int) -> Meeting:
    meeting = meetings.get_meeting(meeting_id)  # meeting_not_found
    check_can_review(user, meeting)
    return meeting


def reviewable_segment(user, segment_id: int) -> Segment:
    segment = Segment.objects.select_related("meeting__host_unit").filter(pk=segment_id).first()
    if segment is None:
        raise NotFound("segment_not_found", f"Không có đoạn ghi hình số {segment_id}.")
    check_can_review(user, segment.meeting)
    return segment


def log_access(request, meeting: Meeting, segment: Segment | None, action: AccessAction) -> RecordingAccess:
    return RecordingAccess.objects.create(
        user=request.auth, meeting=meeting, segment=segment, action=action, client_address=client_address(request)
    )

"""Who reads a meeting's attendance: the chair side and reviewers every room's row
(invitation status, roll call, absence reason); a room terminal its own row, and of
the other rooms only who they are (its page names the room that speaks)."""

from confserver.accounts.models import Role

from . import meetings, policy
from .models import Meeting, Participation


def for_reader(user, meeting: Meeting) -> list[tuple[Participation, bool]]:
    """The invited rooms in hierarchy order, each with whether `user` may read its attendance
    (Forbidden with the rule's code when it may not read the meeting at all)."""
    policy.check_can_view(user, meeting)
    own = user.room_id if user.role == Role.TERMINAL else None
    return [(p, own is None or p.room_id == own) for p in meetings.attendance(meeting)]

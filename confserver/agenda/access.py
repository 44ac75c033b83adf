"""Who may read a meeting's agenda and documents.

- The chair side (policy.check_chair: a host whose subtree holds the host unit,
  or an admin) reads and edits everything, drafts included.
- Terminals of invited rooms read the agenda and every document, confidential
  ones included, once the agenda is released: published at least once, or the
  meeting has started (test run, live, ended).
- Reviewers (cán bộ xem lại) of a subtree that holds the host unit read released,
  non-confidential documents only; confidential ones are not even listed to them.
  Decision: a reviewer looks back over records, a confidential paper is for the
  people in the meeting.
- Anyone else (a host outside the subtree, a room not invited) is refused.

Titles follow the documents: where a reader sees a document it may not open (the
meeting timeline, the synced view, publications), its title is replaced by a
neutral one (`redacted_title`). Attendance is in confserver/rooms/attendance.py.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from confserver.accounts.models import Role
from confserver.errors import Forbidden
from confserver.rooms import policy
from confserver.rooms.models import Meeting, MeetingState, Participation

from .models import Document, Publication

CHAIR, ROOM, REVIEWER = "chair", "room", "reviewer"
STARTED = (MeetingState.TEST_RUN, MeetingState.LIVE, MeetingState.ENDED)


def reader_role(user, meeting: Meeting) -> str:
    """CHAIR, ROOM or REVIEWER for this meeting; Forbidden with the rule's code otherwise."""
    if user.role in (Role.HOST, Role.ADMIN):
        policy.check_chair(user, meeting)
        return CHAIR
    if user.role == Role.TERMINAL:
        policy.check_terminal_can_join(user, meeting)
        return ROOM
    if user.role == Role.REVIEWER:
        policy.check_can_view(user, meeting)
        return REVIEWER
    raise Forbidden("not_visible", "Bạn không có quyền xem tài liệu cuộc họp này.")


def is_chair(user, meeting: Meeting) -> bool:
    try:
        policy.check_chair(user, meeting)
        return True
    except Forbidden:
        return False


# Meetings known to be released. Release is never undone (publications stay,
# states only move forward), so remembering a "yes" is always right; this saves
# a query on every page image a room fetches. Keyed with created_at too, so a
# reused id (a restored database, rolled-back tests) is not taken for another.
_released: set[tuple] = set()


def is_released(meeting: Meeting) -> bool:
    key = (meeting.pk, meeting.created_at)
    if key in _released:
        return True
    if meeting.state in STARTED or Publication.objects.filter(meeting=meeting).exists():
        if len(_released) > 100_000:
            _released.clear()
        _released.add(key)
        return True
    return False


def check_can_read(user, meeting: Meeting) -> str:
    """May read the agenda and the document list of `meeting`; returns the reader's role."""
    role = reader_role(user, meeting)
    if role != CHAIR and not is_released(meeting):
        raise Forbidden("agenda_not_published", "Chương trình và tài liệu cuộc họp chưa được phát hành.")
    return role


def check_can_open(user, document: Document) -> str:
    """May open (download, view pages of) `document`; returns the reader's role."""
    role = check_can_read(user, document.meeting)
    if document.confidential and role == REVIEWER:
        raise Forbidden("confidential", "Tài liệu mật: chỉ các phòng dự họp và bên chủ trì được mở.")
    return role


CONFIDENTIAL_TITLE = "Tài liệu mật"
UNRELEASED_TITLE = "Tài liệu chưa phát hành"


def title_readable_ids(role: str, meeting: Meeting) -> set[int] | None:
    """Ids of the meeting's documents whose titles `role` may read; None: all of them."""
    if role == CHAIR:
        return None
    if not is_released(meeting):
        return set()
    qs = Document.objects.filter(meeting=meeting)
    if role == REVIEWER:
        qs = qs.filter(confidential=False)
    return set(qs.values_list("id", flat=True))


def redacted_title(meeting: Meeting) -> str:
    """What a reader sees instead of the title of a document of `meeting` it may not open."""
    return CONFIDENTIAL_TITLE if is_released(meeting) else UNRELEASED_TITLE


def publication_for(snapshot: dict, readable: set[int] | None) -> dict:
    """A stored publication (`agenda_published` event) as a reader reads it: documents made
    confidential since are not listed to readers who may not open them, only counted."""
    if readable is None:
        return snapshot
    shown = [d for d in snapshot["documents"] if d["document_id"] in readable]
    hidden = len(snapshot["documents"]) - len(shown)
    return {**snapshot, "documents": shown, "confidential_documents": snapshot["confidential_documents"] + hidden}


def readable_documents(user) -> QuerySet[Document]:
    """Every document `user` may open, across meetings (for search)."""
    qs = Document.objects.all()
    if user.role == Role.ADMIN:
        return qs
    released = Q(meeting__state__in=STARTED) | Q(Exists(Publication.objects.filter(meeting=OuterRef("meeting"))))
    if user.role == Role.TERMINAL:
        if user.room_id is None:
            return qs.none()
        invited = Exists(Participation.objects.filter(meeting=OuterRef("meeting"), room_id=user.room_id))
        return qs.filter(invited).filter(released)
    path = user.unit.path if user.unit_id else None
    if path is None:
        return qs.none()
    qs = qs.filter(meeting__host_unit__path__startswith=path)
    if user.role == Role.HOST:
        return qs
    if user.role == Role.REVIEWER:
        return qs.filter(released, confidential=False)
    return qs.none()

"""The live side of the agenda: the current item, and the synced view (everyone
sees the page the presenter shows). Each action validates, stores the position
in the meeting's LiveState row, records the timeline, and returns the event the
socket layer fans out. Leaving/rejoining the synced view is client state; a
client that rejoins asks get_sync_state()."""

from django.db import transaction
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.errors import Conflict, DomainError, Forbidden, NotFound
from confserver.rooms import meetings, policy, timeline
from confserver.rooms.models import Meeting, MeetingState

from . import access, events
from .models import AgendaItem, DocumentVersion, LiveState

IN_SESSION = (MeetingState.TEST_RUN, MeetingState.LIVE)


def _lock_state(meeting: Meeting) -> tuple[Meeting, LiveState]:
    m = Meeting.objects.select_for_update().select_related("host_unit").filter(pk=meeting.pk).first()
    if m is None:
        raise meetings.not_found(meeting.pk)
    state, _ = LiveState.objects.select_for_update().get_or_create(meeting=m)
    return m, state


def _check_in_session(meeting: Meeting) -> None:
    if meeting.state not in IN_SESSION:
        raise Conflict("not_in_session", "Chỉ thực hiện được khi cuộc họp đang chạy thử hoặc đang họp.")


@transaction.atomic
def set_current_item(user, meeting: Meeting, item_id: int | None) -> dict:
    """The chair moves the meeting to agenda item `item_id` (None: no current item).
    Returns {"event": "agenda_item", "meeting_id", "seq", "at", "item": {id, position, title} | None}."""
    meeting, state = _lock_state(meeting)
    policy.check_chair(user, meeting)
    _check_in_session(meeting)
    item = None
    if item_id is not None:
        item = AgendaItem.objects.filter(pk=item_id, meeting=meeting).first()
        if item is None:
            raise NotFound("item_not_found", f"Cuộc họp không có nội dung họp số {item_id}.")
    now = timezone.now()
    state.current_item, state.item_changed_at, state.seq = item, now, state.seq + 1
    state.save(update_fields=["current_item", "item_changed_at", "seq"])
    timeline.record(
        meeting,
        "agenda_item",
        actor=user,
        at=now,
        item_id=item.id if item else None,
        position=item.position if item else None,
        title=item.title if item else None,
    )
    return _item_event(meeting, state).dump()


def _check_presenter(user, meeting: Meeting, floor_allowed: bool):
    """The chair side presents; so does an invited room when the lead says it holds
    the floor and the chair allows it (`floor_allowed`). Returns the presenting room."""
    try:
        policy.check_chair(user, meeting)
        return None
    except Forbidden:
        pass
    if user.role == Role.TERMINAL and floor_allowed:
        return policy.check_terminal_can_join(user, meeting).room
    raise Forbidden(
        "not_presenter",
        "Chỉ bên chủ trì, hoặc phòng đang được phát biểu khi chủ trì cho phép, mới được trình chiếu tài liệu.",
    )


@transaction.atomic
def present(user, meeting: Meeting, version_id: int, page: int, *, floor_allowed: bool = False) -> dict:
    """Show page `page` (1-based) of document version `version_id` to everyone in the
    synced view. Returns {"event": "present", "meeting_id", "seq", "at", "document_id",
    "version_id", "title", "page", "page_count", "presenter": {"user_id", "room_id"}}."""
    meeting, state = _lock_state(meeting)
    room = _check_presenter(user, meeting, floor_allowed)
    _check_in_session(meeting)
    version = (
        DocumentVersion.objects.select_related("document").filter(pk=version_id, document__meeting=meeting).first()
    )
    if version is None:
        raise NotFound("version_not_found", f"Cuộc họp không có phiên bản tài liệu số {version_id}.")
    if not 1 <= page <= version.page_count:
        raise DomainError("bad_page", f"Tài liệu có {version.page_count} trang, không có trang {page}.")
    now = timezone.now()
    state.version, state.page, state.presenter, state.presenter_room = version, page, user, room
    state.presented_at, state.seq = now, state.seq + 1
    state.save(update_fields=["version", "page", "presenter", "presenter_room", "presented_at", "seq"])
    timeline.record(
        meeting,
        "present",
        actor=user,
        room=room,
        at=now,
        document_id=version.document_id,
        version_id=version.id,
        page=page,
    )
    return _present_event(meeting, state).dump()


@transaction.atomic
def stop_presenting(user, meeting: Meeting, *, floor_allowed: bool = False) -> dict:
    """End the synced view. Returns {"event": "present_stop", "meeting_id", "seq", "at"}."""
    meeting, state = _lock_state(meeting)
    _check_presenter(user, meeting, floor_allowed)
    return _stop(meeting, state, actor=user)


@transaction.atomic
def end_room_presentation(meeting: Meeting, *, keep_room_id: int | None = None) -> dict | None:
    """A room presents only while it holds the floor with the chair's leave: when the program moves
    on, its presentation ends with it (the chair side's goes on). Returns the present_stop event,
    or None when no room (other than `keep_room_id`) presents."""
    state = LiveState.objects.select_for_update().filter(meeting_id=meeting.pk).first()
    if state is None or state.version_id is None or state.presenter_room_id in (None, keep_room_id):
        return None
    return _stop(meeting, state, room=state.presenter_room, reason="floor_ended")


def _stop(meeting: Meeting, state: LiveState, **record) -> dict:
    now = timezone.now()
    state.version, state.page, state.presenter, state.presenter_room = None, None, None, None
    state.presented_at, state.seq = now, state.seq + 1
    state.save(update_fields=["version", "page", "presenter", "presenter_room", "presented_at", "seq"])
    timeline.record(meeting, "present_stop", at=now, **record)
    return events.PresentStopEvent(meeting_id=meeting.pk, seq=state.seq, at=now).dump()


def get_sync_state(meeting: Meeting, role: str = access.ROOM) -> dict:
    """Where the meeting is, for a client that (re)joins the synced view:
    {"meeting_id", "seq", "agenda_item": <agenda_item event> | None, "present": <present event> | None}.
    A reader `role` that may not open the document on screen gets a neutral title in its place
    (the socket's readers, the chair side and invited rooms, open every document)."""
    state = LiveState.objects.select_related("current_item", "version__document").filter(meeting_id=meeting.pk).first()
    if state is None:
        return {"meeting_id": meeting.pk, "seq": 0, "agenda_item": None, "present": None}
    present = None
    if state.version_id:
        present = _present_event(meeting, state).dump()
        if role == access.REVIEWER and state.version.document.confidential:
            present["title"] = access.CONFIDENTIAL_TITLE
    return {
        "meeting_id": meeting.pk,
        "seq": state.seq,
        "agenda_item": _item_event(meeting, state).dump() if state.current_item_id else None,
        "present": present,
    }


def _item_event(meeting: Meeting, state: LiveState) -> events.AgendaItemEvent:
    item = state.current_item
    return events.AgendaItemEvent(
        meeting_id=meeting.pk,
        seq=state.seq,
        at=state.item_changed_at,
        item=events.ItemRef(id=item.id, position=item.position, title=item.title) if item else None,
    )


def _present_event(meeting: Meeting, state: LiveState) -> events.PresentEvent:
    v = state.version
    return events.PresentEvent(
        meeting_id=meeting.pk,
        seq=state.seq,
        at=state.presented_at,
        document_id=v.document_id,
        version_id=v.id,
        title=v.document.title,
        page=state.page,
        page_count=v.page_count,
        presenter=events.Presenter(user_id=state.presenter_id, room_id=state.presenter_room_id),
    )

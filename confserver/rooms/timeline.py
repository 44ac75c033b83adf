"""The meeting timeline: every control action with its time, and what each reader may read of it."""

from django.utils import timezone

from confserver import audit

from .models import Meeting, TimelineEvent


def record(meeting, kind: str, *, actor=None, room=None, at=None, **data) -> TimelineEvent:
    event = TimelineEvent.objects.create(
        meeting=meeting,
        kind=kind,
        actor=actor if actor and actor.pk else None,
        room=room,
        at=at or timezone.now(),
        data=data,
    )
    # Audit log (issue 13, item 3; confserver/audit/): every timeline event, with its actor.
    audit.record(
        f"meeting.{kind}",
        user=event.actor,
        meeting=event.meeting_id,
        at=event.at,
        data={"room_id": event.room_id, **{k: v for k, v in data.items() if k != "detail"}},
    )
    return event


def for_reader(user, meeting: Meeting) -> list[TimelineEvent]:
    """The timeline as `user` reads it (Forbidden with the rule's code when it may not): the chair
    side all of it; reviewers all of it but the titles of documents they may not open (confidential,
    or not released) and of agenda items not released; a room the same titles as a reviewer of the
    invited rooms, and only the rows about the meeting or itself (not other rooms' roll call). Only the
    chair side reads a recorder's error text (`detail`: server paths)."""
    from confserver.agenda import access  # the agenda builds on rooms, not the other way round

    role = access.reader_role(user, meeting)
    rows = list(meeting.timeline.select_related("actor"))
    if role == access.CHAIR:
        return rows
    if role == access.ROOM:
        rows = [e for e in rows if e.room_id in (None, user.room_id)]
    for e in rows:
        if "detail" in e.data:  # a recorder's error text (server paths) is for the chair side and admins only
            e.data = {k: v for k, v in e.data.items() if k != "detail"}
    readable = access.title_readable_ids(role, meeting)
    assert readable is not None  # None only for the chair side, answered above
    released = access.is_released(meeting)
    for e in rows:
        if "title" not in e.data or e.data["title"] is None:
            continue
        if "document_id" in e.data:
            if e.data["document_id"] not in readable:
                e.data = {**e.data, "title": access.redacted_title(meeting)}
        elif not released:
            e.data = {**e.data, "title": None}
    return rows

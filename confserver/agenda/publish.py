"""Publishing the agenda (gửi trước tài liệu): store what was sent, return the event
for the invited rooms, and call the webhook. Confidential documents are never
part of a publication."""

from django.db import transaction
from django.utils import timezone

from confserver.errors import DomainError
from confserver.rooms import timeline
from confserver.rooms.models import Meeting

from . import events, webhook
from .agenda import check_editable, items, lock_meeting
from .models import DocumentVersion, Publication


def file_url(version_id: int) -> str:
    return f"/api/agenda/versions/{version_id}/file"


def _snapshot(meeting: Meeting) -> tuple[list, list, int]:
    its = [
        events.PublishedItem(
            id=i.id,
            position=i.position,
            title=i.title,
            presenter_unit=i.presenter_unit.code if i.presenter_unit else None,
            planned_start=i.planned_start,
            planned_minutes=i.planned_minutes,
        )
        for i in items(meeting)
    ]
    current = (
        DocumentVersion.objects.filter(document__meeting=meeting, is_current=True)
        .select_related("document__item")
        .order_by("document__item__position", "document_id")
    )
    docs, hidden = [], 0
    for v in current:
        d = v.document
        if d.confidential:
            hidden += 1
            continue
        docs.append(
            events.PublishedDocument(
                document_id=d.id,
                version_id=v.id,
                version=v.number,
                title=d.title,
                item_id=d.item_id,
                page_count=v.page_count,
                sha256=v.sha256,
                url=file_url(v.id),
            )
        )
    return its, docs, hidden


@transaction.atomic
def publish(user, meeting: Meeting) -> tuple[Publication, dict]:
    """Publish the current agenda; returns the publication and the `agenda_published`
    event for the lead to send to the invited rooms."""
    meeting = lock_meeting(meeting.pk)
    check_editable(user, meeting)
    its, docs, hidden = _snapshot(meeting)
    if not its:
        raise DomainError("agenda_empty", "Chương trình họp chưa có nội dung nào.")
    number = (meeting.agenda_publications.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    now = timezone.now()
    event = events.AgendaPublishedEvent(
        meeting_id=meeting.id,
        publication=number,
        published_at=now,
        items=its,
        documents=docs,
        confidential_documents=hidden,
    ).dump()
    pub = Publication.objects.create(
        meeting=meeting, number=number, published_by=user, published_at=now, snapshot=event
    )
    timeline.record(meeting, "agenda_published", actor=user, at=now, publication=number, documents=len(docs))
    webhook.enqueue(_webhook_payload(meeting, event), publication=pub)
    return pub, event


def _webhook_payload(meeting: Meeting, event: dict) -> dict:
    # Outside systems get what the rooms get, minus the confidential count.
    return {
        "type": "agenda.published",
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "host_unit": meeting.host_unit.code,
            "scheduled_start": meeting.scheduled_start.isoformat(),
            "scheduled_end": meeting.scheduled_end.isoformat(),
        },
        "publication": event["publication"],
        "published_at": event["published_at"],
        "items": event["items"],
        "documents": event["documents"],
    }

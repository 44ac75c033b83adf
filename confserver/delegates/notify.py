"""Notifications to delegates through the outgoing webhook (issue 14, item 7): one call per delegate with a
phone or e-mail, for the messaging gateway configured there (AGENDA_WEBHOOK_URL) to send on.

- `delegate.scheduled`: the meeting's time or place was set or changed (a saved Meeting whose update touched
  scheduled_start, scheduled_end, test_run_at or place), with the new schedule;
- `delegate.papers_published`: the agenda and papers were published (a new agenda Publication), with the count
  of documents and the delegate's link to read them;
- the votes' `delegate.vote_opened` goes through `links.notify_all` too (confserver/votes/).
Hooked on the models' post_save so the meeting and agenda code need not know delegates exist.
"""

from django.conf import settings
from django.db.models.signals import post_save

SCHEDULE_FIELDS = {"scheduled_start", "scheduled_end", "test_run_at", "place"}


def base_url() -> str:
    """Where links point without a request at hand: the first allowed origin (as rooms/callback.py does
    for a proxy that hands daphne its own host name)."""
    origins = getattr(settings, "WS_ALLOWED_ORIGINS", None) or ["http://127.0.0.1:8000"]
    return origins[0].rstrip("/")


def _meeting_saved(sender, instance, created, update_fields=None, **kwargs):
    if created or not update_fields or not SCHEDULE_FIELDS & set(update_fields):
        return
    from . import links

    links.notify_all(instance, "scheduled", base_url(), changed=sorted(SCHEDULE_FIELDS & set(update_fields)))


def _publication_saved(sender, instance, created, **kwargs):
    if not created:
        return
    from . import links

    docs = len((instance.snapshot or {}).get("documents", []))
    links.notify_all(instance.meeting, "papers_published", base_url(), publication=instance.number, documents=docs)


def connect() -> None:
    from confserver.agenda.models import Publication
    from confserver.rooms.models import Meeting

    post_save.connect(_meeting_saved, sender=Meeting, dispatch_uid="delegates.meeting_saved")
    post_save.connect(_publication_saved, sender=Publication, dispatch_uid="delegates.publication_saved")

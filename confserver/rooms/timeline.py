"""The meeting timeline: every control action with its time."""
from django.utils import timezone

from .models import TimelineEvent


def record(meeting, kind: str, *, actor=None, room=None, at=None, **data) -> TimelineEvent:
    return TimelineEvent.objects.create(
        meeting=meeting, kind=kind, actor=actor if actor and actor.pk else None, room=room,
        at=at or timezone.now(), data=data,
    )

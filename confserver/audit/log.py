"""Writing audit events."""

from django.utils import timezone

from .context import client_address, current_request, user_agent
from .models import AuditEvent


def _user_of(request):
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "is_authenticated", False):
        user = getattr(request, "auth", None) if request is not None else None  # ninja: room token's terminal
    return user if getattr(user, "pk", None) else None


def record(
    action: str,
    *,
    user=None,
    obj=None,
    meeting=None,
    request=None,
    at=None,
    ip=None,
    username="",
    data: dict | None = None,
    **details,
) -> AuditEvent:
    """Append one event: `action` a dotted code ("auth.sign_in", "meeting.floor_granted"), `user` who did it
    (default: the request's), `obj` what it was done to, `meeting` the meeting it concerns (object or id);
    `data` and other keywords are the details kept with it (JSON)."""
    request = request if request is not None else current_request()
    if user is None:
        user = _user_of(request)
    meeting_id = getattr(meeting, "pk", meeting)
    return AuditEvent.objects.create(
        at=at or timezone.now(),
        user_id=user.pk if user is not None else None,
        username=(user.get_username() if user is not None else username)[:150],
        role=(getattr(user, "role", "") or "")[:16] if user is not None else "",
        action=action[:64],
        object_type=obj._meta.label_lower[:64] if obj is not None else "",
        object_id=str(obj.pk)[:64] if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        meeting_id=meeting_id,
        ip=ip or client_address(request),
        user_agent=user_agent(request),
        data={**(data or {}), **details},
    )

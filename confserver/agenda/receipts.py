"""Read receipts: which invited room opened which document version, first and last
time, and how often; the chair's report per room and per document.

`count` counts openings, not requests: a room turning pages fetches one image per
page, so fetches less than SESSION_GAP apart are one opening. For the same reason
a process writes a room's receipt at most once per WRITE_EVERY (last_opened_at is
that precise), keeping a database write off most page fetches.
"""

import threading
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.rooms import policy
from confserver.rooms.models import Meeting

from .models import Document, ReadReceipt

SESSION_GAP = timedelta(minutes=10)
WRITE_EVERY = 60.0  # seconds
# (room, version, uploaded_at) -> monotonic time of our last write; uploaded_at so
# that a reused id (restored database, rolled-back tests) is not taken for another.
_recent: dict[tuple, float] = {}
_recent_lock = threading.Lock()


def _due(room_id: int, version) -> bool:
    now, key = time.monotonic(), (room_id, version.pk, version.uploaded_at)
    with _recent_lock:
        last = _recent.get(key)
        if last is not None and now - last < WRITE_EVERY:
            return False
        if len(_recent) > 50_000:  # bound it; forgetting only costs an extra write
            _recent.clear()
        _recent[key] = now
        return True


def record_open(user, version) -> None:
    """Count one opening of `version` by the user's room (only room terminals leave receipts), or by the
    delegate when the reader is one (issue 14: receipts per person, confserver/delegates/receipts.py)."""
    delegate = getattr(user, "delegate", None)
    if delegate is not None:
        if _due(("delegate", delegate.pk), version):
            from confserver.delegates import receipts as delegate_receipts

            delegate_receipts.record_open(delegate, version)
        return
    if user.role != Role.TERMINAL or user.room_id is None or not _due(user.room_id, version):
        return
    now = timezone.now()
    # Update first: the common case is a room turning pages of a document it has opened.
    # In one UPDATE every expression sees the old row, so the gap is measured from the last fetch.
    bump = {
        "last_opened_at": now,
        "count": F("count") + Case(When(last_opened_at__lt=now - SESSION_GAP, then=Value(1)), default=Value(0)),
    }
    if ReadReceipt.objects.filter(version=version, room_id=user.room_id).update(**bump):
        return
    try:
        with transaction.atomic():
            ReadReceipt.objects.create(version=version, room_id=user.room_id, first_opened_at=now, last_opened_at=now)
    except IntegrityError:  # another request of the same room created it meanwhile
        ReadReceipt.objects.filter(version=version, room_id=user.room_id).update(**bump)


def report(user, meeting: Meeting) -> dict:
    """For the chair: per document (every version) the rooms that opened it and when,
    and per invited room how many of the meeting's current documents it opened."""
    policy.check_chair(user, meeting)
    docs = list(Document.objects.filter(meeting=meeting).prefetch_related("versions").order_by("id"))
    rows = (
        ReadReceipt.objects.filter(version__document__meeting=meeting)
        .select_related("room__unit", "version")
        .order_by("version_id", "first_opened_at")
    )
    by_version: dict[int, list[ReadReceipt]] = {}
    for r in rows:
        by_version.setdefault(r.version_id, []).append(r)
    parts = list(meeting.participations.select_related("room__unit").order_by("room__unit__path", "room_id"))
    total_rooms = len(parts)

    documents = []
    current_ids = set()
    for d in docs:
        for v in d.versions.all():
            if v.is_current:
                current_ids.add(v.id)
            opened = by_version.get(v.id, [])
            documents.append(
                {
                    "document_id": d.id,
                    "title": d.title,
                    "confidential": d.confidential,
                    "version_id": v.id,
                    "version": v.number,
                    "is_current": v.is_current,
                    "rooms_opened": len(opened),
                    "rooms_total": total_rooms,
                    "opened_by": [_receipt(r) for r in opened],
                }
            )
    opened_by_room: dict[int, list[ReadReceipt]] = {}
    for rs in by_version.values():
        for r in rs:
            opened_by_room.setdefault(r.room_id, []).append(r)
    rooms = []
    for p in parts:
        mine = opened_by_room.get(p.room_id, [])
        rooms.append(
            {
                "room_id": p.room_id,
                "room_name": p.room.name,
                "unit_code": p.room.unit.code,
                "unit_name": p.room.unit.name,
                "current_opened": sum(1 for r in mine if r.version_id in current_ids),
                "current_total": len(current_ids),
                "first_opened_at": min((r.first_opened_at for r in mine), default=None),
                "last_opened_at": max((r.last_opened_at for r in mine), default=None),
                "opened": [
                    {
                        "version_id": r.version_id,
                        "first_opened_at": r.first_opened_at,
                        "last_opened_at": r.last_opened_at,
                        "count": r.count,
                    }
                    for r in mine
                ],
            }
        )
    return {"meeting_id": meeting.id, "documents": documents, "rooms": rooms}


def _receipt(r: ReadReceipt) -> dict:
    return {
        "room_id": r.room_id,
        "room_name": r.room.name,
        "unit_code": r.room.unit.code,
        "first_opened_at": r.first_opened_at,
        "last_opened_at": r.last_opened_at,
        "count": r.count,
    }

"""Read receipts per delegate (agenda/receipts.py calls `record_open` when the reader is a delegate):
which delegate opened which document version, first and last time, how many openings."""

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from confserver.agenda.receipts import SESSION_GAP

from .models import Delegate, Receipt


def record_open(delegate: Delegate, version) -> None:
    now = timezone.now()
    bump = {
        "last_opened_at": now,
        "count": F("count") + Case(When(last_opened_at__lt=now - SESSION_GAP, then=Value(1)), default=Value(0)),
    }
    if Receipt.objects.filter(delegate=delegate, version=version).update(**bump):
        return
    try:
        with transaction.atomic():
            Receipt.objects.create(delegate=delegate, version=version, first_opened_at=now, last_opened_at=now)
    except IntegrityError:
        Receipt.objects.filter(delegate=delegate, version=version).update(**bump)


def report(meeting) -> list[dict]:
    """Per delegate: the versions they opened (for the chair)."""
    rows = Receipt.objects.filter(delegate__meeting=meeting).order_by("delegate_id", "first_opened_at")
    out: dict[int, list] = {}
    for r in rows:
        out.setdefault(r.delegate_id, []).append(
            {
                "version_id": r.version_id,
                "first_opened_at": r.first_opened_at,
                "last_opened_at": r.last_opened_at,
                "count": r.count,
            }
        )
    return [
        {"delegate_id": d.pk, "name": d.name, "opened": out.get(d.pk, [])}
        for d in Delegate.objects.filter(meeting=meeting).order_by("id")
    ]

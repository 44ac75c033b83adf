"""Demo data: Huế in one of its two structures, with accounts and one meeting."""

from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from confserver.accounts.models import Role, User

from .importer import ensure_default_rooms, import_file
from .meetings import Selection, create_meeting
from .models import AdminUnit, Meeting, Room

DATA = Path(__file__).parent / "data"
DEMO_PASSWORD = "demo12345"
HUE = "46"


@transaction.atomic
def load_demo(structure: str = "2025") -> dict:
    """Import Huế, give every unit a room and every room a terminal account; idempotent."""
    import_file(DATA / f"hue-{structure}.jsonl")
    ensure_default_rooms()
    hue = AdminUnit.objects.get(code=HUE)
    central = AdminUnit.objects.get(code="VN")
    accounts = {
        "quantri": dict(role=Role.ADMIN, unit=central, is_staff=True, is_superuser=True),
        "chutri-hue": dict(role=Role.HOST, unit=hue),
        "xemlai-hue": dict(role=Role.REVIEWER, unit=hue),
    }
    for username, fields in accounts.items():
        _account(username, **fields)
    # Room terminals sign in with their signed link, never a password.
    have = set(User.objects.filter(role=Role.TERMINAL).values_list("room_id", flat=True))
    terminals = [
        User(username=f"phong-{room.unit.code}-{room.id}", role=Role.TERMINAL, unit=room.unit, room=room)
        for room in Room.objects.filter(unit__path__startswith=hue.path).select_related("unit")
        if room.id not in have
    ]
    for t in terminals:
        t.set_unusable_password()
    User.objects.bulk_create(terminals)
    host = User.objects.get(username="chutri-hue")
    meeting = Meeting.objects.filter(host_unit=hue, title__startswith="Hội nghị trực tuyến (demo)").first()
    if meeting is None:
        start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        meeting = create_meeting(
            host,
            host_unit_code=HUE,
            title="Hội nghị trực tuyến (demo) triển khai nhiệm vụ quý IV",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            selection=Selection(),
        )
    return {"meeting": meeting, "accounts": list(accounts), "password": DEMO_PASSWORD}


def _account(username, **fields):
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user

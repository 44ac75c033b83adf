"""Shared fixtures: real database (SQLite or PostgreSQL per DATABASE_URL), real data files."""
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

DATA = Path(__file__).resolve().parent.parent / "confserver" / "rooms" / "data"


@pytest.fixture
def hue2025(db):
    """Huế in the 2025 structure (province → 40 communes), one room per unit."""
    from confserver.rooms.importer import ensure_default_rooms, import_file

    import_file(DATA / "hue-2025.jsonl")
    ensure_default_rooms()
    from confserver.rooms.models import AdminUnit

    return AdminUnit.objects.get(code="46")


@pytest.fixture
def hue_pre2025(db):
    """Huế in the pre-2025 structure (province → 9 districts → 134 communes)."""
    from confserver.rooms.importer import ensure_default_rooms, import_file

    import_file(DATA / "hue-pre2025.jsonl")
    ensure_default_rooms()
    from confserver.rooms.models import AdminUnit

    return AdminUnit.objects.get(code="46")


@pytest.fixture
def make_user(db):
    from confserver.accounts.models import User

    def make(username, role, unit=None, room=None):
        return User.objects.create_user(username=username, password="pw-123456", role=role, unit=unit, room=room)

    return make


@pytest.fixture
def when():
    start = timezone.now() + timedelta(hours=1)
    return start, start + timedelta(hours=2)

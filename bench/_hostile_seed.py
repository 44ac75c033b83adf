"""Demo data for bench/hostile.py, run in the servers' environment: the national units with a room and
a terminal account each, a meeting of the first N rooms in its test run, and a host session. Prints
{"meeting_id", "host_cookie"}; the room links come from the product's own API afterwards
(GET /api/meetings/{id}/room-tokens), whatever form they take in the tree under test."""

import argparse
import json
import os
import sys
from pathlib import Path


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from confserver.accounts.models import Role, User
    from confserver.rooms import meetings
    from confserver.rooms.importer import ensure_default_rooms, import_file
    from confserver.rooms.models import AdminUnit, Room

    p = argparse.ArgumentParser()
    p.add_argument("--rooms", type=int, default=100)
    args = p.parse_args()
    import_file(settings.BASE_DIR / "confserver" / "rooms" / "data" / "units-2025.jsonl")
    ensure_default_rooms()
    central = AdminUnit.objects.get(code="VN")
    host = User.objects.create_user("seed-host", "", "mat-khau-dung-cua-bench", role=Role.HOST, unit=central)
    rooms = list(Room.objects.exclude(unit=central).select_related("unit").order_by("unit__path")[: args.rooms])
    User.objects.bulk_create(
        [User(username=f"seed-t-{r.id}", role=Role.TERMINAL, unit_id=r.unit_id, room=r) for r in rooms], batch_size=1000
    )
    start = timezone.now()
    selection = meetings.Selection(mode="units", unit_codes=tuple(r.unit.code for r in rooms))
    m = meetings.create_meeting(
        host,
        host_unit_code="VN",
        title="Thử tấn công",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=3),
        selection=selection,
    )
    meetings.change_state(host, m.id, "test_run")
    session = SessionStore()
    session[SESSION_KEY] = str(host.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = host.get_session_auth_hash()
    session.create()
    print(json.dumps({"meeting_id": m.id, "host_cookie": session.session_key}))


if __name__ == "__main__":
    main()

"""Seed a throwaway database with a meeting of N rooms and print what clients need (JSON).

    python -m confserver.testing.seed --rooms 2000 --structure 2025

Imports the national unit list, gives every unit a room and every room a
terminal, creates a meeting hosted by the central unit for the first N rooms
(plus the chair's) in the test run, and prints the meeting id, a host session
cookie and the room tokens.
"""

import argparse
import json
import os


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from confserver.accounts.models import Role, User
    from confserver.rooms import meetings, tokens
    from confserver.rooms.importer import ensure_default_rooms, import_file
    from confserver.rooms.models import AdminUnit, Room

    p = argparse.ArgumentParser()
    p.add_argument("--rooms", type=int, default=160)
    p.add_argument("--structure", default="2025")
    p.add_argument("--state", choices=("scheduled", "test_run"), default="test_run")
    args = p.parse_args()

    data = settings.BASE_DIR / "confserver" / "rooms" / "data" / f"units-{args.structure}.jsonl"
    import_file(data)
    ensure_default_rooms()
    central = AdminUnit.objects.get(code="VN")
    host, _ = User.objects.get_or_create(username="seed-host", defaults={"role": Role.HOST, "unit": central})
    rooms = list(Room.objects.exclude(unit=central).order_by("unit__path")[: args.rooms])
    have = set(User.objects.filter(role=Role.TERMINAL).values_list("room_id", flat=True))
    User.objects.bulk_create(
        [
            User(username=f"seed-t-{r.id}", role=Role.TERMINAL, unit_id=r.unit_id, room=r)
            for r in rooms
            if r.id not in have
        ],
        batch_size=1000,
    )
    start = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="VN",
        title="Tải thử",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=3),
        selection=meetings.Selection(mode="units", unit_codes=tuple(r.unit.code for r in rooms)),
    )
    if args.state == "test_run":
        meetings.change_state(host, m.id, "test_run")
    session = SessionStore()
    session[SESSION_KEY] = str(host.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = host.get_session_auth_hash()
    session.create()
    terminals = list(User.objects.filter(role=Role.TERMINAL, room__in=rooms).order_by("room__unit__path"))
    links = tokens.links_for(m, terminals, by=host)
    print(
        json.dumps(
            {
                "meeting_id": m.id,
                "host_cookie": session.session_key,
                "rooms": [{"room_id": t.room_id, "token": tokens.sign(links[t.pk])} for t in terminals],
            }
        )
    )


if __name__ == "__main__":
    main()

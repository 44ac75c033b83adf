"""Seed for bench/votes.py: on the meeting `confserver.testing.seed` made, N checked-in delegates (half in the hall,
half in the meeting's rooms) with their links, and one open vote. Prints JSON: vote_id, tokens."""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    from django.utils import timezone

    from confserver.accounts.models import User
    from confserver.delegates import tokens
    from confserver.delegates.models import Delegate
    from confserver.rooms.models import Meeting
    from confserver.votes import voting

    p = argparse.ArgumentParser()
    p.add_argument("--meeting", type=int, required=True)
    p.add_argument("--delegates", type=int, default=500)
    p.add_argument("--secret", action="store_true")
    p.add_argument("--limit-s", type=int, default=120)
    args = p.parse_args()
    m = Meeting.objects.get(pk=args.meeting)
    rooms = list(m.participations.exclude(room__unit_id=m.host_unit_id).values_list("room_id", flat=True))
    now = timezone.now()
    ds = Delegate.objects.bulk_create(
        [
            Delegate(
                meeting=m,
                name=f"Đại biểu {i + 1}",
                seat="room" if i % 2 and rooms else "hall",
                room_id=rooms[i % len(rooms)] if i % 2 and rooms else None,
                checked_in_at=now,
                checked_in_by="clerk" if i % 2 and rooms else "qr",
            )
            for i in range(args.delegates)
        ]
    )
    host = User.objects.get(username="seed-host")
    v = voting.open_vote(
        host,
        m,
        question="Thông qua nghị quyết (tải thử)",
        agenda_item_id=None,
        secret=args.secret,
        rule="half_all",
        limit_s=args.limit_s,
    )
    print(json.dumps({"vote_id": v.id, "tokens": [tokens.issue(d) for d in ds]}))


if __name__ == "__main__":
    main()

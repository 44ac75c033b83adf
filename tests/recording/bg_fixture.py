"""Run by test_finalize_background in a throwaway database: an ended meeting with two short recordings; prints
its id. Not a test."""

import json
from datetime import timedelta

import django

django.setup()

from django.utils import timezone  # noqa: E402

from confserver.rooms.models import AdminUnit, Meeting, MeetingState  # noqa: E402
from tests.recording.test_export import record  # noqa: E402


def main():
    unit = AdminUnit.objects.create(code="T6", name="Tỉnh thử dựng nền", division_type="tinh", level=1, path="T6.")
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    meeting = Meeting.objects.create(
        host_unit=unit,
        title="Họp thử dựng nền",
        state=MeetingState.ENDED,
        scheduled_start=t0,
        scheduled_end=t0 + timedelta(hours=1),
        started_at=t0,
        ended_at=t0 + timedelta(seconds=30),
    )
    record(meeting, t0, 0, 4, floor=(1000, 2))
    record(meeting, t0 + timedelta(seconds=10), 10_000, 4)
    print(json.dumps({"meeting": meeting.id}))


if __name__ == "__main__":
    main()

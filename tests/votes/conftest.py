"""A meeting in its test run with delegates in the hall and in a remote room, and a second meeting."""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from confserver.accounts.models import Role


@dataclass
class Hall:
    meeting: object
    host: object
    room: object  # the remote room (commune 19768)
    present: object  # delegate in the hall, checked in
    absent: object  # delegate in the hall, not checked in
    remote: object  # delegate attached to the remote room, checked in
    other: object  # a checked-in delegate of another meeting
    tokens: dict


def make_meeting(host, title="Kỳ họp HĐND", codes=("19768",)):
    from confserver.rooms import meetings
    from confserver.rooms.models import Meeting, MeetingState

    start = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title=title,
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=3),
        selection=meetings.Selection(mode="units", unit_codes=codes),
    )
    Meeting.objects.filter(pk=m.pk).update(state=MeetingState.TEST_RUN)
    m.refresh_from_db()
    return m


def delegate(meeting, name, *, room=None, checked_in=True):
    from confserver.delegates.models import Delegate

    return Delegate.objects.create(
        meeting=meeting,
        name=name,
        position="Đại biểu",
        unit="HĐND",
        seat="room" if room else "hall",
        room=room,
        checked_in_at=timezone.now() if checked_in else None,
        checked_in_by=("clerk" if room else "qr") if checked_in else "",
    )


@pytest.fixture
def hall(hue2025, make_user):
    from confserver.delegates import tokens
    from confserver.rooms.models import Room

    host = make_user("host", Role.HOST, unit=hue2025)
    m = make_meeting(host)
    room = Room.objects.get(unit__code="19768")
    other_meeting = make_meeting(host, "Cuộc họp khác")
    h = Hall(
        m,
        host,
        room,
        delegate(m, "Nguyễn Văn An"),
        delegate(m, "Trần Thị Bình", checked_in=False),
        delegate(m, "Lê Văn Cường", room=room),
        delegate(other_meeting, "Phạm Thị Dung"),
        {},
    )
    h.tokens = {d.pk: tokens.issue(d) for d in (h.present, h.absent, h.remote, h.other)}
    return h


def post(client, url, body=None, token=None):
    extra = {"HTTP_AUTHORIZATION": f"Delegate {token}"} if token else {}
    return client.post(url, json.dumps(body or {}), content_type="application/json", **extra)


def snapshot(meeting_id):
    """Everything a refused ballot must leave as it was."""
    from confserver.rooms.models import TimelineEvent
    from confserver.votes.models import Ballot, SecretTally, Vote

    return (
        sorted(Ballot.objects.filter(vote__meeting_id=meeting_id).values_list("id", "delegate_id", "choice", "key")),
        sorted(SecretTally.objects.filter(vote__meeting_id=meeting_id).values_list("id", "choice", "count")),
        sorted(Vote.objects.filter(meeting_id=meeting_id).values_list("id", "state", "closed_at")),
        TimelineEvent.objects.filter(meeting_id=meeting_id).count(),
    )

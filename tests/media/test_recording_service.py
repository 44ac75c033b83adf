"""Recording through the media service in this process (the embedded default): start and stop, rows in the
database, a recorder whose queue overflows, the end of a meeting, recovery before the first recording."""

import asyncio
import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from confserver.media import local
from confserver.media.bot import Bot, close_to
from confserver.recording.models import Segment, SegmentState
from confserver.recording.segments import sha256_file
from tests.recording.media import DirSink

from .conftest import until
from .recorded import read, strictly_increasing, tone_hz

pytestmark = pytest.mark.django_db(transaction=True)

RED, BLUE = (220, 30, 30), (30, 40, 220)
CHAIR, A, B = 1, 2, 3
LECTURE = {"mode": "lecture", "chair_room": CHAIR, "source_room": None}
FLOOR_A = {"mode": "floor", "chair_room": CHAIR, "source_room": A}


@pytest.fixture
def meeting(db):
    from confserver.rooms.models import AdminUnit, Meeting

    unit = AdminUnit.objects.create(code="T8", name="Tỉnh thử ghi hình", division_type="tinh", level=1, path="T8.")
    start = timezone.now()
    return Meeting.objects.create(
        host_unit=unit,
        title="Họp thử ghi hình",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        state="live",
    )


@pytest.fixture
def recording(settings, tmp_path, monkeypatch):
    """Recordings under tmp; the failure and end-of-meeting hooks observed; relays closed after."""
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    settings.MEDIA_ICE_HOSTS = ["127.0.0.1"]  # the bots offer loopback only
    settings.RECORDING_KEYFRAME_S = 2.0
    settings.RECORDING_SEGMENT_S = 300
    seen = {"failures": [], "ended": [], "loop_threads": set()}

    async def failed(meeting_id, code, detail):
        seen["loop_threads"].add(threading.get_ident())
        seen["failures"].append((meeting_id, code, detail))

    monkeypatch.setattr(local, "on_recording_failed", failed)
    monkeypatch.setattr(local, "after_meeting", lambda meeting_id: seen["ended"].append(meeting_id))
    monkeypatch.setattr(local, "_recovered", True)  # recovery has its own test
    return seen


@pytest.fixture
async def bots():
    made: list[Bot] = []

    def make(*args, **kwargs) -> Bot:
        made.append(Bot(*args, **kwargs))
        return made[-1]

    yield make
    await asyncio.wait_for(local.close_all(), 30)
    for bot in made:
        await asyncio.wait_for(bot.close(), 10)


async def publish(meeting_id, room_id, bot, program):
    await bot.accept(await local.open_peer(meeting_id, room_id, await bot.offer(), program, set()))
    await bot.wait_connected(10)


def in_thread(fn):
    """The ORM from the test's event loop; the helper thread's connection closed after (PostgreSQL's
    test database is dropped at the end, which waits for every session)."""

    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run)


@in_thread
def rows(meeting_id):
    return list(Segment.objects.filter(meeting_id=meeting_id).order_by("index"))


async def test_start_before_any_room_then_floor_then_stop_writes_closed_chained_segments(
    meeting, recording, bots, settings
):
    mid = meeting.id
    await local.start_recording(mid, LECTURE)  # the meeting went live; no room has connected yet
    await local.start_recording(mid, LECTURE)  # idempotent
    assert mid in local._relays and local._relays[mid].recording
    chair = bots("chair", BLUE, size=(320, 240), tone_hz=300, extra_audio=1)
    a = bots("A", RED, size=(480, 272), tone_hz=700, extra_audio=1)
    await publish(mid, CHAIR, chair, LECTURE)
    await publish(mid, A, a, LECTURE)
    await asyncio.sleep(2.5)
    await local.on_program(mid, FLOOR_A)
    await asyncio.sleep(3)
    await local.stop_recording(mid)
    await local.stop_recording(mid)  # idempotent
    assert not local._relays[mid].recording

    (row,) = await rows(mid)
    assert row.state == SegmentState.CLOSED and row.previous_sha256 == ""
    path = settings.RECORDINGS_ROOT / row.path
    assert row.sha256 == sha256_file(path) and row.bytes == path.stat().st_size
    assert row.ended_at - row.started_at >= timedelta(seconds=4)
    rec = read(path)
    assert rec.first_video_packet_key
    assert strictly_increasing([ms for ms, _, _ in rec.video])
    sizes = {size for _, size, colour in rec.video}
    assert sizes == {(320, 240), (480, 272)}
    assert close_to(rec.video[0][2], BLUE) and close_to(rec.video[-1][2], RED)
    assert tone_hz(rec.audio[0], 0, 10_000) == 300
    assert tone_hz(rec.audio[1], 0, 10_000) == 700

    # recording again adds a segment to the chain; the end of the meeting closes it, then finalises
    await local.start_recording(mid, FLOOR_A)
    await until(lambda: local._relays[mid]._recorder.video.frames >= 10, 5, "frames recorded again")
    await local.end_meeting(mid)
    assert mid not in local._relays and mid not in local._recorders
    assert recording["ended"] == [mid] and recording["failures"] == []
    first, second = await rows(mid)
    assert second.state == SegmentState.CLOSED and second.previous_sha256 == first.sha256
    assert read(settings.RECORDINGS_ROOT / second.path).first_video_packet_key


async def test_a_recorder_whose_queue_overflows_stops_and_the_meeting_goes_on(
    meeting, recording, bots, settings, monkeypatch, tmp_path
):
    mid = meeting.id
    hang = threading.Event()  # a disk that does not answer
    sinks = []
    monkeypatch.setattr(local, "sink_for", lambda meeting_id: sinks.append(DirSink(tmp_path, block=hang)) or sinks[-1])
    settings.RECORDING_QUEUE_PACKETS = 50
    chair = bots("chair", BLUE, extra_audio=1)
    a = bots("A", RED, extra_audio=1)
    await publish(mid, CHAIR, chair, FLOOR_A)
    await publish(mid, A, a, FLOOR_A)
    await local.start_recording(mid, FLOOR_A)

    await until(lambda: recording["failures"], 10, "the failure to be reported")
    assert [(m, code) for m, code, _ in recording["failures"]] == [(mid, "queue_full")]
    assert recording["loop_threads"] == {threading.get_ident()}, "told on the relay's event loop"
    assert not local._relays[mid].recording and mid not in local._recorders
    seen = chair.video[0].frames
    await until(lambda: chair.video[0].frames > seen + 15, 5, "forwarding to go on")
    hang.set()
    await until(lambda: not local._background, 15, "the failed recorder's thread to end")
    assert sinks[0].closed_segments == [] or sinks[0].closed_segments[0].size > 0

    # the chair can start it again
    settings.RECORDING_QUEUE_PACKETS = 3000
    await local.start_recording(mid, FLOOR_A)
    await until(lambda: local._relays[mid]._recorder.video.frames >= 10, 5, "recording again")
    await local.end_meeting(mid)
    assert len(recording["failures"]) == 1 and recording["ended"] == [mid]
    assert len(sinks) == 2 and len(sinks[1].closed_segments) == 1


async def test_segments_left_writing_are_recovered_once_before_the_first_recording(
    meeting, recording, bots, settings, monkeypatch
):
    mid = meeting.id
    settings.RECORDINGS_ROOT.mkdir(parents=True)
    left = await in_thread(Segment.objects.create)(
        meeting_id=mid, index=0, started_at=timezone.now(), path=f"{mid}/00000-killed.webm"
    )
    monkeypatch.setattr(local, "_recovered", False)
    monkeypatch.setattr(local, "_recovery", None)
    await asyncio.gather(local.start_recording(mid, LECTURE), local.start_recording(mid, LECTURE))
    await in_thread(left.refresh_from_db)()
    assert left.state == SegmentState.RECOVERED
    chair = bots("chair", BLUE, extra_audio=1)
    await publish(mid, CHAIR, chair, LECTURE)
    await until(lambda: local._relays[mid]._recorder.video.frames >= 5, 5, "frames recorded")
    await local.stop_recording(mid)
    old, new = await rows(mid)
    assert old.id == left.id and new.state == SegmentState.CLOSED and new.index == 1
    assert local._recovered


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's in-memory test database is never closed")
async def test_the_writer_thread_hands_its_database_connection_back_between_segments(
    meeting, recording, bots, monkeypatch
):
    """A recording lasts hours on a thread of its own: holding a pooled connection all along, 20 meetings
    took PostgreSQL's pool of DB_POOL_MAX (20) from the relay process."""
    from confserver.recording.store import DatabaseSink

    held = []

    class Watched(DatabaseSink):
        def opened(self, started_at):
            path = super().opened(started_at)
            held.append(connection.connection is not None)  # on the writer thread
            return path

    monkeypatch.setattr(local, "sink_for", Watched)
    chair = bots("chair", BLUE, extra_audio=1)
    await publish(meeting.id, CHAIR, chair, LECTURE)
    await local.start_recording(meeting.id, LECTURE)
    await until(lambda: held, 10, "a segment to open")
    await local.stop_recording(meeting.id)
    assert held == [False]
    (row,) = await rows(meeting.id)
    assert row.state == SegmentState.CLOSED

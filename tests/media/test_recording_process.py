"""Recording in a relay process (`manage.py run_relay`) reached over the channel layer: the production shape.

The test process plays a daphne worker: its media service calls go through Redis to the relay process, which
shares the test database and RECORDINGS_ROOT. When it starts, the relay recovers the segments its own meetings
left `writing`, and only those (another relay process may be writing the others).
"""

import os
import select
import subprocess
import uuid
import zlib
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from confserver.media import service
from confserver.media.bot import Bot, close_to
from confserver.recording.models import Segment, SegmentState
from confserver.recording.segments import sha256_file
from confserver.testing import live

from .conftest import until
from .recorded import read, strictly_increasing, tone_hz

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="relay processes are reached through Redis and share the PostgreSQL database",
    ),
    pytest.mark.django_db(transaction=True),
]

RED, BLUE = (220, 30, 30), (30, 40, 220)
CHAIR, A = 11, 12


def meeting_on(channel: str, channels: list[str]):
    """A live meeting that MEDIA_RELAY_CHANNELS gives to `channel`."""
    from confserver.rooms.models import AdminUnit, Meeting

    unit, _ = AdminUnit.objects.get_or_create(
        code="T7", defaults=dict(name="Tỉnh thử relay", division_type="tinh", level=1, path="T7.")
    )
    start = timezone.now()
    while True:
        m = Meeting.objects.create(
            host_unit=unit,
            title="Họp thử ghi hình",
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=1),
            state="live",
        )
        if channels[zlib.crc32(str(m.id).encode()) % len(channels)] == channel:
            return m


@pytest.fixture
def relay_process(settings, tmp_path):
    mine, other = f"relay-rec-{uuid.uuid4().hex[:8]}", f"relay-other-{uuid.uuid4().hex[:8]}"
    channels = [mine, other]
    settings.MEDIA_RELAY_CHANNELS = channels
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    ours, theirs = meeting_on(mine, channels), meeting_on(other, channels)
    left = [
        Segment.objects.create(meeting=m, index=0, started_at=timezone.now(), path=f"{m.id}/00000-left.webm")
        for m in (ours, theirs)
    ]
    db = settings.DATABASES["default"]
    env = live.server_env(
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        [0],
        MEDIA_RELAY_CHANNELS=",".join(channels),
        RECORDINGS_ROOT=settings.RECORDINGS_ROOT,
        RECORDING_KEYFRAME_S=2,
        DB_POOL_MIN=1,
        DB_POOL_MAX=4,
        CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    log = open(tmp_path / "relay.log", "w+")
    proc = subprocess.Popen(
        [live.PYTHON, str(live.ROOT / "manage.py"), "run_relay", "--channel", mine],
        env=env,
        cwd=live.ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    connection.close()
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 90)
        line = proc.stdout.readline() if ready else ""  # printed once recovery is done, before serving
        assert line.startswith("relay on channel"), (line, (tmp_path / "relay.log").read_text()[-3000:])
        yield ours, left
    finally:
        proc.terminate()
        proc.wait(20)
        log.seek(0)
        print(log.read()[-5000:])
        log.close()


async def test_recording_starts_and_stops_over_the_channel_layer(relay_process, settings):
    meeting, (left_ours, left_theirs) = relay_process
    mid = meeting.id
    program = {"mode": "floor", "chair_room": CHAIR, "source_room": A}
    chair = Bot("chair", BLUE, size=(320, 240), tone_hz=300, extra_audio=1)
    a = Bot("A", RED, size=(480, 272), tone_hz=700, extra_audio=1)
    try:
        await service.start_recording(mid, {"mode": "lecture", "chair_room": CHAIR, "source_room": None})
        for room, bot in ((CHAIR, chair), (A, a)):
            await bot.accept(await service.open_peer(mid, room, await bot.offer(), program, set()))
            await bot.wait_connected(15)
        await service.on_program(mid, program)
        await until(lambda: chair.video[0].frames >= 30, 10, "the chair to see A")
        await service.start_recording(mid, program)  # idempotent over the channel layer too
        await until(lambda: chair.video[0].frames >= 75, 10, "a few more seconds")
        await service.stop_recording(mid)  # returns once the relay process closed the segment
        await service.stop_recording(mid)
    finally:
        await chair.close()
        await a.close()

    rows, theirs = await segments(mid, left_theirs.id)
    assert [r.id for r in rows[:1]] == [left_ours.id] and rows[0].state == SegmentState.RECOVERED
    (row,) = rows[1:]
    assert row.state == SegmentState.CLOSED and row.index == 1
    path = settings.RECORDINGS_ROOT / row.path
    assert row.sha256 == sha256_file(path)
    rec = read(path)
    assert rec.first_video_packet_key and strictly_increasing([ms for ms, _, _ in rec.video])
    # the chair's picture (the lecture) until A came and had the floor, then A's
    assert {size for _, size, _ in rec.video} <= {(320, 240), (480, 272)}
    assert rec.video[-1][1] == (480, 272) and close_to(rec.video[-1][2], RED)
    gaps = [q - p for p, q in zip(rec.keyframes_ms, rec.keyframes_ms[1:])]
    assert gaps and max(gaps) <= 3000, rec.keyframes_ms
    assert tone_hz(rec.audio[0], 0, 60_000) == 300 and tone_hz(rec.audio[1], 0, 60_000) == 700
    assert theirs.state == SegmentState.WRITING, "the other relay's meeting was left alone"


@sync_to_async
def segments(meeting_id, other_id):
    try:
        return list(Segment.objects.filter(meeting_id=meeting_id).order_by("index")), Segment.objects.get(id=other_id)
    finally:
        connection.close()

"""The whole meeting as one WebM (issue 10, item 9): built by finalize.run from real segments written by the
product's writer (VP8 + two Opus tracks of tones), decoded end to end with PyAV (and ffmpeg when present); one
video and one audio track, a real gap kept, duration within 1 s of the wall-clock span; rebuilt when the
segments change; a changed segment left out and named; verify_recording checks the file's hash."""

import functools
import os
import shutil
import subprocess
from datetime import timedelta
from io import StringIO

import av
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from confserver.recording import export, finalize, store
from confserver.recording.models import ExportState, RecordingExport, Segment
from confserver.recording.segments import SegmentedWriter, sha256_file
from confserver.rooms.models import AdminUnit, Meeting, MeetingState

from .media import FPS, encode_video
from .tones import decoded, power, source, tone

CHAIR_HZ, FLOOR_HZ = 440, 1000
GAP_FROM, GAP_TO = 4.0, 10.0  # the chair stopped recording at 4 s and restarted at 10 s


@functools.cache
def program(media_ms, seconds, floor=None):
    """Encoded once per test run: VP8 at 320x240, the chair's tone, the floor's tone from floor[0] for floor[1] s."""
    first = media_ms * FPS // 1000
    packets = encode_video(320, 240, seconds * FPS, first) + tone(CHAIR_HZ, seconds, start_ms=media_ms)
    if floor:
        packets += source(FLOOR_HZ, floor[1], start_ms=media_ms + floor[0])
    return tuple(packets)


def record(meeting, wall_start, media_ms, seconds, floor=None):
    """One recording run (start → stop) of `seconds`, through the product's writer and database sink."""
    packets = program(media_ms, seconds, floor)
    writer = SegmentedWriter(store.DatabaseSink(meeting.id), segment_s=3600, clock=lambda: wall_start.timestamp())
    for p in sorted(packets, key=lambda p: (p.pts * p.time_base, p.kind != "video")):
        writer.write(p)
    return writer.close()


@pytest.fixture
def recorded(db, settings, tmp_path):
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    unit = AdminUnit.objects.create(code="T8", name="Tỉnh thử tệp gộp", division_type="tinh", level=1, path="T8.")
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    meeting = Meeting.objects.create(
        host_unit=unit,
        title="Họp thử tệp gộp",
        state=MeetingState.ENDED,
        scheduled_start=t0,
        scheduled_end=t0 + timedelta(hours=1),
        started_at=t0,
        ended_at=t0 + timedelta(seconds=20),
    )
    record(meeting, t0, 0, 4, floor=(1000, 2))  # the floor's room speaks from 1 s to 3 s
    record(meeting, t0 + timedelta(seconds=GAP_TO), 10_000, 4)
    return meeting, t0, settings.RECORDINGS_ROOT


def decode_all(path):
    """Every frame decoded (an error raises); per kind the frame times in s."""
    times = {"video": [], "audio": []}
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        for frame in c.decode(*c.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            times[kind].append(float(frame.pts * frame.time_base))
        duration = c.duration / 1e6
    return kinds, times, duration


def test_one_file_decodes_end_to_end_with_one_audio_track_both_voices_and_the_gap_kept(recorded):
    meeting, t0, root = recorded
    row = finalize.run(meeting.id)
    assert row.state == ExportState.READY, row.error
    path = root / row.path
    assert row.sha256 == sha256_file(path) and row.bytes == path.stat().st_size and row.segments == 2
    assert row.skipped == [] and row.mix_s is not None and row.remux_s is not None

    kinds, times, duration = decode_all(path)
    assert kinds == ["video", "audio"]
    segs = list(Segment.objects.filter(meeting=meeting).order_by("index"))
    span = (segs[-1].ended_at - segs[0].started_at).total_seconds()
    assert abs(duration - span) <= 1.0 and abs(row.duration_ms / 1000 - span) <= 1.0
    for kind in ("video", "audio"):
        assert all(a < b for a, b in zip(times[kind], times[kind][1:])), kind
    video = times["video"]
    assert video[0] < 0.05 and not [t for t in video if GAP_FROM + 0.1 < t < GAP_TO - 0.05]
    assert min(t for t in video if t > GAP_FROM + 0.1) == pytest.approx(GAP_TO, abs=0.05)
    assert len(video) == 2 * 4 * FPS
    samples, tracks = decoded(path)
    assert tracks == 1
    assert power(samples, 2.0, FLOOR_HZ) > 0.005 and power(samples, 2.0, CHAIR_HZ) > 0.005  # both voices
    assert power(samples, 0.5, CHAIR_HZ) > 0.005 and power(samples, 12.0, CHAIR_HZ) > 0.005
    assert power(samples, 12.0, FLOOR_HZ) < 1e-4
    assert max(abs(x) for x in samples[int(5.0 * 48000) : int(9.5 * 48000)]) < 1e-3  # the gap is silent
    if shutil.which("ffmpeg"):
        out = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0 and out.stderr == ""


def test_up_to_date_is_kept_and_a_changed_recording_is_rebuilt(recorded):
    meeting, t0, root = recorded
    first = finalize.run(meeting.id)
    mixes = sorted((root / str(meeting.id) / "mix").iterdir())
    stamps = [p.stat().st_mtime_ns for p in mixes]
    again = finalize.run(meeting.id)
    assert (again.path, again.finished_at, again.sha256) == (first.path, first.finished_at, first.sha256)

    record(meeting, t0 + timedelta(seconds=30), 30_000, 2)  # the chair recorded again
    assert not finalize.up_to_date(RecordingExport.objects.get(meeting=meeting))
    rebuilt = finalize.run(meeting.id)
    assert rebuilt.state == ExportState.READY and rebuilt.segments == 3 and rebuilt.path != first.path
    assert not (root / first.path).exists() and (root / rebuilt.path).is_file()
    assert [p.stat().st_mtime_ns for p in mixes] == stamps  # each segment is mixed once
    _, times, duration = decode_all(root / rebuilt.path)
    assert abs(duration - 32.0) <= 1.0


def test_a_changed_segment_is_left_out_and_named(recorded):
    meeting, t0, root = recorded
    seg = Segment.objects.get(meeting=meeting, index=0)
    data = bytearray((root / seg.path).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / seg.path).write_bytes(bytes(data))
    row = finalize.run(meeting.id)
    assert row.state == ExportState.READY and row.segments == 1
    assert row.skipped == [
        {"index": 0, "segment_id": seg.id, "reason": "tampered", "label": "bị sửa đổi (mã băm khác)"}
    ]
    assert not (root / export.mix_path(seg)).exists()  # nothing made from a changed file
    _, times, duration = decode_all(root / row.path)
    assert times["video"][0] < 0.05 and abs(duration - 4.0) <= 1.0


def test_nothing_usable_and_unreadable_files_fail_visibly(recorded):
    meeting, t0, root = recorded
    for seg in Segment.objects.filter(meeting=meeting):
        (root / seg.path).unlink()
    row = finalize.run(meeting.id)
    assert row.state == ExportState.FAILED and "không có đoạn ghi hình nào dùng được" in row.error

    seg = Segment.objects.get(meeting=meeting, index=0)  # a file that is not a WebM, with its hash recorded
    (root / seg.path).write_bytes(b"not a webm at all" * 100)
    Segment.objects.filter(pk=seg.pk).update(sha256=sha256_file(root / seg.path))
    row = finalize.run(meeting.id)
    assert row.state == ExportState.FAILED and row.error.startswith("Không dựng được tệp gộp")
    assert row.finished_at is not None and row.worker_pid is not None


def test_a_segment_closed_during_the_build_is_included_by_building_again(recorded, monkeypatch):
    meeting, t0, root = recorded
    real_build, calls = export.build, []

    def build_while_the_last_segment_closes(meeting_id, report=None):
        calls.append(1)
        built = real_build(meeting_id, report)
        if len(calls) == 1:  # the relay closes one more segment while this build runs
            record(meeting, t0 + timedelta(seconds=30), 30_000, 2)
        return built

    monkeypatch.setattr(export, "build", build_while_the_last_segment_closes)
    row = finalize.run(meeting.id)
    assert len(calls) == 2 and row.state == ExportState.READY and row.segments == 3
    assert finalize.up_to_date(row)


def test_a_meeting_without_recording_gets_no_export_row(db, settings, tmp_path):
    settings.RECORDINGS_ROOT = tmp_path
    unit = AdminUnit.objects.create(code="T5", name="Tỉnh không ghi", division_type="tinh", level=1, path="T5.")
    now = timezone.now()
    m = Meeting.objects.create(
        host_unit=unit,
        title="Không ghi hình",
        state=MeetingState.ENDED,
        scheduled_start=now,
        scheduled_end=now + timedelta(hours=1),
    )
    assert finalize.run(m.id) is None and not RecordingExport.objects.exists()
    out = StringIO()
    call_command("finalize_recording", str(m.id), stdout=out)
    assert "không có bản ghi hình" in out.getvalue()


def test_one_builder_at_a_time_and_a_silent_one_is_replaced(recorded):
    meeting, t0, root = recorded
    row = finalize.row_for(meeting.id)
    RecordingExport.objects.filter(pk=row.pk).update(
        state=ExportState.RUNNING, worker_pid=1, heartbeat_at=timezone.now()
    )
    assert finalize.claim(meeting.id) is None
    assert finalize.run(meeting.id) is None
    RecordingExport.objects.filter(pk=row.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert finalize.run(meeting.id).state == ExportState.READY


def verify_output(meeting):
    out = StringIO()
    try:
        call_command("verify_recording", str(meeting.id), stdout=out)
        return out.getvalue(), True
    except CommandError as e:
        return out.getvalue() + str(e), False


def test_verify_recording_checks_the_exports_hash(recorded):
    meeting, t0, root = recorded
    text, ok = verify_output(meeting)
    assert ok and "Tệp tải về: chưa dựng / none" in text
    row = finalize.run(meeting.id)
    text, ok = verify_output(meeting)
    assert ok and f"Tệp tải về [{row.path}] {row.bytes} byte: nguyên vẹn / intact" in text
    data = bytearray((root / row.path).read_bytes())
    data[-100] ^= 0x01
    (root / row.path).write_bytes(bytes(data))
    text, ok = verify_output(meeting)
    assert not ok and "bị sửa đổi (mã băm khác) / tampered" in text and "tệp tải về" in text
    (root / row.path).unlink()
    text, ok = verify_output(meeting)
    assert not ok and "mất tệp / missing" in text


def test_a_builder_taken_over_while_still_running_never_overwrites_the_new_file(recorded, monkeypatch):
    """Builder A goes silent (a slow disk while hashing) and is taken over; B finishes; then A finishes too.
    A's file must not replace B's: the row keeps B's hash, and verify_recording finds the file intact."""
    from confserver.recording.verify import INTACT, verify_export

    meeting, t0, root = recorded
    real_build = export.build

    def a_build(meeting_id, report):
        RecordingExport.objects.filter(meeting_id=meeting_id).update(
            heartbeat_at=timezone.now() - timedelta(minutes=10)
        )  # A looks dead
        monkeypatch.setattr(finalize.os, "getpid", lambda: 222)
        monkeypatch.setattr(export, "build", real_build)
        b = finalize._build(meeting_id)  # B takes over and finishes
        assert b is not None and b.state == ExportState.READY
        monkeypatch.setattr(finalize.os, "getpid", lambda: 111)
        return real_build(meeting_id, report)  # A was still at work: it finishes after B

    monkeypatch.setattr(finalize.os, "getpid", lambda: 111)
    monkeypatch.setattr(export, "build", a_build)
    assert finalize._build(meeting.id) is None  # A's result is dropped
    monkeypatch.undo()
    row = RecordingExport.objects.get(meeting=meeting)
    assert row.state == ExportState.READY and verify_export(meeting.id).status == INTACT
    assert sorted(p.name for p in (root / str(meeting.id) / "export").iterdir()) == [row.path.rsplit("/", 1)[1]]


def test_temporary_files_of_a_killed_builder_are_removed_by_the_next_build(recorded):
    meeting, t0, root = recorded
    folders = [root / str(meeting.id) / "export", root / str(meeting.id) / "mix"]
    dead = 4_000_000  # above any pid this machine hands out (pid_max 4,194,304 at most is never this busy)
    assert not os.path.exists(f"/proc/{dead}")
    left = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        left.append(folder / f".cuoc-hop-{meeting.id}-abc.webm.{dead}.tmp")
        left[-1].write_bytes(b"half a file")
    alive = folders[0] / f".other.webm.{os.getpid()}.tmp"  # this very process: not a leftover
    alive.write_bytes(b"x")
    assert finalize.run(meeting.id).state == ExportState.READY
    assert not any(p.exists() for p in left) and alive.exists()

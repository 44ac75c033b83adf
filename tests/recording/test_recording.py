"""Recording storage (issue 10): keyframe starts, a resolution switch in one file, roll-over, SIGKILL and
recovery, the hash chain and verify_recording, a full disk and a stuck disk; real PyAV, real files."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import av
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from confserver.recording import store
from confserver.recording.models import Segment, SegmentState
from confserver.recording.packets import VIDEO, vp8_size
from confserver.recording.segments import Recorder, SegmentedWriter, sha256_file

from .media import DirSink, ms, program, save

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packets():
    return program()  # 6 s: 3 s of 320x240, then 3 s of 640x360, Opus throughout


def decode(path):
    """Decode a whole file with PyAV (errors raise); per stream: frame timestamps in ms, video sizes."""
    times, sizes = {"video": [], "audio": []}, set()
    with av.open(str(path)) as c:
        for frame in c.decode(*c.streams):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            times[kind].append(int(frame.pts * frame.time_base * 1000))
            if kind == "video":
                sizes.add((frame.width, frame.height))
    return times, sizes


def opus_head(path):
    with av.open(str(path)) as c:
        return c.streams.audio[0].codec_context.extradata


def video_packets(path):
    with av.open(str(path)) as c:
        return [p for p in c.demux(video=0) if p.dts is not None]


def strictly_increasing(xs):
    return all(a < b for a, b in zip(xs, xs[1:]))


def test_starts_on_keyframe_and_a_resolution_switch_stays_in_one_playable_segment(packets, tmp_path, capsys):
    sink = DirSink(tmp_path)
    writer = SegmentedWriter(sink, segment_s=3600)
    first_key = next(i for i, p in enumerate(packets) if p.kind == VIDEO and p.keyframe)
    # Join mid-GOP: the video packets before the next keyframe cannot be decoded and are dropped.
    start = next(i for i, p in enumerate(packets) if i > first_key and p.kind == VIDEO and ms(p) >= 300)
    t0 = time.perf_counter()
    for p in packets[start:]:
        writer.write(p)
    mux_us = (time.perf_counter() - t0) / len(packets[start:]) * 1e6
    writer.close()
    with capsys.disabled():
        print(f"\nsegment writer: {mux_us:.1f} µs/packet muxed (flush_packets=1, packet copy)")

    assert len(sink.closed_segments) == 1
    seg = sink.closed_segments[0]
    assert writer.dropped == sum(1 for p in packets[start:] if p.kind == VIDEO and ms(p) < 1000)
    vp = video_packets(seg.path)
    assert vp[0].is_keyframe and vp8_size(bytes(vp[0])) == (320, 240)
    times, sizes = decode(seg.path)
    assert sizes == {(320, 240), (640, 360)}
    assert opus_head(seg.path)[:10] == b"OpusHead\x01\x02"  # Matroska's A_OPUS CodecPrivate
    assert strictly_increasing(times["video"]) and strictly_increasing(times["audio"])
    assert len(times["video"]) == sum(1 for p in packets if p.kind == VIDEO and ms(p) >= 1000)
    assert 4900 <= times["video"][-1] - times["video"][0] <= 5000
    assert seg.sha256 == sha256_file(seg.path) and seg.size == seg.path.stat().st_size
    if shutil.which("ffmpeg") is None:
        return  # bin/test installs it; PyAV above already decoded the whole file
    # ffmpeg decodes the same file end to end without a complaint.
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(seg.path), "-f", "null", "-"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stderr == ""


def test_segments_roll_over_on_the_first_keyframe_after_the_configured_length(packets, tmp_path):
    sink = DirSink(tmp_path)
    writer = SegmentedWriter(sink, segment_s=1.5)
    for p in packets:
        writer.write(p)
    writer.close()
    keyframes = [ms(p) for p in packets if p.kind == VIDEO and p.keyframe]
    assert keyframes[:6] == [0, 1000, 2000, 3000, 4000, 5000]
    segs = sink.closed_segments
    assert len(segs) == 3  # cut at the keyframes of 2 s and 4 s
    for seg in segs:
        assert video_packets(seg.path)[0].is_keyframe
        times, _ = decode(seg.path)
        assert times["video"][0] == 0 and 1900 <= times["video"][-1] <= 2000
        assert strictly_increasing(times["video"]) and strictly_increasing(times["audio"])
    assert decode(segs[2].path)[1] == {(640, 360)}


@pytest.fixture
def meeting(db):
    from confserver.rooms.models import AdminUnit, Meeting

    unit = AdminUnit.objects.create(code="T9", name="Tỉnh thử ghi hình", division_type="tinh", level=1, path="T9.")
    start = timezone.now()
    return Meeting.objects.create(
        host_unit=unit,
        title="Họp thử ghi hình",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        state="live",
    )


@pytest.fixture
def recordings(settings, tmp_path):
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    return settings.RECORDINGS_ROOT


def verify_output(meeting):
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_recording", str(meeting.id), stdout=out)
        return out.getvalue(), True
    except CommandError as e:
        return out.getvalue() + str(e), False


@pytest.mark.django_db(transaction=True)
def test_recorder_writes_chained_rows_and_verify_catches_a_changed_byte_and_a_missing_file(
    packets, meeting, recordings, capsys
):
    failures = []
    rec = Recorder(store.DatabaseSink(meeting.id), lambda *f: failures.append(f), segment_s=1.5, max_queue=5000)
    t0 = time.perf_counter()
    assert all(rec.put(p) for p in packets)
    put_us = (time.perf_counter() - t0) / len(packets) * 1e6
    t0 = time.perf_counter()
    assert rec.stop(timeout=60)
    write_us = (time.perf_counter() - t0) / len(packets) * 1e6
    with capsys.disabled():
        print(
            f"\nrecorder: put {put_us:.1f} µs/packet; write+hash+rows {write_us:.1f} µs/packet "
            f"({len(packets)} packets, {len(rec.segments)} segments)"
        )
    assert failures == []

    rows = list(Segment.objects.filter(meeting=meeting).order_by("index"))
    assert [r.index for r in rows] == [0, 1, 2] and {r.state for r in rows} == {SegmentState.CLOSED}
    assert [r.previous_sha256 for r in rows] == ["", rows[0].sha256, rows[1].sha256]
    for r in rows:
        path = recordings / r.path
        assert r.path.startswith(f"{meeting.id}/") and sha256_file(path) == r.sha256
        assert r.bytes == path.stat().st_size and r.ended_at - r.started_at >= timedelta(seconds=1.9)
    text, ok = verify_output(meeting)
    assert ok and text.count("nguyên vẹn / intact") == 3

    one = recordings / rows[1].path
    data = bytearray(one.read_bytes())
    data[len(data) // 2] ^= 0x01
    one.write_bytes(bytes(data))
    (recordings / rows[2].path).unlink()
    text, ok = verify_output(meeting)
    assert not ok
    lines = text.splitlines()
    assert "nguyên vẹn / intact" in lines[0]
    assert "bị sửa đổi (mã băm khác) / tampered" in lines[1]
    assert "mất tệp / missing" in lines[2]
    assert "2/3 đoạn không nguyên vẹn" in text


@pytest.mark.django_db(transaction=True)
def test_verify_reports_a_broken_chain(packets, meeting, recordings):
    rec = Recorder(store.DatabaseSink(meeting.id), segment_s=1.5)
    for p in packets:
        rec.put(p)
    assert rec.stop(timeout=60)
    Segment.objects.filter(meeting=meeting, index=2).update(previous_sha256="0" * 64)
    text, ok = verify_output(meeting)
    assert not ok and "đứt chuỗi băm / chain_broken" in text.splitlines()[2]


def test_a_writer_killed_with_sigkill_leaves_a_playable_segment_that_recover_keeps(
    packets, meeting, recordings, tmp_path
):
    src = tmp_path / "packets.bin"
    save(packets, src)
    rel = f"{meeting.id}/00000-killed.webm"
    row = Segment.objects.create(meeting=meeting, index=0, started_at=timezone.now(), path=rel)
    out = recordings / rel
    out.parent.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.recording.killable_writer", str(src), str(out), "4500"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # generous: no timing involved, the writer says when it is done
        assert line.startswith("written "), line
        written_ms = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL and written_ms >= 4400

    # The cut-off file itself plays up to within 2 s of the last packet written.
    with av.open(str(out)) as c:
        shown = []
        try:
            for frame in c.decode(video=0):
                shown.append(int(frame.pts * frame.time_base * 1000))
        except av.error.FFmpegError:
            pass  # the unfinished last cluster
    assert shown[0] == 0 and written_ms - shown[-1] <= 2000

    (recovered,) = store.recover(meeting)
    row.refresh_from_db()
    assert recovered.id == row.id and row.state == SegmentState.RECOVERED
    assert row.path.endswith(".recovered.webm") and out.exists()
    path = recordings / row.path
    assert row.sha256 == sha256_file(path) and row.bytes == path.stat().st_size
    times, sizes = decode(path)
    assert written_ms - times["video"][-1] <= 2000 and strictly_increasing(times["video"])
    assert sizes == {(320, 240), (640, 360)} and opus_head(path).startswith(b"OpusHead")
    assert row.ended_at - row.started_at >= timedelta(seconds=2.5)
    assert store.recover(meeting) == []
    text, ok = verify_output(meeting)
    assert ok, text


def test_a_stuck_disk_overflows_the_queue_and_the_caller_is_told_without_waiting(packets, tmp_path, settings):
    settings.RECORDING_SEGMENT_S = 300
    hang = threading.Event()
    failed = threading.Event()
    calls = []
    sink = DirSink(tmp_path, block=hang)
    rec = Recorder(sink, lambda *f: (calls.append(f), failed.set()), max_queue=50)
    results = [rec.put(p) for p in packets[:200]]
    assert failed.wait(30)
    assert calls[0][0] == "queue_full" and len(calls) == 1
    assert results[:50] == [True] * 50 and not any(results[51:]) and rec.stopped
    # Every put returned and the failure was told while the writer is still stuck on the disk (its first
    # segment never opened): nothing waited for it. No clock involved.
    assert sink.n == 0 and not hang.is_set()
    hang.set()
    assert rec.stop(timeout=30)
    assert len(calls) == 1


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_recorder_cleanly_and_the_caller_never_blocks(packets, tiny_disk):
    failed = threading.Event()
    calls = []
    sink = DirSink(tiny_disk)
    rec = Recorder(sink, lambda *f: (calls.append(f), failed.set()), segment_s=300, max_queue=5000)
    accepted = sum(rec.put(p) for p in packets)  # never blocks: see the stuck-disk test above
    assert failed.wait(30), "the writer never reported the full disk"
    assert calls == [calls[0]] and calls[0][0] == "disk_error"
    assert rec.stop(timeout=30) and rec.stopped and not rec.put(packets[0])
    assert accepted > 0
    assert sink.closed_segments == []  # the unfinished segment is left for recover()
    assert len(calls) == 1

"""The hash chain of a meeting's recording (issue 10, item 5): each segment's file carries the SHA-256 of the
one before, so the last segment's hash (fixed in the final minutes) vouches for every segment before it; a
segment left unfinished by a write error is recovered by its own writer, and the next recording chains on
to it; recovery on a full disk leaves the segment for a later try instead of dropping it from the record.
Real PyAV, real files, the product's writer and database sink."""

import os
import shutil
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from confserver.recording import store
from confserver.recording.models import Minutes, MinutesState, Segment, SegmentState
from confserver.recording.segments import PREVIOUS_TAG, Recorder, SegmentedWriter, embedded_previous, sha256_file
from confserver.rooms.models import AdminUnit, Meeting

from .media import program


@pytest.fixture(scope="module")
def packets():
    return program()  # 6 s, keyframes every second


@pytest.fixture
def meeting(db, settings, tmp_path):
    settings.RECORDINGS_ROOT = tmp_path / "recordings"
    unit = AdminUnit.objects.create(code="T6", name="Tỉnh thử chuỗi băm", division_type="tinh", level=1, path="T6.")
    start = timezone.now()
    return Meeting.objects.create(
        host_unit=unit,
        title="Họp thử chuỗi băm",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=1),
        state="live",
    )


def verify_output(meeting):
    out = StringIO()
    try:
        call_command("verify_recording", str(meeting.id), stdout=out)
        return out.getvalue(), True
    except CommandError as e:
        return out.getvalue() + str(e), False


def record(meeting, packets, segment_s=1.5):
    writer = SegmentedWriter(store.DatabaseSink(meeting.id), segment_s=segment_s)
    for p in packets:
        writer.write(p)
    writer.close()
    writer.sink.finished()
    return list(Segment.objects.filter(meeting=meeting).order_by("index"))


def root(settings):
    return settings.RECORDINGS_ROOT


def test_each_segment_file_carries_the_hash_of_the_one_before(packets, meeting, settings):
    rows = record(meeting, packets)
    assert len(rows) == 3
    assert [embedded_previous(root(settings) / r.path) for r in rows] == ["", rows[0].sha256, rows[1].sha256]
    assert [r.previous_sha256 for r in rows] == ["", rows[0].sha256, rows[1].sha256]


def test_replacing_an_earlier_segment_and_its_rows_is_caught(packets, meeting, settings):
    """Someone with the files and the database swaps segment 0 and rewrites both rows that name its hash:
    the next file still names the old hash, so the chain breaks there (the last hash alone would not show it)."""
    rows = record(meeting, packets)
    first = root(settings) / rows[0].path
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0x01
    first.write_bytes(bytes(data))
    forged = sha256_file(first)
    Segment.objects.filter(pk=rows[0].pk).update(sha256=forged, bytes=len(data))
    Segment.objects.filter(pk=rows[1].pk).update(previous_sha256=forged)
    text, ok = verify_output(meeting)
    assert not ok, text
    lines = text.splitlines()
    assert "nguyên vẹn / intact" in lines[0]  # its own row now matches it
    assert "đứt chuỗi băm / chain_broken" in lines[1]


def _final_minutes(meeting, rows):
    return Minutes.objects.create(
        meeting=meeting,
        number="12/BB-UBND",
        state=MinutesState.FINAL,
        finalized_at=timezone.now(),
        segment_count=len(rows),
        last_segment_sha256=rows[-1].sha256,
    )


def test_verify_compares_the_recording_with_the_final_minutes(packets, meeting, settings):
    rows = record(meeting, packets)
    _final_minutes(meeting, rows)
    text, ok = verify_output(meeting)
    assert ok and "Biên bản số 12/BB-UBND: khớp" in text, text

    # the last segment replaced together with its row: every row agrees, the signed minutes do not
    last = root(settings) / rows[-1].path
    last.write_bytes(last.read_bytes() + b"\0")
    Segment.objects.filter(pk=rows[-1].pk).update(sha256=sha256_file(last), bytes=last.stat().st_size)
    text, ok = verify_output(meeting)
    assert not ok and "không khớp biên bản / minutes_mismatch" in text, text


def test_a_segment_abandoned_after_a_write_error_is_recovered_and_the_next_recording_chains_on(
    packets, meeting, settings
):
    # The writer's own failure path (Recorder._run on a write error): abandon the open segment, then finish.
    writer = SegmentedWriter(store.DatabaseSink(meeting.id), segment_s=3600)
    for p in packets[: len(packets) // 2]:
        writer.write(p)
    writer.abandon()
    writer.sink.finished()
    (row,) = Segment.objects.filter(meeting=meeting)
    assert row.state == SegmentState.RECOVERED and row.sha256 == sha256_file(root(settings) / row.path)

    # the chair records again in the same process: the new segment names the recovered one's hash
    rows = record(meeting, packets, segment_s=3600)
    assert [r.state for r in rows] == [SegmentState.RECOVERED, SegmentState.CLOSED]
    assert rows[1].previous_sha256 == rows[0].sha256 == embedded_previous(root(settings) / rows[1].path)
    text, ok = verify_output(meeting)
    assert ok, text


def test_an_orphan_left_writing_is_recovered_before_the_next_segment_opens(packets, meeting, settings):
    """A segment left `writing` by a writer that is gone (its recovery failed on a full disk, or it died) is
    recovered when the meeting's next segment opens, so the chain goes on instead of naming an unfinished one."""
    (row,) = record(meeting, packets[: len(packets) // 2], segment_s=3600)
    Segment.objects.filter(pk=row.pk).update(state=SegmentState.WRITING, sha256="", bytes=0, ended_at=None)
    rows = record(meeting, packets, segment_s=3600)
    assert [r.state for r in rows] == [SegmentState.RECOVERED, SegmentState.CLOSED]
    assert rows[1].previous_sha256 == rows[0].sha256 != ""
    assert embedded_previous(root(settings) / rows[1].path) == rows[0].sha256
    text, ok = verify_output(meeting)
    assert ok, text


@pytest.mark.django_db(transaction=True)
def test_a_recorder_that_fails_on_the_disk_leaves_no_segment_writing(packets, meeting, settings):
    """Through Recorder: the write error mid-segment (a file the writer cannot go on with) is reported once,
    and its segment ends recovered, not `writing` until the process restarts."""
    failures = []

    class Failing(store.DatabaseSink):
        def closed(self, segment):
            raise OSError(28, "No space left on device")

    rec = Recorder(Failing(meeting.id), lambda *f: failures.append(f), segment_s=1.5, max_queue=5000)
    for p in packets:
        rec.put(p)
    assert rec.stop(timeout=60)
    assert [f[0] for f in failures] == ["disk_error"]
    rows = list(Segment.objects.filter(meeting=meeting).order_by("index"))
    assert [r.state for r in rows] == [SegmentState.RECOVERED]


@pytest.fixture
def small_disk(settings, meeting):
    """The meeting's recording folder on a tmpfs of 1 MB."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = root(settings) / str(meeting.id)
    folder.mkdir(parents=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_recovery_on_a_full_disk_keeps_the_segment_for_a_later_try(packets, meeting, settings, small_disk):
    writer = SegmentedWriter(store.DatabaseSink(meeting.id), segment_s=3600)
    for p in packets:
        writer.write(p)
    writer.abandon()  # left `writing`, its file whole on the tmpfs
    (row,) = Segment.objects.filter(meeting=meeting)
    original = root(settings) / row.path
    size = original.stat().st_size
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    assert size > 16 * 1024

    (again,) = store.recover(meeting)
    assert again.state == SegmentState.WRITING and again.path == row.path  # not dropped from the record
    assert original.stat().st_size == size
    assert sorted(p.name for p in small_disk.iterdir()) == sorted([original.name, "filler"])  # no partial copy

    filler.unlink()
    (done,) = store.recover(meeting)
    assert done.state == SegmentState.RECOVERED and done.sha256 == sha256_file(root(settings) / done.path)
    text, ok = verify_output(meeting)
    assert ok, text


def test_the_tag_survives_recovery(packets, meeting, settings):
    rows = record(meeting, packets)
    # a killed writer's second segment: left writing, recovered by the remux
    Segment.objects.filter(pk=rows[2].pk).update(state=SegmentState.WRITING, sha256="")
    (rec,) = store.recover(meeting)
    assert rec.state == SegmentState.RECOVERED and rec.path.endswith(".recovered.webm")
    assert embedded_previous(root(settings) / rec.path) == rows[1].sha256 == rec.previous_sha256
    assert PREVIOUS_TAG
    text, ok = verify_output(meeting)
    assert ok, text
    shutil.rmtree(root(settings))

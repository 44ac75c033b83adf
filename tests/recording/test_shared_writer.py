"""One writer thread writes every meeting's recording of a process (recording/recorder.py): a meeting whose disk
or sink fails stops alone, and a meeting with a long backlog does not hold the others' writing back (turns)."""

import threading
import time

import av
import pytest

from confserver.recording.packets import EncodedPacket
from confserver.recording.recorder import THREAD_NAME, TURN_BATCHES
from confserver.recording.segments import Recorder

from .media import DirSink, program


@pytest.fixture(scope="module")
def packets():
    return program(2)


def later(packets, shift_s):
    """The same packets, `shift_s` seconds later on their clocks."""
    return [
        EncodedPacket(p.kind, p.data, p.pts + int(shift_s / p.time_base), p.time_base, p.keyframe, p.track)
        for p in packets
    ]


def demuxed(path):
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux() if p.dts is not None)


def writer_threads():
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


class FailingSink(DirSink):
    def opened(self, started_at):
        raise OSError(28, "No space left on device")


def test_a_meeting_whose_disk_fails_stops_alone(packets, tmp_path):
    failures = {"ok": [], "bad": []}
    ok = Recorder(DirSink(tmp_path / "ok"), lambda *f: failures["ok"].append(f), segment_s=300)
    bad = Recorder(FailingSink(tmp_path / "bad"), lambda *f: failures["bad"].append(f), segment_s=300)
    half = len(packets) // 2
    assert ok.put_many(packets[:half]) and bad.put_many(packets[:half])
    deadline = time.monotonic() + 10
    while not failures["bad"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [code for code, _ in failures["bad"]] == ["disk_error"]
    assert not bad.put_many(packets[half:]), "the failed meeting takes nothing more"
    assert ok.put_many(packets[half:]), "the other one goes on"
    assert ok.stop(timeout=30) and bad.stop(timeout=5)
    assert failures["ok"] == []
    (segment,) = ok.segments
    assert demuxed(segment.path) == len(packets), "every packet of the other meeting is in its file"
    assert len(writer_threads()) <= 1


class SlowSink(DirSink):
    """A sink that takes 50 ms to record each closed segment (a slow database or disk)."""

    def closed(self, segment):
        time.sleep(0.05)
        super().closed(segment)


def test_a_meeting_with_a_long_backlog_does_not_hold_the_others_back(packets, tmp_path):
    # A: 40 copies of the program in segments of 0.5 s: ~400 segments of 50 ms each, seconds of work
    heavy = Recorder(SlowSink(tmp_path / "heavy"), segment_s=0.5, max_queue=10**6)
    backlog = [p for copy in range(40) for p in later(packets, copy * 6.0)]
    batches = [backlog[i : i + 26] for i in range(0, len(backlog), 26)]
    for batch in batches:
        assert heavy.put_many(batch)
    time.sleep(0.1)  # the writer is busy with the backlog
    light = Recorder(DirSink(tmp_path / "light"), segment_s=300)
    started = time.monotonic()
    assert light.put_many(packets[:26]) and light.stop(timeout=30)
    took = time.monotonic() - started
    left = heavy._pending
    assert left > 0, "the backlog was not written yet"
    # the light meeting waited for at most a turn of the heavy one's (TURN_BATCHES batches, a few segments)
    assert took < 2.0, (took, TURN_BATCHES)
    (segment,) = light.segments
    assert demuxed(segment.path) == 26
    assert heavy.stop(timeout=120)
    assert sum(demuxed(s.path) for s in heavy.segments) == len(backlog)


def test_the_writer_thread_is_shared_and_ends_when_no_recorder_is_left(packets, tmp_path, monkeypatch):
    from confserver.recording import recorder

    monkeypatch.setattr(recorder, "IDLE_S", 0.2)
    recs = [Recorder(DirSink(tmp_path / str(n)), segment_s=300) for n in range(5)]
    for rec in recs:
        assert rec.put_many(packets[:30])
    assert len(writer_threads()) == 1 and len({rec._thread.native_id for rec in recs}) == 1
    assert all(rec.stop(timeout=30) for rec in recs)
    deadline = time.monotonic() + 10
    while writer_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer_threads() == []
    again = Recorder(DirSink(tmp_path / "again"), segment_s=300)  # a new recording starts it again
    assert again.put_many(packets[:30]) and again.stop(timeout=30)
    (segment,) = again.segments
    assert demuxed(segment.path) == 30


class BrokenFile:
    """A segment file with a bug: writing raises, and so does closing it (neither a disk error)."""

    def __init__(self, *args, **kwargs):
        self.has_video = True
        self.origin_ms = 0

    def write(self, *args):
        raise RuntimeError("a bug in the writer")

    def close(self):
        raise RuntimeError("and in its close")


def test_a_writer_bug_in_one_meeting_leaves_the_thread_writing_the_others(packets, tmp_path):
    failures = []
    bad = Recorder(DirSink(tmp_path / "bad"), lambda *f: failures.append(f), segment_s=300)
    bad._writer.file_class = BrokenFile
    assert bad.put_many(packets[:26])
    assert bad.stop(timeout=10), "the broken meeting is finished all the same"
    assert [code for code, _ in failures] == ["error"]
    ok = Recorder(DirSink(tmp_path / "ok"), segment_s=300)
    assert ok.put_many(packets) and ok.stop(timeout=30), "a writer thread still writes"
    (segment,) = ok.segments
    assert demuxed(segment.path) == len(packets)
    assert len(writer_threads()) <= 1

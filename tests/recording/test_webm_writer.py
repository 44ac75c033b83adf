"""The WebM writer of our own (recording/webm.py) against PyAV's (segments.SegmentFile): same packets in the file."""

import subprocess

import av
import pytest

from confserver.recording.packets import AUDIO_SOURCE, EncodedPacket
from confserver.recording.segments import PREVIOUS_TAG, SegmentedWriter, SegmentStart, embedded_previous
from tests.recording.media import DirSink, program


def _packets(path):
    """Per stream: (pts, keyframe, bytes) of every packet, as the demuxer reads them."""
    with av.open(str(path)) as c:
        out = {s.index: [] for s in c.streams}
        for p in c.demux():
            if p.size:
                out[p.stream.index].append((p.pts, p.is_keyframe, bytes(p)))
        return out, [(s.codec_context.name, s.codec_context.extradata) for s in c.streams], c.metadata


def _write(tmp_path, writer, packets, previous="ab" * 32):
    class Sink(DirSink):
        def opened(self, started_at):
            return SegmentStart(super().opened(started_at), previous)

    sink = Sink(tmp_path / writer)
    w = SegmentedWriter(sink, segment_s=3600, writer=writer)
    for p in packets:
        w.write(p)
    w.close()
    return sink.closed_segments[0].path


@pytest.fixture(scope="module")
def packets():
    """The program, with the source's audio track joining after 1.5 s (the chair's packets again)."""
    out = []
    for p in program(3):
        out.append(p)
        if p.kind == "audio" and p.pts * p.time_base > 1.5:
            out.append(EncodedPacket(p.kind, p.data, p.pts, p.time_base, True, AUDIO_SOURCE))
    return out


def test_same_packets_as_pyav(tmp_path, packets):
    ours, theirs = _write(tmp_path, "webm", packets), _write(tmp_path, "pyav", packets)
    got, streams, meta = _packets(ours)
    want, want_streams, _ = _packets(theirs)
    assert streams == want_streams  # vp8 + two opus with the same OpusHead
    assert meta[PREVIOUS_TAG] == "ab" * 32 and embedded_previous(ours) == "ab" * 32
    for index in want:
        assert len(got[index]) == len(want[index]) > 0
        assert got[index] == want[index]
    with av.open(str(ours)) as c:
        assert abs(c.duration / 1e6 - 6.0) < 0.2  # Duration fixed up on close


def test_decodes_to_the_end_and_killed_file_reads(tmp_path, packets):
    path = _write(tmp_path, "webm", packets)
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames == sum(1 for p in packets if p.kind == "video")
    probe = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    assert probe.returncode == 0 and probe.stderr == ""
    # A killed writer's file: header and the whole clusters written, no Cues, Segment of unknown size.
    killed = tmp_path / "killed.webm"
    from confserver.recording.webm import WebmFile

    f = WebmFile(killed, 0, (320, 240))
    n = 0
    for p in packets:
        if p.pts * p.time_base > 3:
            break
        f.write(0 if p.kind == "video" else 1 + p.track, round(p.pts * p.time_base * 1000), p.data, p.keyframe)
        n += p.kind == "video"
    f._f.flush()  # what reached the disk: whole clusters, the last one still in memory
    with av.open(str(killed)) as c:
        got = sum(1 for _ in c.decode(video=0))
    assert n - 31 <= got < n  # at most the open cluster (<= 1 s, 30 frames) lost

"""The WebM writer's loop over the relay's hand-over (WebmFile.write_frames, the writer thread's hot path) writes the
same bytes as writing each packet on its own (RtpClock.ms, then WebmFile.write), in every segment."""

import random

import av
import pytest

from confserver.recording.packets import STREAM_AUDIO, STREAM_VIDEO, VIDEO, RtpClock
from confserver.recording.segments import SegmentedWriter

from .media import DirSink, program


@pytest.fixture(scope="module")
def packets():
    return program(2)


def _frames(packets, offset):
    """The program as hand-over tuples: the chair's audio in both tracks (the source's joining late), RTP timestamps
    starting at `offset` (wrapping past 2**32), one step back in the audio, and a 1.5 s hole in the middle."""
    out = []
    hole = False
    for n, p in enumerate(packets):
        pts = p.pts + offset * (p.time_base.denominator // 1000)
        if n > len(packets) // 2:
            if not hole and p.kind == VIDEO and not p.keyframe:
                hole = True
                continue
            pts += int(1.5 * p.time_base.denominator)
        if p.kind == VIDEO:
            out.append((STREAM_VIDEO, p.data, pts & 0xFFFFFFFF, p.keyframe))
        else:
            out.append((STREAM_AUDIO, p.data, pts & 0xFFFFFFFF, True))
            if n > 40:
                back = -480 if n % 97 == 0 else 0  # a jittery step back
                out.append((STREAM_AUDIO + 1, p.data, (pts + back) & 0xFFFFFFFF, True))
    return out


def _files(tmp_path, name, frames, fused, batches):
    sink = DirSink(tmp_path / name)
    (tmp_path / name).mkdir()
    writer = SegmentedWriter(sink, segment_s=1.0, writer="webm")
    if fused:
        for batch in batches(frames):
            writer.write_frames(batch)
    else:  # one packet at a time, the general way
        clock = RtpClock()
        for stream, data, ts, key in frames:
            writer._write(stream, clock.ms(stream, ts), data, key)
    writer.close()
    return [s.path.read_bytes() for s in sink.closed_segments], sink.closed_segments


@pytest.mark.parametrize("offset_ms", [0, (1 << 32) // 90 - 2000])  # the video clock wraps 2 s in
def test_the_hand_over_loop_writes_the_same_bytes(packets, tmp_path, offset_ms):
    frames = _frames(packets, offset_ms)
    rng = random.Random(offset_ms)

    def random_batches(frames):
        i = 0
        while i < len(frames):
            n = rng.choice([1, 2, 26, 40, 130])
            yield frames[i : i + n]
            i += n

    want, segments = _files(tmp_path, "plain", frames, False, None)
    got, _ = _files(tmp_path, "fused", frames, True, random_batches)
    assert len(want) >= 3  # rolled over at keyframes
    assert got == want
    with av.open(str(segments[1].path)) as c:
        assert sum(1 for _ in c.decode(video=0)) > 0

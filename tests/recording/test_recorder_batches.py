"""Recorder.put_many: the relay hands over a batch of packets at a time (one queue operation per batch).

The batches keep the packets' order, in the file, across batches and mixed with single puts, and the queue's
bound still counts packets, not batches: a batch that would pass it is refused whole and stops the recording
with queue_full, reported once.
"""

import random
import threading

import av
import pytest

from confserver.recording.packets import AUDIO, STREAM_AUDIO, STREAM_VIDEO, VIDEO
from confserver.recording.segments import Recorder

from .media import DirSink, program


@pytest.fixture(scope="module")
def packets():
    return program(2)


def stream_payloads(path):
    """Bytes of every packet of the file, per stream index, in file order."""
    out = {}
    with av.open(str(path)) as c:
        for p in c.demux():
            if p.dts is not None:
                out.setdefault(p.stream.index, []).append(bytes(p))
    return out


def test_batches_keep_the_packets_order_in_the_file(packets, tmp_path):
    sink = DirSink(tmp_path)
    failures = []
    rec = Recorder(sink, lambda *f: failures.append(f), segment_s=300, max_queue=5000)
    rng = random.Random(7)
    i = 0
    while i < len(packets):
        n = rng.choice([0, 1, 3, 26, 40])
        if n == 1:
            assert rec.put(packets[i])
        else:
            assert rec.put_many(packets[i : i + n])
        i += n
    assert rec.stop(timeout=30) and failures == []
    [segment] = sink.closed_segments
    got = stream_payloads(segment.path)
    assert got[0] == [p.data for p in packets if p.kind == VIDEO]
    assert got[1] == [p.data for p in packets if p.kind == AUDIO]


def test_the_bound_counts_packets_and_a_batch_past_it_stops_the_recording_once(packets, tmp_path):
    hang = threading.Event()  # a disk that does not answer: nothing leaves the queue
    failed = threading.Event()
    calls = []
    rec = Recorder(
        DirSink(tmp_path, block=hang), lambda *f: (calls.append(f), failed.set()), segment_s=300, max_queue=50
    )
    assert rec.put_many(packets[:30])
    assert rec.put_many(packets[30:50])  # exactly the bound
    assert not failed.is_set() and not rec.stopped
    assert not rec.put_many(packets[50:51])  # one more packet: refused
    assert failed.wait(30)
    assert calls[0][0] == "queue_full" and rec.stopped
    assert not rec.put_many(packets[51:60]) and not rec.put(packets[60])
    hang.set()
    assert rec.stop(timeout=30)
    assert len(calls) == 1


def test_a_batch_larger_than_the_whole_queue_is_refused(packets, tmp_path):
    calls = []
    done = threading.Event()
    rec = Recorder(DirSink(tmp_path), lambda *f: (calls.append(f), done.set()), segment_s=300, max_queue=10)
    assert not rec.put_many(packets[:11])
    assert done.wait(30) and [c[0] for c in calls] == ["queue_full"]
    assert rec.stop(timeout=30)


def frames_of(packets):
    """EncodedPackets as the relay's hand-over tuples: (stream, data, 32-bit RTP timestamp, keyframe)."""
    return [
        (STREAM_VIDEO if p.kind == VIDEO else STREAM_AUDIO + p.track, p.data, p.pts & 0xFFFFFFFF, p.keyframe)
        for p in packets
    ]


def test_the_relay_side_hands_a_recorders_put_frames_one_batch_per_flush_and_stops_when_refused(packets):
    import asyncio

    from confserver.media.recorder import ProgramRecorder

    frames = frames_of(packets)

    class Taker:
        def __init__(self, answer=True):
            self.calls, self.answer = [], answer

        def put(self, packet):
            self.calls.append([packet])
            return self.answer

        def put_frames(self, batch):
            self.calls.append(list(batch))
            return self.answer

    async def run():
        taker, refusing, plain = Taker(), Taker(answer=False), []
        rec = ProgramRecorder(taker.put, 5.0)
        rec.batch.extend(frames[:26])
        rec.flush()
        rec.batch.extend(frames[26:30])
        rec.close()
        assert taker.calls == [frames[:26], frames[26:30]] and rec.refused
        rec = ProgramRecorder(refusing.put, 5.0)
        rec.batch.extend(frames[:5])
        rec.flush()
        assert rec.refused and refusing.calls == [frames[:5]]
        rec.close()
        rec = ProgramRecorder(lambda p: plain.append(p) or True, 5.0)  # any other callable: EncodedPackets
        rec.batch.extend(frames[:3])
        rec.close()
        assert plain == packets[:3]

    asyncio.run(run())


def test_the_hand_over_tuples_make_the_same_file_as_the_packets(packets, tmp_path):
    """put_frames (the relay's tuples, timestamps unwrapped by the writer thread) writes what put_many writes with
    the EncodedPackets."""
    by_packets, by_frames = DirSink(tmp_path / "p"), DirSink(tmp_path / "f")
    rec = Recorder(by_packets, segment_s=300, max_queue=5000)
    assert rec.put_many(packets) and rec.stop(timeout=30)
    frames = frames_of(packets)
    rec = Recorder(by_frames, segment_s=300, max_queue=5000)
    assert all(rec.put_frames(frames[i : i + 26]) for i in range(0, len(frames), 26)) and rec.stop(timeout=30)
    (a,), (b,) = by_packets.closed_segments, by_frames.closed_segments
    assert stream_payloads(a.path) == stream_payloads(b.path)
    with av.open(str(a.path)) as ca, av.open(str(b.path)) as cb:
        assert [(p.stream.index, p.pts, p.is_keyframe) for p in ca.demux()] == [
            (p.stream.index, p.pts, p.is_keyframe) for p in cb.demux()
        ]


def test_the_rtp_clock_unwraps_32_bit_timestamps_per_stream():
    from fractions import Fraction

    from confserver.recording.packets import CLOCKS, RtpClock

    clock, other = RtpClock(), RtpClock()
    steps = [0, 3000, 0x7FFFFFF0, 0xFFFFFF00, 0x10, 0x08, 0x7FFFFFFF]  # on, past 2**32, a step back
    want = [0, 3000, 0x7FFFFFF0, 0xFFFFFF00, 0x100000010, 0x100000008, 0x17FFFFFFF]
    for stream in range(len(CLOCKS)):
        assert [clock.pts(stream, ts) for ts in steps] == want
        assert [other.ms(stream, ts) for ts in steps] == [round(Fraction(p * 1000, CLOCKS[stream])) for p in want]

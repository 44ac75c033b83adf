"""Issue 15: VP8 temporal layers without a network: the descriptor's TID and layer sync, the frames a
room's slot forwards at each tier (down at once, up only at a layer sync or keyframe), the layer rates."""

from confserver.media.frames import Vp8Assembler
from confserver.media.temporal import NO_VIDEO, LayerRates, TemporalFilter, vp8_temporal

PATTERN = [0, 2, 1, 2]  # L1T3: the TID of frame i is PATTERN[i % 4]


def descriptor(tid: int | None, sync: bool = False, start: bool = True, picture_id: int = 300, tl0: int = 7) -> bytes:
    """A VP8 payload descriptor as Chromium's L1T3 writes it: X, I (15 bits), L, T/Y."""
    first = 0x90 if start else 0x80
    if tid is None:
        return bytes((first, 0x80, 0x80 | picture_id >> 8, picture_id & 0xFF))
    return bytes((first, 0xE0, 0x80 | picture_id >> 8, picture_id & 0xFF, tl0, tid << 6 | (0x20 if sync else 0)))


def test_the_descriptor_gives_tid_and_layer_sync():
    assert vp8_temporal(descriptor(0)) == (0, False)
    assert vp8_temporal(descriptor(2, sync=True)) == (2, True)
    assert vp8_temporal(descriptor(1)) == (1, False)
    assert vp8_temporal(descriptor(None)) == (None, False)  # no T bit: one layer
    assert vp8_temporal(b"\x10") == (None, False)  # no X bit
    assert vp8_temporal(bytes((0x90, 0x20))) == (None, False)  # truncated: no TID byte
    # a 7-bit picture ID, no TL0PICIDX
    assert vp8_temporal(bytes((0x90, 0xA0, 0x05, 1 << 6 | 0x20))) == (1, True)


def test_the_assembler_marks_each_frame_with_its_layer():
    assembler = Vp8Assembler()
    out = []
    for i in range(8):
        tid = PATTERN[i % 4]
        tag = b"\x10" if i == 0 else b"\x11"  # keyframe first
        payload = descriptor(tid, sync=i % 4 in (1, 2)) + tag + b"x" * 20
        out += assembler.push(100 + i, 3000 * i, 1, payload, 0.0)
    assert [f.tid for f in out] == [0, 2, 1, 2, 0, 2, 1, 2]
    assert [f.sync for f in out] == [False, True, True, False] * 2
    assert out[0].key and not out[1].key
    assert out[0].data == b"\x10" + b"x" * 20  # the descriptor is not part of the frame


def run(filter_: TemporalFilter, frames):
    return [i for i, (tid, sync, key) in enumerate(frames) if filter_.admit(tid, sync, key)]


def layered(n: int, start: int = 0, key_at: int | None = None):
    return [(PATTERN[i % 4], i % 4 in (1, 2), i == key_at) for i in range(start, start + n)]


def test_a_slot_drops_the_upper_layers_at_once():
    f = TemporalFilter()
    assert run(f, layered(8)) == list(range(8))
    f.set_target(1)
    assert run(f, layered(8)) == [0, 2, 4, 6]  # T0 and T1: half the frames
    f.set_target(0)
    assert run(f, layered(8)) == [0, 4]  # T0: a quarter
    assert not f.set_target(NO_VIDEO)
    assert run(f, layered(8)) == []


def test_going_up_waits_for_a_layer_sync_frame():
    f = TemporalFilter()
    f.set_target(0)
    f.set_target(2)
    # frame 3 (T2, not sync) is not taken before a sync: the first T2 frame taken is a sync one (5)
    frames = [
        (0, False, False),
        (2, False, False),
        (1, True, False),
        (2, False, False),
        (0, False, False),
        (2, True, False),
        (1, False, False),
        (2, False, False),
    ]
    assert run(f, frames) == [0, 2, 4, 5, 6, 7]
    assert f.cap == 2


def test_a_keyframe_opens_every_layer_aimed_at():
    f = TemporalFilter()
    f.set_target(0)
    f.set_target(2)
    frames = [(2, False, False), (1, False, False), (0, False, True), (2, False, False), (1, False, False)]
    assert run(f, frames) == [2, 3, 4]


def test_leaving_audio_only_restarts_the_slot():
    f = TemporalFilter()
    f.set_target(NO_VIDEO)
    assert f.set_target(1) is True  # the slot must wait for a keyframe
    assert f.cap == 1
    assert f.set_target(2) is False


def test_frames_of_an_unlayered_publisher_all_count_as_the_base_layer():
    f = TemporalFilter()
    f.set_target(0)
    assert run(f, [(None, False, False)] * 4) == [0, 1, 2, 3]


def test_layer_rates_are_cumulative():
    rates = LayerRates()
    rates._since = 0.0
    for i in range(40):  # 2 s of 20 fps: T0 1000 B, T1 500 B, T2 250 B a frame
        tid = PATTERN[i % 4]
        rates.add(tid, (1000, 500, 250)[tid])
    t0, t01, full = rates.cumulative(now=2.0)
    assert (t0, t01, full) == (8 * 10 * 1000 / 2, 8 * (10 * 1000 + 10 * 500) / 2, 8 * (10000 + 5000 + 20 * 250) / 2)
    plain = LayerRates()
    plain._since = 0.0
    for _ in range(10):
        plain.add(None, 1000)
    assert plain.cumulative(now=2.0) == (40000.0, 40000.0, 40000.0)

"""VP8 frame assembly from RTP packets, without a network."""

from confserver.media.frames import SequenceFilter, Vp8Assembler, parse_vp8_descriptor, split

KEY, DELTA = b"\x10" + b"k" * 10, b"\x11" + b"d" * 10  # frame tag P bit: 0 keyframe, 1 delta


def packets(seq: int, ts: int, frame: bytes, size: int = 4):
    """RTP payloads of one frame: a 1-byte descriptor (S bit on the first) and `size`-byte slices."""
    chunks = [frame[i : i + size] for i in range(0, len(frame), size)]
    return [
        (seq + i, ts, int(i == len(chunks) - 1), bytes([0x10 if i == 0 else 0x00]) + c) for i, c in enumerate(chunks)
    ]


def feed(assembler, pkts, now=0.0):
    out = []
    for seq, ts, marker, payload in pkts:
        out += assembler.push(seq, ts, marker, payload, now)
    return out


def test_frames_come_out_whole_on_their_marker_packet():
    assembler = Vp8Assembler()
    first = packets(100, 0, KEY)
    assert feed(assembler, first[:-1]) == []
    (frame,) = feed(assembler, first[-1:])
    assert (frame.ts, frame.data, frame.key) == (0, KEY, True)
    (frame,) = feed(assembler, packets(103, 3000, DELTA))
    assert (frame.data, frame.key) == (DELTA, False)


def test_reordered_packets_wait_for_the_gap():
    assembler = Vp8Assembler()
    feed(assembler, packets(0, 0, KEY))
    late = packets(3, 3000, DELTA)
    assert feed(assembler, [late[0], late[2]]) == []
    (frame,) = feed(assembler, [late[1]])
    assert frame.data == DELTA


def test_a_lost_packet_drops_deltas_until_the_next_keyframe():
    assembler = Vp8Assembler(give_up_s=0.1)
    feed(assembler, packets(0, 0, KEY))
    lost = packets(3, 3000, DELTA)
    assert feed(assembler, lost[1:], now=0.0) == []
    after = packets(6, 6000, DELTA)
    assert feed(assembler, after, now=0.2) == [], "a delta after the loss is not decodable"
    assert assembler.broken
    (frame,) = feed(assembler, packets(9, 9000, KEY), now=0.3)
    assert frame.key and not assembler.broken


def test_nothing_before_the_first_keyframe_and_sequence_wraps():
    assembler = Vp8Assembler()
    assert feed(assembler, packets(65534, 0, DELTA)) == []
    (frame,) = feed(assembler, packets(65534 + 3 & 0xFFFF, 3000, KEY))
    assert frame.key


def test_descriptor_lengths_and_splitting():
    assert parse_vp8_descriptor(bytes([0x90, 0x80, 0x80, 0x01, 0x42])) == (True, 4)
    assert parse_vp8_descriptor(bytes([0x90, 0xE0, 0x05, 0x01, 0x20, 0x42])) == (True, 5)
    assert parse_vp8_descriptor(bytes([0x00, 0x42])) == (False, 1)
    chunks = split(b"x" * 2500, 1200)
    assert [len(c) for c in chunks] == [834, 834, 832]


def test_audio_sequence_filter_drops_late_duplicates():
    window = SequenceFilter()
    assert [window.accept(s) for s in (10, 11, 11, 13, 12, 14)] == [True, True, False, True, False, True]

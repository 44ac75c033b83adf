"""Program audio in one track (issue 10, item 2): mixing keeps both voices with exact timing, copies the chair's
packets untouched where the source is empty or silent, never wraps two loud voices, and is done once per
segment. Real libopus packets in real WebM segments; the result decoded with PyAV."""

import av
import pytest

from confserver.recording import mix
from confserver.recording.packets import AUDIO_CHAIR
from confserver.recording.segments import SegmentedWriter

from .media import DirSink, encode_video
from .tones import decoded, phase, phase_diff, power, source, tone

CHAIR_HZ, FLOOR_HZ = 440, 1000
HEARD = 0.005  # power of a 0.3-amplitude tone is ~0.0225; an absent one stays below 1e-4


def write_segment(tmp_path, packets, with_video=True):
    """One segment through the product's writer (two Opus tracks, VP8 video first)."""
    seconds = max(p.pts * p.time_base for p in packets) + 1
    if with_video:
        packets = packets + encode_video(160, 120, int(seconds * 30), 0)
    writer = SegmentedWriter(DirSink(tmp_path), segment_s=3600)
    for p in sorted(packets, key=lambda p: (p.pts * p.time_base, p.kind != "video")):
        writer.write(p)
    return writer.close().path


def audio_packets(path):
    try:
        c = av.open(str(path))
    except av.error.EOFError:
        return []  # a header and no packet
    with c:
        return [(int(p.pts), bytes(p)) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


def test_where_both_speak_both_voices_are_kept_with_exact_timing(tmp_path):
    seg = write_segment(tmp_path, tone(CHAIR_HZ, 6) + source(FLOOR_HZ, 2, start_ms=2000))
    out = tmp_path / "mixed.webm"
    stats = mix.mix_file(seg, out)

    samples, tracks = decoded(out)
    assert tracks == 1
    assert len(stats.regions) == 1 and stats.encoded > 0 and stats.copied > 0
    ((a, b),) = stats.regions
    assert 1600 <= a <= 2000 and 4000 <= b <= 4400  # the floor's two seconds and a little around them
    for t in (0.5, 1.2, 4.6, 5.5):  # the chair alone
        assert power(samples, t, CHAIR_HZ) > HEARD and power(samples, t, FLOOR_HZ) < HEARD / 50, t
    for t in (2.2, 3.0, 3.7):  # both: the chair and the room with the floor
        assert power(samples, t, CHAIR_HZ) > HEARD and power(samples, t, FLOOR_HZ) > HEARD, t
    # The chair's tone keeps its phase through the copied, the encoded and the copied parts again: no shift
    # (1 ms would move a 440 Hz tone by 158°).
    ref = phase(samples, 1.0, CHAIR_HZ)
    for t in (a / 1000 - 0.1, a / 1000 + 0.05, 3.0, b / 1000 - 0.1, b / 1000 + 0.05, 5.0):
        assert phase_diff(phase(samples, t, CHAIR_HZ), ref) < 20, t
    # Outside the region the packets are the chair's own, byte for byte, at their own times.
    chair = dict(audio_packets(seg))
    copied = [(ts, data) for ts, data in audio_packets(out) if ts < a or ts >= b]
    assert len(copied) == stats.copied and all(chair.get(ts) == data for ts, data in copied)
    assert abs(len(samples) / 48000 - 6.0) < 0.1


def test_a_silent_or_empty_source_means_the_chairs_packets_copied_without_decoding(tmp_path):
    # The source: nothing for 2 s, then a muted microphone (libopus codes digital silence in 3 bytes).
    seg = write_segment(tmp_path, tone(CHAIR_HZ, 5) + source(0, 3, start_ms=2000, silent=True))
    with av.open(str(seg)) as c:
        assert len(c.streams.audio) == 2
        assert any(p.dts is not None for p in c.demux(c.streams.audio[1]))  # the silent packets are there
    out = tmp_path / "mixed.webm"
    stats = mix.mix_file(seg, out)
    assert stats.regions == [] and stats.encoded == 0
    with av.open(str(seg)) as c:
        chair = [(int(p.pts), bytes(p)) for p in c.demux(c.streams.audio[AUDIO_CHAIR]) if p.dts is not None]
    assert audio_packets(out) == chair and stats.copied == len(chair)
    samples, tracks = decoded(out)
    assert tracks == 1 and power(samples, 3.0, CHAIR_HZ) > HEARD


def test_two_loud_voices_are_soft_clipped_never_wrapped(tmp_path):
    seg = write_segment(tmp_path, tone(CHAIR_HZ, 3, amp=0.9) + source(FLOOR_HZ, 3, amp=0.9), with_video=False)
    out = tmp_path / "mixed.webm"
    mix.mix_file(seg, out)
    samples, _ = decoded(out)
    middle = samples[48000:96000]
    # Summed they would reach 1.8; a wrap-around would show as a peak of the wrong sign and broadband noise.
    assert max(abs(x) for x in middle) < 1.05
    assert power(samples, 1.5, CHAIR_HZ) > 0.05 and power(samples, 1.5, FLOOR_HZ) > 0.05


def test_a_segment_without_audio_gives_an_empty_track(tmp_path):
    seg = write_segment(tmp_path, encode_video(160, 120, 30, 0), with_video=False)
    out = tmp_path / "mixed.webm"
    stats = mix.mix_file(seg, out)
    assert stats.copied == stats.encoded == 0 and out.is_file() and audio_packets(out) == []


@pytest.mark.parametrize(
    "data, samples",
    [
        (bytes([0b11111000, 1, 2]), 960),  # CELT FB 20 ms, one frame
        (bytes([0b01111001, 1, 2]), 1920),  # hybrid FB 20 ms, two frames
        (bytes([0b00001011, 0x83, 1]), 3 * 960),  # SILK NB 20 ms, code 3 with three frames
        (bytes([0b11100000]), 120),  # CELT FB 2.5 ms
        (bytes([0b00011000]), 2880),  # SILK 60 ms
    ],
)
def test_opus_packet_durations_from_the_toc(data, samples):
    assert mix.opus_samples(data) == samples


def test_the_floor_alone_and_two_separate_turns_are_each_kept(tmp_path):
    # The chair's console sends nothing from 2 s on; the floor speaks 0.5-1.5 s and again 3.5-4.5 s.
    packets = tone(CHAIR_HZ, 2) + source(FLOOR_HZ, 1, start_ms=500) + source(FLOOR_HZ, 1, start_ms=3500)
    seg = write_segment(tmp_path, packets, with_video=False)
    out = tmp_path / "mixed.webm"
    stats = mix.mix_file(seg, out)
    assert len(stats.regions) == 2
    samples, _ = decoded(out)
    assert power(samples, 0.8, FLOOR_HZ) > HEARD and power(samples, 0.8, CHAIR_HZ) > HEARD
    assert power(samples, 3.9, FLOOR_HZ) > HEARD and power(samples, 3.9, CHAIR_HZ) < HEARD / 50
    times = [ts for ts, _ in audio_packets(out)]
    assert all(a < b for a, b in zip(times, times[1:]))

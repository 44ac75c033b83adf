"""The relay feeds a real Recorder with its program (issue 10, items 1-4): real aiortc bots over loopback,
real WebM files read back with PyAV."""

import asyncio
import time

import pytest

from confserver.media.bot import close_to
from confserver.recording.segments import Recorder
from tests.recording.media import DirSink

from .conftest import join, until
from .recorded import read, strictly_increasing, tone_hz

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)
CHAIR_HZ, A_HZ, B_HZ = 300, 700, 1500
SIZES = {"chair": (320, 240), "A": (480, 272), "B": (256, 144)}


@pytest.fixture
def short_keyframes(settings):
    settings.RECORDING_KEYFRAME_S = 2.0
    settings.RECORDING_SEGMENT_S = 300
    return settings.RECORDING_KEYFRAME_S


def media_ms(slot) -> int:
    """The recorder slot's clock (its last frame's RTP timestamp, zero when recording started) in ms."""
    return slot.last_ts * 1000 // 90000


def bots(make_bot):
    chair = make_bot("chair", BLUE, size=SIZES["chair"], tone_hz=CHAIR_HZ, extra_audio=1)
    a = make_bot("A", RED, size=SIZES["A"], tone_hz=A_HZ, extra_audio=1)
    b = make_bot("B", GREEN, size=SIZES["B"], tone_hz=B_HZ, extra_audio=1)
    return chair, a, b


async def test_the_relay_records_its_program_across_source_switches(relay, make_bot, short_keyframes, tmp_path):
    chair, a, b = bots(make_bot)
    await join(relay, chair, a, b)
    relay.set_program("chair", ["chair", None])  # lecture: everyone sees and hears the chair
    await until(lambda: a.video[0].frames >= 5, 6, "the chair's picture at A")
    sink = DirSink(tmp_path)
    recorder = Recorder(sink, segment_s=300)
    started = time.monotonic()
    assert relay.start_recording(recorder.put, short_keyframes)
    assert not relay.start_recording(recorder.put, short_keyframes), "a second start changes nothing"
    # The recording's clock is its sources' RTP clocks: when the test machine starves the bots (same process,
    # load 18-60), their frames fall behind the wall clock by seconds. So the switches and the end are placed on
    # the recorder's own clock: the media time of the last picture it took when the command was given.
    video = relay._recorder.video
    await asyncio.sleep(3)
    at_a, lag_a = media_ms(video), (time.monotonic() - started) * 1000 - media_ms(video)
    relay.set_program("A", ["chair", "A"])  # A has the floor
    await asyncio.sleep(3)
    at_b = media_ms(video)
    relay.set_program("B", ["chair", "B"])  # then B
    await asyncio.sleep(3)
    at_end = media_ms(video)
    assert relay.stop_recording() and not relay.recording
    stopped = time.monotonic()
    assert at_end <= (stopped - started) * 1000 + 500, "the recording's clock never runs ahead of the meeting"
    assert await asyncio.to_thread(recorder.stop)
    frames = b.video[0].frames
    await until(lambda: b.video[0].frames > frames + 10, 3, "forwarding to go on after recording stopped")

    (segment,) = sink.closed_segments
    rec = read(segment.path)
    assert rec.first_video_packet_key, "the segment starts on a keyframe"
    times = [ms for ms, _, _ in rec.video]
    assert strictly_increasing(times)
    assert times[0] < 500, "the first picture comes at once (the cached keyframe, or one asked for)"
    # the program, in order: the chair, then A, then B; each at its own size, one playable file
    phases = []
    for ms, size, colour in rec.video:
        who = next((name for name, c in (("chair", BLUE), ("A", RED), ("B", GREEN)) if close_to(colour, c)), None)
        assert who is not None, (ms, colour)
        assert size == SIZES[who], (ms, who, size)
        if not phases or phases[-1][0] != who:
            phases.append((who, ms))
    assert [who for who, _ in phases] == ["chair", "A", "B"], phases
    assert at_a - 500 <= phases[1][1] <= at_a + 1000 and at_b - 500 <= phases[2][1] <= at_b + 1000, (phases, at_a, at_b)
    assert times[-1] >= at_end - 500, (times[-1], at_end)  # nothing taken before the stop is missing
    # keyframes: at every switch, and at least every RECORDING_KEYFRAME_S (+1 s for the round trip) between
    gaps = [q - p for p, q in zip(rec.keyframes_ms, rec.keyframes_ms[1:])]
    assert max(gaps) <= (short_keyframes + 1) * 1000, rec.keyframes_ms
    assert {ms for _, ms in phases[1:]} <= set(rec.keyframes_ms)
    # audio: track 0 the chair all along, track 1 the floor room (silent in the lecture), on the video's clock.
    # Each track's times follow its sender's RTP clock from the switch on: a bot starved of CPU (a busy test
    # machine) falls behind, so the tones are checked at each track's own start and end.
    chair_ms, floor_ms = rec.audio_packet_ms[0], rec.audio_packet_ms[1]
    assert strictly_increasing(chair_ms) and strictly_increasing(floor_ms)
    assert tone_hz(rec.audio[0], 0, 1500) == CHAIR_HZ
    assert tone_hz(rec.audio[0], chair_ms[-1] - 1500, chair_ms[-1] + 1) == CHAIR_HZ
    assert tone_hz(rec.audio[1], 0, at_a - 300) is None
    assert tone_hz(rec.audio[1], floor_ms[0], floor_ms[0] + 1500) == A_HZ
    assert tone_hz(rec.audio[1], floor_ms[-1] - 1500, floor_ms[-1] + 1) == B_HZ
    # one clock: A's audio (at once on slot 1) and its picture (at its next keyframe) start together
    # (a newly routed slot starts on the time since recording started: it differs from the picture's clock by
    # as much as the starved bots lag behind)
    assert abs(phases[1][1] - floor_ms[0]) < 700 + max(0, lag_a), (phases, floor_ms[0], lag_a)


def test_the_writers_integer_milliseconds_round_as_fractions_do():
    import random
    from fractions import Fraction

    from confserver.recording.segments import to_ms

    rng = random.Random(10)
    for tb in (Fraction(1, 90000), Fraction(1, 48000), Fraction(1, 1000), Fraction(1, 30), Fraction(3, 7)):
        values = list(range(-2000, 2000)) + [rng.randint(-(10**7), 10**12) for _ in range(20000)]
        assert [to_ms(v, tb) for v in values] == [round(v * tb * 1000) for v in values]

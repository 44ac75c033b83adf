"""Test-only program audio: Opus packets of pure tones (libopus), and what decoded audio holds at a frequency.

The chair speaks at one pitch and the room with the floor at another, so a mixed track can be checked for
both voices (the energy at each pitch) and for timing (the phase of a tone, which a shift of 1 ms moves by
360° × f / 1000)."""

import array
import math

import av

from confserver.recording.packets import AUDIO_CHAIR, AUDIO_SOURCE, EncodedPacket

from .media import AUDIO_TB

RATE = 48000


def tone(
    freq: float, seconds: float, start_ms: int = 0, amp: float = 0.3, track: int = AUDIO_CHAIR, silent: bool = False
) -> list[EncodedPacket]:
    """20 ms Opus packets of a sine (or digital silence) from `start_ms`, its phase counted from time 0."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.time_base = RATE, "mono", "s16", AUDIO_TB
    enc.bit_rate = 32000
    first = start_ms * RATE // 1000
    out = []
    for i in range(int(seconds * 50)):
        f = av.AudioFrame(format="s16", layout="mono", samples=960)
        f.sample_rate = RATE
        n0 = first + i * 960
        samples = (
            array.array("h", bytes(1920))
            if silent
            else array.array(
                "h", (int(32767 * amp * math.sin(2 * math.pi * freq * (n0 + j) / RATE)) for j in range(960))
            )
        )
        f.planes[0].update(samples.tobytes())
        f.pts, f.time_base = i * 960, AUDIO_TB
        out += list(enc.encode(f))
    out += list(enc.encode(None))
    # The encoder's packet k carries input from 960k - 312: its pts says so, and so does the packet's.
    return [EncodedPacket.audio(bytes(p), first + p.pts, AUDIO_TB, track) for p in out if first + p.pts >= 0]


def source(freq, seconds, start_ms=0, **kw):
    return tone(freq, seconds, start_ms, track=AUDIO_SOURCE, **kw)


def decoded(path, stream: int = 0) -> tuple[list[float], int]:
    """The first channel of an audio stream, decoded and placed by timestamp (48 kHz from 0); the number of
    audio streams in the file."""
    with av.open(str(path)) as c:
        n = len(c.streams.audio)
        buf = array.array("f")
        for frame in c.decode(c.streams.audio[stream]):
            pos = int(round(frame.pts * frame.time_base * RATE))
            data = array.array("f", bytes(frame.planes[0])[: frame.samples * 4])
            if len(buf) < pos + len(data):
                buf.extend([0.0] * (pos + len(data) - len(buf)))
            buf[pos : pos + len(data)] = data
    return buf.tolist(), n


def power(samples, t: float, freq: float, window_s: float = 0.2) -> float:
    """Goertzel: the power at `freq` of `window_s` seconds from `t` (a sine of amplitude A gives about A²/4)."""
    lo = int(t * RATE)
    xs = samples[lo : lo + int(window_s * RATE)]
    if not xs:
        return 0.0
    w = 2 * math.pi * freq / RATE
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in xs:
        s1, s2 = x + c * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - c * s1 * s2) / len(xs) ** 2


def phase(samples, t: float, freq: float, window_s: float = 0.05) -> float:
    """Degrees of the tone at `freq` against a sine that started at time 0 (stable while timing is exact)."""
    lo = int(t * RATE)
    re = im = 0.0
    for j, x in enumerate(samples[lo : lo + int(window_s * RATE)]):
        a = 2 * math.pi * freq * (lo + j) / RATE
        re += x * math.cos(a)
        im += x * math.sin(a)
    return math.degrees(math.atan2(im, re))


def phase_diff(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)

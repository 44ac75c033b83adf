"""The recorder's input: one already-encoded VP8 or Opus packet with its timestamp."""

from dataclasses import dataclass
from fractions import Fraction

VIDEO = "video"
AUDIO = "audio"
# A segment holds the program's two audio slots as two Opus tracks, in this order: the chair, and the
# source (the room with the floor or broadcast). Both are copied as they came; mix.py joins them.
AUDIO_CHAIR = 0
AUDIO_SOURCE = 1
AUDIO_TRACKS = 2


@dataclass(slots=True)
class EncodedPacket:
    """`pts` counts `time_base` units on a clock shared by the meeting's audio and video.

    Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, which cost ~2 µs of
    the relay's event loop per recorded packet (bench/_recording_cpu.py). Treat it as read-only all the same.
    """

    kind: str  # VIDEO (VP8) or AUDIO (Opus)
    data: bytes
    pts: int
    time_base: Fraction
    keyframe: bool = False
    track: int = 0  # audio only: AUDIO_CHAIR or AUDIO_SOURCE (mixed into one track after the meeting)

    @classmethod
    def video(cls, data: bytes, pts: int, time_base: Fraction) -> "EncodedPacket":
        return cls(VIDEO, bytes(data), pts, time_base, vp8_is_keyframe(data))

    @classmethod
    def audio(cls, data: bytes, pts: int, time_base: Fraction, track: int = 0) -> "EncodedPacket":
        return cls(AUDIO, bytes(data), pts, time_base, True, track)


def vp8_is_keyframe(data: bytes) -> bool:
    """RFC 6386 §9.1: bit 0 of the frame tag is 0 on a keyframe, which carries a start code."""
    return len(data) >= 10 and not data[0] & 1 and data[3:6] == b"\x9d\x01\x2a"


def vp8_size(data: bytes) -> tuple[int, int] | None:
    """Width and height carried by a VP8 keyframe, else None."""
    if not vp8_is_keyframe(data):
        return None
    return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF


# The relay's hand-over (media/recorder.py): a batch of `(stream, data, rtp_ts, keyframe)` tuples, `stream` being
# STREAM_VIDEO or STREAM_AUDIO + track, `rtp_ts` the slot's 32-bit RTP timestamp on the stream's clock (CLOCKS),
# zero when recording started. A tuple instead of an EncodedPacket, and the timestamps unwrapped by the writer
# thread (RtpClock) rather than on the relay's event loop: that loop forwards every meeting of the process.
STREAM_VIDEO = 0
STREAM_AUDIO = 1
CLOCKS = (90000,) + (48000,) * AUDIO_TRACKS  # per stream: RTP's video and Opus clocks


class RtpClock:
    """Unwraps each stream's 32-bit RTP timestamps into ms since recording started (one clock for all streams)."""

    __slots__ = ("_last", "_pts")

    def __init__(self):
        self._last = [0] * len(CLOCKS)
        self._pts = [0] * len(CLOCKS)

    def pts(self, stream: int, ts: int) -> int:
        """The stream's timestamp unwrapped, in its clock's units since recording started."""
        delta = (ts - self._last[stream]) & 0xFFFFFFFF
        self._last[stream] = ts
        pts = self._pts[stream] = self._pts[stream] + (delta - 0x100000000 if delta >= 0x80000000 else delta)
        return pts

    def ms(self, stream: int, ts: int) -> int:
        """round(pts * 1000 / clock), half to even, as segments.to_ms does for an EncodedPacket."""
        delta = (ts - self._last[stream]) & 0xFFFFFFFF
        self._last[stream] = ts
        pts = self._pts[stream] + (delta - 0x100000000 if delta >= 0x80000000 else delta)
        self._pts[stream] = pts
        q, r = divmod(pts * 1000, CLOCKS[stream])
        twice = 2 * r
        return q + 1 if twice > CLOCKS[stream] or (twice == CLOCKS[stream] and q & 1) else q

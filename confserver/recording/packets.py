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

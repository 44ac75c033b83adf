"""Encoded frames and their RTP (de)packetisation for VP8 and Opus (pure Python).

The relay forwards whole encoded frames: it rebuilds each VP8 frame from the
publisher's packets (RFC 7741), and repacketises it for every subscriber with
that subscriber's own sequence numbers and picture IDs. No decoding happens.
"""

from .temporal import vp8_temporal

# RTP payload per packet, VP8 descriptor excluded: leaves room for the RTP
# header, extensions, SRTP tag and a TURN header under a 1400-byte MTU.
MAX_CHUNK = 1200

_EMPTY: list = []


class Frame:
    """One encoded frame of one source: RTP timestamp, bytes, keyframe flag."""

    __slots__ = ("ts", "data", "key", "level_byte", "chunks", "tid", "sync")

    def __init__(self, ts: int, data: bytes, key: bool, level=None, tid: int | None = None, sync: bool = False):
        self.ts = ts
        self.data = data
        self.key = key
        # Opus: the publisher's (voice activity, -dBov), if sent, as its one-byte header extension element
        # (RFC 6464), made once for every room the frame goes to
        self.level_byte = bytes(((0x80 if level[0] else 0) | (level[1] & 0x7F),)) if level is not None else None
        self.chunks: list[bytes] | None = None  # VP8 payload slices, made once
        self.tid = tid  # VP8 temporal layer (media/temporal.py), None if the publisher marks none
        self.sync = sync  # VP8 layer sync: references only the base layer


def split(data: bytes, size: int = MAX_CHUNK) -> list[bytes]:
    """Slice a frame into near-equal chunks, as libwebrtc does (no tiny last packet)."""
    length = len(data)
    if length <= size:
        return [data]
    count = -(-length // size)
    step = -(-length // count)
    return [data[i : i + step] for i in range(0, length, step)]


def parse_vp8_descriptor(payload: bytes) -> tuple[bool, int]:
    """Return (starts a frame, descriptor length) of a VP8 RTP payload."""
    size = len(payload)
    if size < 1:
        raise ValueError("empty VP8 payload")
    octet = payload[0]
    # S bit with partition index 0 opens a frame (RFC 7741 section 4.2).
    start = (octet & 0x1F) == 0x10
    pos = 1
    if octet & 0x80:
        if size < 2:
            raise ValueError("truncated VP8 descriptor")
        ext = payload[1]
        pos = 2
        if ext & 0x80:
            if size <= pos:
                raise ValueError("truncated VP8 picture ID")
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    if pos > size:
        raise ValueError("truncated VP8 descriptor")
    return start, pos


def vp8_is_keyframe(frame_data: bytes) -> bool:
    """The P bit of the VP8 frame tag is 0 on keyframes (RFC 6386 section 9.1)."""
    return bool(frame_data) and not (frame_data[0] & 1)


class Vp8Assembler:
    """Rebuilds VP8 frames from RTP packets in sequence order.

    A frame is released as soon as its marker packet arrives and every packet
    before it is there (no extra frame of delay). Packets after a gap wait for
    the retransmission; when it does not come within `give_up_s`, the gap is
    skipped and the stream is `broken`: delta frames are dropped until the
    next keyframe, so that no subscriber decodes a frame whose reference is
    missing. The owner asks the publisher for a keyframe while `broken`.
    """

    def __init__(self, give_up_s: float = 0.25, max_pending: int = 1024):
        self.give_up_s = give_up_s
        self.max_pending = max_pending
        self.next_seq: int | None = None
        self.ts: int | None = None  # timestamp of the frame being built, None if none
        self.parts: list[bytes] = []
        self.key = False
        self.tid: int | None = None
        self.sync = False
        self.pending: dict[int, tuple[int, int, bytes]] = {}
        self.gap_since = 0.0
        self.broken = True  # nothing is decodable before the first keyframe
        self.frames_dropped = 0
        self.gaps_skipped = 0

    def push(self, seq: int, ts: int, marker: int, payload: bytes, now: float) -> list[Frame]:
        if self.next_seq is None:
            self.next_seq = seq
        delta = (seq - self.next_seq) & 0xFFFF
        if delta == 0:
            out: list[Frame] = []
            self._take(seq, ts, marker, payload, out)
            if self.pending:
                self._drain(out, now)
            return out
        if delta >= 0x8000:
            return _EMPTY  # duplicate, or a retransmission that came too late
        if not self.pending:
            self.gap_since = now
        self.pending[seq] = (ts, marker, payload)
        if now - self.gap_since > self.give_up_s or len(self.pending) > self.max_pending:
            out = []
            self._skip_gap(out, now)
            return out
        return _EMPTY

    def _take(self, seq: int, ts: int, marker: int, payload: bytes, out: list[Frame]) -> None:
        self.next_seq = (seq + 1) & 0xFFFF
        if not payload:
            return  # padding-only packet
        try:
            start, offset = parse_vp8_descriptor(payload)
        except ValueError:
            self._abandon()
            return
        data = payload[offset:]
        if start:
            if self.ts is not None:
                self._abandon()  # the previous frame never got its marker packet
            self.ts = ts
            self.parts = [data]
            self.key = vp8_is_keyframe(data)
            self.tid, self.sync = vp8_temporal(payload)
        elif self.ts is None or ts != self.ts:
            self.ts = None  # continuation of a frame whose start is lost
            return
        else:
            self.parts.append(data)
        if marker:
            parts = self.parts
            frame_ts = self.ts
            self.ts = None
            self.parts = []
            if self.broken:
                if not self.key:
                    self.frames_dropped += 1
                    return
                self.broken = False
            out.append(
                Frame(frame_ts, parts[0] if len(parts) == 1 else b"".join(parts), self.key, None, self.tid, self.sync)
            )

    def _abandon(self) -> None:
        if self.ts is not None:
            self.frames_dropped += 1
        self.ts = None
        self.parts = []
        self.broken = True

    def _drain(self, out: list[Frame], now: float) -> None:
        pending = self.pending
        while self.next_seq in pending:
            seq = self.next_seq
            ts, marker, payload = pending.pop(seq)
            self._take(seq, ts, marker, payload, out)
        if pending:
            self.gap_since = now  # a further gap: give it its own time

    def _skip_gap(self, out: list[Frame], now: float) -> None:
        self.gaps_skipped += 1
        self._abandon()
        base = self.next_seq
        self.next_seq = min(self.pending, key=lambda s: (s - base) & 0xFFFF)
        self._drain(out, now)


class SequenceFilter:
    """Drops duplicated and late RTP packets of a stream released packet by packet (Opus)."""

    __slots__ = ("next_seq",)

    def __init__(self) -> None:
        self.next_seq: int | None = None

    def accept(self, seq: int) -> bool:
        if self.next_seq is None:
            self.next_seq = (seq + 1) & 0xFFFF
            return True
        delta = (seq - self.next_seq) & 0xFFFF
        if delta >= 0x8000:
            return False
        self.next_seq = (seq + 1) & 0xFFFF
        return True

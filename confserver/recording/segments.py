"""Copy encoded VP8/Opus packets into WebM segments, without decoding (recorder.py runs them on its writer thread).

Issue 10 (recording): segments start on a keyframe, roll over every RECORDING_SEGMENT_S, and use
the muxer options that keep a SIGKILL's loss to 1-2 s instead of ~11 s.
"""

import hashlib
import io
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av

from .packets import AUDIO_TRACKS, CLOCKS, STREAM_AUDIO, STREAM_VIDEO, VIDEO, EncodedPacket, RtpClock, vp8_size
from .webm import WebmFile

log = logging.getLogger("confserver.recording")

# Flush every packet, close a Matroska cluster every second, interleave within half a second: a killed
# process leaves a file that plays up to its last second (measured loss 1-2 s; defaults lose ~11 s). The
# interleaving bound matters because the source's audio track is silent whenever nobody has the floor:
# the muxer holds the other streams' packets that long waiting for it (1 s here lost the last second).
MUXER_OPTIONS = {"flush_packets": "1", "cluster_time_limit": "1000", "max_interleave_delta": "500000"}
MS = Fraction(1, 1000)  # Matroska's own time base
# A Matroska tag in each segment's header: the SHA-256 of the meeting's segment before it ("" for the first).
# The file's own hash covers it, so each file vouches for the one before and the last segment's hash (fixed in
# the final minutes) for the whole chain; a chain kept only in database rows could be rewritten with them.
PREVIOUS_TAG = "PREVIOUS_SEGMENT_SHA256"
DEFAULT_SIZE = (640, 360)  # only for the header of a segment that opens on audio; decoders read the keyframe
WRITE_ERRORS = (OSError, av.error.FFmpegError)
TICKS_PER_MS = tuple(clock // 1000 for clock in CLOCKS)  # per hand-over stream (packets.CLOCKS: 90 and 48)


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_page(payload: bytes, seq: int, flags: int, granule: int = 0) -> bytes:
    header = b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, 1, seq, 0) + bytes([1, len(payload)])
    return header[:22] + struct.pack("<I", _ogg_crc(header + payload)) + header[26:] + payload


_opus_templates: dict[int, "av.container.InputContainer"] = {}
_opus_lock = threading.Lock()


def opus_template(channels: int) -> "av.audio.stream.AudioStream":
    """An Opus stream carrying an OpusHead (RFC 7845) to copy into each segment's CodecPrivate.

    Matroska's Opus mapping requires it and `add_mux_stream("opus")` leaves it empty (PyAV 18 cannot set
    a mux stream's extradata), so the head comes from a three-page Ogg file built here; nothing is encoded.
    """
    with _opus_lock:
        if channels not in _opus_templates:
            head = b"OpusHead" + bytes([1, channels]) + struct.pack("<HIhB", 312, 48000, 0, 0)
            tags = b"OpusTags" + struct.pack("<II", 0, 0)
            silence = b"\xf8\xff\xfe"  # one 20 ms packet, for the demuxer's probe
            ogg = _ogg_page(head, 0, 2) + _ogg_page(tags, 1, 0) + _ogg_page(silence, 2, 4, 312 + 960)
            _opus_templates[channels] = av.open(io.BytesIO(ogg), "r", format="ogg")
        return _opus_templates[channels].streams.audio[0]


@dataclass(frozen=True)
class SegmentStart:
    """What a sink answers when a segment opens: its file, and the hash of the segment before (the chain link)."""

    path: Path
    previous_sha256: str = ""


@dataclass(frozen=True)
class ClosedSegment:
    path: Path
    started_at: datetime
    ended_at: datetime
    size: int
    sha256: str


class SegmentSink(Protocol):
    """Where segments go: names each new file (a Path, or a SegmentStart with the chain link) and records each
    closed one (store.DatabaseSink)."""

    def opened(self, started_at: datetime) -> "Path | SegmentStart": ...

    def closed(self, segment: ClosedSegment) -> None: ...

    def finished(self) -> None: ...


def to_ms(pts: int, time_base: Fraction) -> int:
    """round(pts * time_base * 1000) (half to even) in integers: the Fraction arithmetic took ~6 µs a
    packet, the most expensive step of the writer thread (bench/_recording_cpu.py)."""
    return _to_ms(pts, time_base.numerator * 1000, time_base.denominator)


def _to_ms(pts: int, num: int, den: int) -> int:
    """to_ms with the time base's numerator (times 1000) and denominator already read (Fraction's properties
    are Python calls)."""
    q, r = divmod(pts * num, den)
    twice = 2 * r
    return q + 1 if twice > den or (twice == den and q & 1) else q


def embedded_previous(path: Path) -> str | None:
    """The previous segment's hash written in the file's header ("" for none); None if the file cannot be read."""
    try:
        with av.open(str(path)) as c:
            return c.metadata.get(PREVIOUS_TAG, "")
    except (OSError, av.error.FFmpegError):
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class SegmentFile:
    """One WebM file: packets copied as they are, timestamps in ms from the segment's origin, never going back.

    Streams: 0 is the VP8 video, then one Opus stream per audio track (packets.AUDIO_CHAIR, AUDIO_SOURCE).
    """

    def __init__(
        self,
        path: Path,
        origin_ms: int,
        size: tuple[int, int],
        audio_channels: int = 2,
        audio_tracks: int = AUDIO_TRACKS,
        previous_sha256: str = "",
    ):
        self.path = path
        self.origin_ms = origin_ms
        self.has_video = False
        self.end_ms = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(path), "w", format="webm", options=MUXER_OPTIONS)
        self._container: av.container.OutputContainer | None = container  # None once closed
        if previous_sha256:
            container.metadata[PREVIOUS_TAG] = previous_sha256
        # Streams by index: 0 the video, 1 + track the audio tracks.
        self._streams = [container.add_mux_stream("vp8", width=size[0], height=size[1])]
        for _ in range(audio_tracks):
            self._streams.append(container.add_stream_from_template(opus_template(audio_channels)))
        self._last = [-1] * len(self._streams)
        self._mux = container.mux_one
        self._in_ms = False  # once the muxer's streams count in ms, packets need no time base to convert

    def write(self, index: int, ms: int, data: bytes, keyframe: bool) -> None:
        """`index`: packets.STREAM_VIDEO, or STREAM_AUDIO + the audio track."""
        # A source switch or a jittery clock may step back: keep each stream strictly increasing.
        ts = ms - self.origin_ms
        last = self._last[index]
        if ts <= last:
            ts = last + 1
        elif ts < 0:
            ts = 0
        self._last[index] = ts
        if ts > self.end_ms:
            self.end_ms = ts
        packet = av.Packet(data)
        packet.pts = packet.dts = ts
        if not self._in_ms:
            packet.time_base = MS
        packet.is_keyframe = keyframe
        packet.stream = self._streams[index]
        self._mux(packet)
        if not self._in_ms:
            # Matroska's streams count in ms once the header is written (the first mux): a packet without a
            # time base is then taken as in the stream's, with no conversion.
            self._in_ms = all(stream.time_base == MS for stream in self._streams)
        if index == STREAM_VIDEO:
            self.has_video = True

    def close(self) -> int:
        container, self._container = self._container, None
        if container is not None:
            container.close()
        return self.path.stat().st_size


def file_class(writer: str | None = None) -> type:
    """The segment file for `writer` ('webm': webm.WebmFile, 'pyav': SegmentFile), by default settings.RECORDING_WRITER
    ('pyav' without Django settings)."""
    if writer is None:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        try:
            writer = getattr(settings, "RECORDING_WRITER", "pyav")
        except ImproperlyConfigured:
            writer = "pyav"
    if writer == "webm":
        return WebmFile
    if writer == "pyav":
        return SegmentFile
    raise ValueError(f"RECORDING_WRITER must be 'webm' or 'pyav', not {writer!r}")


class SegmentedWriter:
    """Synchronous: writes packets into consecutive segments of `segment_s`, each opening on a VP8 keyframe."""

    def __init__(
        self,
        sink: SegmentSink,
        segment_s: float,
        clock: Callable[[], float] = time.time,
        audio_channels: int = 2,
        writer: str | None = None,
    ):
        self.sink = sink
        self.file_class = file_class(writer)
        self.audio_channels = audio_channels  # WebRTC negotiates opus/48000/2, whatever the content
        self.segment_ms = int(segment_s * 1000)
        self.clock = clock
        self.file: SegmentFile | WebmFile | None = None
        self.started_at: datetime | None = None
        self.size: tuple[int, int] | None = None
        self.closed: list[ClosedSegment] = []
        self.dropped = 0
        self._tb: Fraction | None = None  # the last packet's time base, and its terms
        self._tb_num, self._tb_den = 0, 1
        self._rtp = RtpClock()  # the relay's hand-over (write_frames)

    def write(self, p: EncodedPacket) -> None:
        tb = p.time_base
        if tb is not self._tb:  # one Fraction object per clock: read its terms once
            self._tb, self._tb_num, self._tb_den = tb, tb.numerator * 1000, tb.denominator
        self._write(
            STREAM_VIDEO if p.kind == VIDEO else STREAM_AUDIO + p.track,
            _to_ms(p.pts, self._tb_num, self._tb_den),
            p.data,
            p.keyframe,
        )

    def write_frames(self, frames) -> None:
        """The relay's hand-over: `(stream, data, rtp_ts, keyframe)` tuples (packets.RtpClock's timestamps)."""
        # The writer thread's hot path: RtpClock.ms and _write's common case (an open segment that has had its
        # keyframe; no video keyframe, which may roll over) inlined, one Python call a packet instead of three.
        clock = self._rtp
        if self.file_class is WebmFile:
            self._write_frames_webm(frames, clock)
            return
        last, acc = clock._last, clock._pts
        f = self.file
        put = f.write if f is not None and f.has_video else None
        for stream, data, ts, key in frames:
            delta = (ts - last[stream]) & 0xFFFFFFFF
            last[stream] = ts
            pts = acc[stream] = acc[stream] + (delta - 0x100000000 if delta >= 0x80000000 else delta)
            # ms = round(pts * 1000 / clock), half to even, as RtpClock.ms
            unit = TICKS_PER_MS[stream]
            q, r = divmod(pts, unit)
            twice = 2 * r
            ms = q + 1 if twice > unit or (twice == unit and q & 1) else q
            if put is not None and not (key and stream == STREAM_VIDEO):
                put(stream, ms, data, key)
            else:
                self._write(stream, ms, data, key)
                f = self.file
                put = f.write if f is not None and f.has_video else None

    def _write_frames_webm(self, frames, clock: RtpClock) -> None:
        # WebmFile.write_frames takes the run of packets up to the next video keyframe in one loop; the keyframe
        # (a roll-over, maybe) and anything before the segment's first video go the general way.
        i, n = 0, len(frames)
        while i < n:
            f = self.file
            if isinstance(f, WebmFile) and f.has_video:  # always a WebmFile here (file_class): for the type checker
                i = f.write_frames(frames, i, clock)
                if i == n:
                    return
            stream, data, ts, key = frames[i]
            self._write(stream, clock.ms(stream, ts), data, key)
            i += 1

    def _write(self, stream: int, ms: int, data: bytes, keyframe: bool) -> None:
        f = self.file
        if stream == STREAM_VIDEO:
            if keyframe:
                self.size = vp8_size(data) or self.size
                if f is None or (f.has_video and ms - f.origin_ms >= self.segment_ms):
                    f = self._roll(ms)
            elif f is None or not f.has_video:
                self.dropped += 1  # undecodable until the next keyframe
                return
        elif f is None or (not f.has_video and ms - f.origin_ms >= self.segment_ms):
            f = self._roll(ms)  # audio starts at once; audio-only segments roll over on time
        f.write(stream, ms, data, keyframe)

    def _roll(self, ms: int) -> "SegmentFile | WebmFile":
        self.close()
        self.started_at = datetime.fromtimestamp(self.clock(), UTC)
        start = self.sink.opened(self.started_at)
        if not isinstance(start, SegmentStart):
            start = SegmentStart(start)
        self.file = self.file_class(
            start.path, ms, self.size or DEFAULT_SIZE, self.audio_channels, previous_sha256=start.previous_sha256
        )
        return self.file

    def close(self) -> ClosedSegment | None:
        """Close the current segment properly, hash it and record it; None if there was none."""
        f, self.file = self.file, None
        if f is None:
            return None
        size = f.close()
        assert self.started_at is not None  # set with the file it opened (_roll)
        done = ClosedSegment(
            f.path, self.started_at, self.started_at + timedelta(milliseconds=f.end_ms), size, sha256_file(f.path)
        )
        self.sink.closed(done)
        self.closed.append(done)
        return done

    def abandon(self) -> None:
        """After a write error: release the file without recording it (recover() finishes it later)."""
        f, self.file = self.file, None
        if f is not None:
            try:
                f.close()
            except WRITE_ERRORS:
                pass


def __getattr__(name: str):
    """`segments.Recorder`, where callers import it from: it lives in recorder.py (a meeting's queue, written by
    the process's writer thread), which imports this module."""
    if name == "Recorder":
        from .recorder import Recorder

        return Recorder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

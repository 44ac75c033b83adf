"""Copy encoded VP8/Opus packets into WebM segments, without decoding, on a thread of their own.

Issue 10 (recording): segments start on a keyframe, roll over every RECORDING_SEGMENT_S, and use
the muxer options that keep a SIGKILL's loss to 1-2 s instead of ~11 s.
"""
import hashlib
import io
import logging
import struct
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol

import av

from .packets import AUDIO, AUDIO_TRACKS, VIDEO, EncodedPacket, vp8_size

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
            _opus_templates[channels] = av.open(io.BytesIO(ogg), format="ogg")
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

    def __init__(self, path: Path, origin_ms: int, size: tuple[int, int], audio_channels: int = 2,
                 audio_tracks: int = AUDIO_TRACKS, previous_sha256: str = ""):
        self.path = path
        self.origin_ms = origin_ms
        self.has_video = False
        self.end_ms = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), "w", format="webm", options=MUXER_OPTIONS)
        if previous_sha256:
            self._container.metadata[PREVIOUS_TAG] = previous_sha256
        # Streams by index: 0 the video, 1 + track the audio tracks.
        self._streams = [self._container.add_mux_stream("vp8", width=size[0], height=size[1])]
        for track in range(audio_tracks):
            self._streams.append(self._container.add_stream_from_template(opus_template(audio_channels)))
        self._last = [-1] * len(self._streams)
        self._mux = self._container.mux_one
        self._in_ms = False  # once the muxer's streams count in ms, packets need no time base to convert

    def write(self, kind: str, ms: int, data: bytes, keyframe: bool, track: int = 0) -> None:
        index = 0 if kind == VIDEO else 1 + track
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
        if kind == VIDEO:
            self.has_video = True

    def close(self) -> int:
        container, self._container = self._container, None
        if container is not None:
            container.close()
        return self.path.stat().st_size


class SegmentedWriter:
    """Synchronous: writes packets into consecutive segments of `segment_s`, each opening on a VP8 keyframe."""

    def __init__(self, sink: SegmentSink, segment_s: float, clock: Callable[[], float] = time.time,
                 audio_channels: int = 2):
        self.sink = sink
        self.audio_channels = audio_channels  # WebRTC negotiates opus/48000/2, whatever the content
        self.segment_ms = int(segment_s * 1000)
        self.clock = clock
        self.file: SegmentFile | None = None
        self.started_at: datetime | None = None
        self.size: tuple[int, int] | None = None
        self.closed: list[ClosedSegment] = []
        self.dropped = 0
        self._tb, self._tb_num, self._tb_den = None, 0, 1  # the last packet's time base, and its terms

    def write(self, p: EncodedPacket) -> None:
        tb = p.time_base
        if tb is not self._tb:  # one Fraction object per clock: read its terms once
            self._tb, self._tb_num, self._tb_den = tb, tb.numerator * 1000, tb.denominator
        ms = _to_ms(p.pts, self._tb_num, self._tb_den)
        f = self.file
        if p.kind == VIDEO:
            if p.keyframe:
                self.size = vp8_size(p.data) or self.size
                if f is None or (f.has_video and ms - f.origin_ms >= self.segment_ms):
                    f = self._roll(ms)
            elif f is None or not f.has_video:
                self.dropped += 1  # undecodable until the next keyframe
                return
        elif f is None or (not f.has_video and ms - f.origin_ms >= self.segment_ms):
            f = self._roll(ms)  # audio starts at once; audio-only segments roll over on time
        f.write(p.kind, ms, p.data, p.keyframe, p.track)

    def _roll(self, ms: int) -> SegmentFile:
        self.close()
        self.started_at = datetime.fromtimestamp(self.clock(), timezone.utc)
        start = self.sink.opened(self.started_at)
        if not isinstance(start, SegmentStart):
            start = SegmentStart(start)
        self.file = SegmentFile(start.path, ms, self.size or DEFAULT_SIZE, self.audio_channels,
                                previous_sha256=start.previous_sha256)
        return self.file

    def close(self) -> ClosedSegment | None:
        """Close the current segment properly, hash it and record it; None if there was none."""
        f, self.file = self.file, None
        if f is None:
            return None
        size = f.close()
        done = ClosedSegment(f.path, self.started_at, self.started_at + timedelta(milliseconds=f.end_ms),
                             size, sha256_file(f.path))
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


_STOP = object()


class Recorder:
    """Owns a writer thread fed through a bounded queue; `put` never blocks and never raises.

    On a full queue or a write error it stops, closes what it can and calls `on_failure(code, detail)`
    once, from a thread that is not the caller's. Codes: queue_full, disk_error, error.
    """

    def __init__(self, sink: SegmentSink, on_failure: Callable[[str, str], None] | None = None,
                 segment_s: float | None = None, max_queue: int | None = None, name: str = "recorder"):
        from django.conf import settings

        self._writer = SegmentedWriter(sink, segment_s if segment_s is not None else settings.RECORDING_SEGMENT_S)
        # Batches (lists of packets) go through a SimpleQueue; the bound is on packets, counted in _pending.
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.max_queue = max_queue or settings.RECORDING_QUEUE_PACKETS
        self._pending = 0  # packets queued and not yet written (under _lock)
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self.failure: tuple[str, str] | None = None
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def segments(self) -> list[ClosedSegment]:
        return list(self._writer.closed)

    def put(self, packet: EncodedPacket) -> bool:
        """Queue one packet; False once the recorder has stopped or failed."""
        return self.put_many((packet,))

    def put_many(self, packets: "list[EncodedPacket] | tuple[EncodedPacket, ...]") -> bool:
        """Queue packets, in order, as one hand-over (one queue operation and at most one wake-up of the writer
        for the whole batch); all or none. False once the recorder has stopped or failed, or when the batch
        would take the queue past `max_queue` packets (then the recorder fails with queue_full). The writer thread
        reads the list itself: the caller must not change it afterwards."""
        if self.stopped:
            return False
        n = len(packets)
        with self._lock:
            full = self._pending + n > self.max_queue
            if not full:
                self._pending += n
        if full:
            # The writer may be stuck on the disk: tell the owner from a fresh thread, now.
            if self._fail("queue_full", f"hàng đợi đầy ({self.max_queue} gói) / queue full"):
                threading.Thread(target=self._report, name="recorder-failure", daemon=True).start()
            return False
        if n:
            self._queue.put(packets)
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Finish the queued packets, close the segment; True if the writer thread ended in time."""
        self.stopped = True
        self._queue.put(_STOP)  # unbounded in items: the bound is on packets, and nothing more is put now
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _fail(self, code: str, detail: str) -> bool:
        with self._lock:
            if self.failure is not None:
                return False
            self.failure = (code, detail)
            self.stopped = True
            return True

    def _report(self) -> None:
        log.error("recording stopped: %s %s", *self.failure)
        if self._on_failure is not None:
            try:
                self._on_failure(*self.failure)
            except Exception:
                log.exception("recording failure callback raised")

    def _run(self) -> None:
        writer = self._writer
        try:
            while True:
                batch = self._queue.get()
                if batch is _STOP or self.failure is not None:
                    break
                write = writer.write
                for packet in batch:
                    write(packet)
                with self._lock:
                    self._pending -= len(batch)
            # Stopped, or the queue overflowed: the segment written so far is still closed properly.
            writer.close()
        except WRITE_ERRORS as e:
            writer.abandon()
            if self._fail("disk_error", f"lỗi ghi đĩa / write failed: {e}"):
                self._report()
        except Exception as e:  # never let the thread die silently
            log.exception("recorder crashed")
            writer.abandon()
            if self._fail("error", repr(e)):
                self._report()
        finally:
            self._drain()
            try:
                writer.sink.finished()
            except Exception:
                log.exception("recording sink cleanup failed")

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

"""A WebM (Matroska) writer of our own for live segments: the same streams and header as segments.SegmentFile (PyAV),
without PyAV's per-packet cost (Packet object + mux call, ~1.5-6 µs a packet in the relay; bench/_recording_cpu.py).

Layout: EBML header, a Segment of unknown size, SeekHead, Info (Duration fixed on close), Tracks (VP8 + one Opus
track per audio slot, CodecPrivate = OpusHead), Tags (segments.PREVIOUS_TAG), then Clusters of SimpleBlocks built in
memory and written with one write each; on close, Cues, and the Segment's size, Duration and the SeekHead's Cues
position written in place. A cluster holds at most CLUSTER_MS of the program, so a killed process loses about that
(the file, with its unknown-size Segment and no Cues, still demuxes: recovery remuxes it).
"""

import struct
from pathlib import Path

from .packets import CLOCKS, RtpClock

CLUSTER_MS = 1000  # a cluster's span: what a SIGKILL loses at most, beside the writer's queue
CLUSTER_BYTES = 4 << 20  # or this much data, whichever first
UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"
APP = "confserver"
OPUS_PRESKIP = 312  # samples, as segments.opus_template's OpusHead says
CODEC_DELAY_NS = OPUS_PRESKIP * 1_000_000_000 // 48000
# Blocks of an Opus track are stamped this much late, as FFmpeg's muxer does: a demuxer takes CodecDelay off again.
AUDIO_DELAY_MS = (OPUS_PRESKIP * 1000 + 24000) // 48000  # 7 (6.5 rounded away from zero)
SEEK_PREROLL_NS = 80_000_000  # RFC 7845's 80 ms, what FFmpeg writes for Opus

# Element ids (Matroska spec), as their encoded bytes.
EBML, SEGMENT, SEEKHEAD, SEEK, SEEKID, SEEKPOS = (
    b"\x1a\x45\xdf\xa3",
    b"\x18\x53\x80\x67",
    b"\x11\x4d\x9b\x74",
    b"\x4d\xbb",
    b"\x53\xab",
    b"\x53\xac",
)
INFO, TIMESTAMP_SCALE, DURATION, MUXING_APP, WRITING_APP = (
    b"\x15\x49\xa9\x66",
    b"\x2a\xd7\xb1",
    b"\x44\x89",
    b"\x4d\x80",
    b"\x57\x41",
)
TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_UID, TRACK_TYPE, FLAG_LACING, CODEC_ID, CODEC_PRIVATE = (
    b"\x16\x54\xae\x6b",
    b"\xae",
    b"\xd7",
    b"\x73\xc5",
    b"\x83",
    b"\x9c",
    b"\x86",
    b"\x63\xa2",
)
CODEC_DELAY, SEEK_PREROLL, VIDEO, PIXEL_W, PIXEL_H, AUDIO, SAMPLING, CHANNELS = (
    b"\x56\xaa",
    b"\x56\xbb",
    b"\xe0",
    b"\xb0",
    b"\xba",
    b"\xe1",
    b"\xb5",
    b"\x9f",
)
TAGS, TAG, TARGETS, SIMPLE_TAG, TAG_NAME, TAG_STRING = (
    b"\x12\x54\xc3\x67",
    b"\x73\x73",
    b"\x63\xc0",
    b"\x67\xc8",
    b"\x45\xa3",
    b"\x44\x87",
)
CLUSTER, CLUSTER_TS, SIMPLE_BLOCK = b"\x1f\x43\xb6\x75", b"\xe7", b"\xa3"
CUES, CUE_POINT, CUE_TIME, CUE_TRACK_POSITIONS, CUE_TRACK, CUE_CLUSTER_POS = (
    b"\x1c\x53\xbb\x6b",
    b"\xbb",
    b"\xb3",
    b"\xb7",
    b"\xf7",
    b"\xf1",
)
VOID = b"\xec"
# A SimpleBlock's header with a 1- or 2-byte size: id, size, track, relative time, flags.
_HEAD1 = struct.Struct(">BBBhB").pack
_HEAD2 = struct.Struct(">BHBhB").pack
_BLOCK_HEAD = struct.Struct(">BhB").pack
_TICKS_PER_MS = tuple(clock // 1000 for clock in CLOCKS)  # per hand-over stream: 90 (video), 48 (Opus)


def size(n: int) -> bytes:
    """An EBML data size in the fewest bytes (all-ones values are reserved for 'unknown')."""
    for length in range(1, 8):
        if n < (1 << (7 * length)) - 1:
            return (n | (1 << (7 * length))).to_bytes(length, "big")
    return b"\x01" + n.to_bytes(7, "big")


def element(eid: bytes, payload: bytes) -> bytes:
    return eid + size(len(payload)) + payload


def uint(eid: bytes, value: int) -> bytes:
    return element(eid, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def text(eid: bytes, value: str) -> bytes:
    return element(eid, value.encode())


def _float(eid: bytes, value: float) -> bytes:
    return element(eid, struct.pack(">d", value))


def _seek(eid: bytes, position: int) -> bytes:
    return element(SEEK, element(SEEKID, eid) + element(SEEKPOS, position.to_bytes(8, "big")))


class WebmFile:
    """One WebM segment file; same interface as segments.SegmentFile (write(index, ms, data, keyframe), close())."""

    def __init__(
        self,
        path: Path,
        origin_ms: int,
        frame_size: tuple[int, int],
        audio_channels: int = 2,
        audio_tracks: int = 2,
        previous_sha256: str = "",
    ):
        from .segments import opus_template

        self.path = path
        self.origin_ms = origin_ms
        self.has_video = False
        self._last = [-1] * (1 + audio_tracks)  # per stream: its last block's time (ms from the origin)
        opus_head = bytes(opus_template(audio_channels).codec_context.extradata)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "wb")
        self._f.write(
            element(
                EBML,
                uint(b"\x42\x86", 1)
                + uint(b"\x42\xf7", 1)
                + uint(b"\x42\xf2", 4)
                + uint(b"\x42\xf3", 8)
                + text(b"\x42\x82", "webm")
                + uint(b"\x42\x87", 4)
                + uint(b"\x42\x85", 2),
            )
        )
        self._f.write(SEGMENT + UNKNOWN_SIZE)
        self._data_start = self._f.tell()  # positions in SeekHead and Cues count from here
        tracks = [
            uint(TRACK_NUMBER, 1)
            + uint(TRACK_UID, 1)
            + uint(FLAG_LACING, 0)
            + text(CODEC_ID, "V_VP8")
            + uint(TRACK_TYPE, 1)
            + element(VIDEO, uint(PIXEL_W, frame_size[0]) + uint(PIXEL_H, frame_size[1]))
        ]
        for track in range(audio_tracks):
            tracks.append(
                uint(TRACK_NUMBER, 2 + track)
                + uint(TRACK_UID, 2 + track)
                + uint(FLAG_LACING, 0)
                + text(CODEC_ID, "A_OPUS")
                + element(CODEC_PRIVATE, opus_head)
                + uint(CODEC_DELAY, CODEC_DELAY_NS)
                + uint(SEEK_PREROLL, SEEK_PREROLL_NS)
                + uint(TRACK_TYPE, 2)
                + element(AUDIO, _float(SAMPLING, 48000.0) + uint(CHANNELS, audio_channels))
            )
        from .segments import PREVIOUS_TAG

        tags = [(PREVIOUS_TAG, previous_sha256)] if previous_sha256 else []
        tags.append(("ENCODER", APP))
        info_prefix = uint(TIMESTAMP_SCALE, 1_000_000) + text(MUXING_APP, APP) + text(WRITING_APP, APP)
        info_payload = info_prefix + _float(DURATION, 0.0)
        info = element(INFO, info_payload)
        tracks_el = element(TRACKS, b"".join(element(TRACK_ENTRY, t) for t in tracks))
        tags_el = element(
            TAGS,
            element(
                TAG,
                element(TARGETS, b"")
                + b"".join(element(SIMPLE_TAG, text(TAG_NAME, name) + text(TAG_STRING, value)) for name, value in tags),
            ),
        )
        # SeekHead first, its Cues entry pointing nowhere (0) until close.
        seekhead_len = len(element(SEEKHEAD, b"".join(_seek(e, 0) for e in (INFO, TRACKS, TAGS, CUES))))
        pos = seekhead_len
        positions = []
        for el in (info, tracks_el, tags_el):
            positions.append(pos)
            pos += len(el)
        seekhead = element(
            SEEKHEAD,
            _seek(INFO, positions[0]) + _seek(TRACKS, positions[1]) + _seek(TAGS, positions[2]) + _seek(CUES, 0),
        )
        self._cues_pos_at = self._data_start + len(seekhead) - 8  # the last Seek's 8-byte position
        # Duration's 8 bytes: after Info's id and size, the prefix, Duration's 2-byte id and 1-byte size.
        self._duration_at = (
            self._data_start + seekhead_len + len(INFO) + len(size(len(info_payload))) + len(info_prefix) + 3
        )
        self._f.write(seekhead + info + tracks_el + tags_el)
        self._f.flush()
        self._blocks: list[bytes] = []
        self._cluster_ts = None  # the open cluster's timestamp (ms from the origin)
        self._cluster_bytes = 0
        self._cluster_key = False  # the open cluster starts on a video keyframe
        self._cues: list[tuple[int, int, int]] = []  # (time, track, cluster position)
        self._audio_cues = True  # no video yet: cue every cluster on the first audio track

    @property
    def end_ms(self) -> int:
        """The last packet's time, in ms from the origin (each stream's times only grow)."""
        return max(0, *self._last)

    def write(self, index: int, ms: int, data: bytes, keyframe: bool) -> None:
        """`index`: packets.STREAM_VIDEO, or STREAM_AUDIO + the audio track."""
        # The writer thread's hot path (every packet of every meeting of the process): local names, one struct call
        # for the block's header, header and data kept apart until the cluster is joined (bench/_recording_cpu.py).
        ts = ms - self.origin_ms
        last = self._last
        if ts <= last[index]:
            ts = last[index] + 1
        elif ts < 0:
            ts = 0
        last[index] = ts
        if index:  # audio
            ts += AUDIO_DELAY_MS
            rel = ts - self._cluster_ts if self._cluster_ts is not None else CLUSTER_MS
            if not -32768 <= rel < CLUSTER_MS or self._cluster_bytes >= CLUSTER_BYTES:
                self._new_cluster(ts, False)
                rel = 0
            flags = 0x80 if keyframe else 0
        else:
            rel = ts - self._cluster_ts if self._cluster_ts is not None else CLUSTER_MS
            if keyframe or not -32768 <= rel < CLUSTER_MS or self._cluster_bytes >= CLUSTER_BYTES:
                self._new_cluster(ts, keyframe)
                rel = 0
            self.has_video = True
            flags = 0x80 if keyframe else 0
        # SimpleBlock: its id and size, track number (1-byte vint), int16 time relative to the cluster, flags.
        n = len(data) + 4
        if n < 0x7F:
            head = _HEAD1(0xA3, 0x80 | n, 0x81 + index, rel, flags)
        elif n < 0x3FFF:
            head = _HEAD2(0xA3, 0x4000 | n, 0x81 + index, rel, flags)
        else:
            head = SIMPLE_BLOCK + size(n) + _BLOCK_HEAD(0x81 + index, rel, flags)
        self._blocks += (head, data)
        self._cluster_bytes += n

    def write_frames(self, frames, i: int, clock: RtpClock) -> int:
        """The relay's hand-over tuples `frames[i:]` (packets.RtpClock's `(stream, data, rtp_ts, keyframe)`), as
        `write(stream, clock.ms(stream, rtp_ts), data, keyframe)` each, up to the first video keyframe (which may
        open the next segment: the caller's to decide); returns the index it stopped at, len(frames) when done.
        Only once the file has had its video (an open cluster)."""
        # The writer thread's hot path (every packet of every meeting of the process, bench/_recording_handover.py):
        # RtpClock.ms and write() in one loop over locals, no Python call a packet; same blocks, same bytes.
        last_rtp, acc, last = clock._last, clock._pts, self._last
        origin, cluster_ts, cluster_bytes = self.origin_ms, self._cluster_ts, self._cluster_bytes
        blocks = self._blocks
        n = len(frames)
        while i < n:
            stream, data, ts, key = frames[i]
            if key and not stream:
                break
            delta = (ts - last_rtp[stream]) & 0xFFFFFFFF
            last_rtp[stream] = ts
            if delta >= 0x80000000:
                delta -= 0x100000000
            pts = acc[stream] = acc[stream] + delta
            unit = _TICKS_PER_MS[stream]
            ms, r = divmod(pts, unit)
            r += r
            if r > unit or (r == unit and ms & 1):  # round half to even, as RtpClock.ms
                ms += 1
            t = ms - origin
            if t <= last[stream]:
                t = last[stream] + 1
            elif t < 0:
                t = 0
            last[stream] = t
            if stream:
                t += AUDIO_DELAY_MS
            rel = t - cluster_ts
            if not -32768 <= rel < CLUSTER_MS or cluster_bytes >= CLUSTER_BYTES:
                self._cluster_bytes = cluster_bytes
                self._new_cluster(t, False)
                blocks, cluster_ts, cluster_bytes, rel = self._blocks, t, 0, 0
            size_ = len(data) + 4
            if size_ < 0x7F:
                blocks += (_HEAD1(0xA3, 0x80 | size_, 0x81 + stream, rel, 0x80 if key else 0), data)
            elif size_ < 0x3FFF:
                blocks += (_HEAD2(0xA3, 0x4000 | size_, 0x81 + stream, rel, 0x80 if key else 0), data)
            else:
                blocks += (SIMPLE_BLOCK + size(size_) + _BLOCK_HEAD(0x81 + stream, rel, 0x80 if key else 0), data)
            cluster_bytes += size_
            i += 1
        self._cluster_bytes = cluster_bytes
        return i

    def _new_cluster(self, ts: int, key: bool) -> None:
        if self._cluster_ts is not None:
            self._flush_cluster()
        self._cluster_ts = ts
        self._cluster_key = key

    def _flush_cluster(self) -> None:
        body = uint(CLUSTER_TS, self._cluster_ts) + b"".join(self._blocks)
        position = self._f.tell() - self._data_start
        if self._cluster_key:
            self._cues.append((self._cluster_ts, 1, position))
            self._audio_cues = False
        elif self._audio_cues and not self.has_video:
            self._cues.append((self._cluster_ts, 2, position))
        self._f.write(CLUSTER + size(len(body)) + body)
        self._f.flush()  # one write a cluster: what a killed process leaves is whole clusters
        self._blocks = []
        self._cluster_bytes = 0
        self._cluster_ts = None

    def close(self) -> int:
        f = self._f
        if f is None:
            return self.path.stat().st_size
        try:
            if self._cluster_ts is not None:
                self._flush_cluster()
            cues_pos = f.tell() - self._data_start
            f.write(
                element(
                    CUES,
                    b"".join(
                        element(
                            CUE_POINT,
                            uint(CUE_TIME, t)
                            + element(CUE_TRACK_POSITIONS, uint(CUE_TRACK, track) + uint(CUE_CLUSTER_POS, pos)),
                        )
                        for t, track, pos in self._cues
                    ),
                )
            )
            end = f.tell()
            f.seek(self._data_start - 8)
            f.write((end - self._data_start | (1 << 56)).to_bytes(8, "big"))
            f.seek(self._cues_pos_at)
            f.write(cues_pos.to_bytes(8, "big"))
            f.seek(self._duration_at)
            f.write(struct.pack(">d", float(self.end_ms)))
        finally:
            self._f = None
            f.close()
        return self.path.stat().st_size

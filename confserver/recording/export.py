"""The whole meeting as one WebM: one VP8 track copied from every segment, one Opus track of program audio
(mix.py), each segment placed at its wall-clock offset from the first (issue 10, item 9).

Nothing is decoded here: packets are copied with new timestamps, so real gaps (the chair stopped and restarted
recording) stay gaps, and timestamps only go forward. `join` works on files alone (the bench calls it);
`build` picks a meeting's segments, checks each against its hash, mixes and joins them.
"""

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av

from . import mix
from .models import Segment, SegmentState
from .segments import file_class, opus_template, sha256_file
from .store import root
from .webm import WebmFile

log = logging.getLogger("confserver.recording")

USABLE = (SegmentState.CLOSED, SegmentState.RECOVERED)
AVDISCARD_ALL = 48  # libavcodec's enum AVDiscard
SKIP_REASONS = {
    "unfinished": "chưa đóng (đang ghi hoặc chờ khôi phục)",
    "pruned": "đã xoá theo thời hạn lưu trữ",
    "missing": "mất tệp",
    "tampered": "bị sửa đổi (mã băm khác)",
}


@dataclass(frozen=True)
class Part:
    video: Path  # a segment file: its video stream is copied
    audio: Path  # its program audio, one Opus track (mix.mix_file)
    offset_ms: int  # where the segment starts, from the start of the result


@dataclass
class JoinStats:
    video_packets: int = 0
    audio_packets: int = 0
    duration_ms: int = 0
    seconds: float = 0.0


def _packets(path: Path, kind: str, offset_ms: int):
    """(ms in the result, order, packet) of the file's first `kind` stream; a damaged tail ends it."""
    order = 0 if kind == "video" else 1  # at equal times the keyframe goes first
    try:
        c = av.open(str(path))
    except av.error.EOFError:
        return  # a file with a header and no packet (a segment that held no audio)
    with c:
        streams = c.streams.video if kind == "video" else c.streams.audio
        if not streams:
            return
        for other in c.streams:
            if other.index != streams[0].index:
                other.discard = AVDISCARD_ALL  # the demuxer skips them: half the time of reading a segment
        tb = streams[0].time_base  # Matroska's is 1/1000; integer arithmetic, Fractions cost µs per packet
        num, den = tb.numerator * 1000, tb.denominator
        try:
            for p in c.demux(streams[0]):
                if p.dts is None:
                    continue
                yield p.pts * num // den + offset_ms, order, p
        except av.error.FFmpegError as e:
            log.warning("joining %s: stopped at a damaged packet: %s", path, e)


def _merged(video, audio):
    """Both in time order (video first at equal times); a plain loop, cheaper per packet than heapq.merge."""
    v, a = next(video, None), next(audio, None)
    while v is not None or a is not None:
        if a is None or (v is not None and v[0] <= a[0]):
            yield v
            v = next(video, None)
        else:
            yield a
            a = next(audio, None)


def _video_size(parts: list[Part]) -> tuple[int, int]:
    for part in parts:
        with av.open(str(part.video)) as c:
            if c.streams.video and c.streams.video[0].codec_context.width:
                return c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
    return 640, 360


def _channels(parts: list[Part]) -> int:
    for part in parts:
        try:
            with av.open(str(part.audio)) as c:
                if c.streams.audio:
                    return c.streams.audio[0].codec_context.channels or 2
        except av.error.EOFError:
            continue  # no packet in it
    return 2


def join(
    parts: list[Part], dst: Path, progress: Callable[[int], None] | None = None, writer: str | None = None
) -> JoinStats:
    """Write `dst` from `parts` (in order): one video and one audio track, timestamps in ms, monotonic.

    `progress(ms)` is called now and then with the result's time reached. Written to a temporary name and
    renamed, so `dst` is absent or whole. `writer` as segments.file_class (settings.RECORDING_WRITER): with 'webm'
    the file has the live segments' layout (webm.py: a cluster from each keyframe, <= 1 s, a cue for each),
    in which Chromium seeks with fewer and smaller range requests than in FFmpeg's (bench/_recording_seek.py)."""
    t0 = time.perf_counter()
    stats = JoinStats()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with _output(tmp, parts, writer) as put:
            last = {0: -1, 1: -1}
            for part in parts:
                for ms, order, packet in _merged(
                    _packets(part.video, "video", part.offset_ms), _packets(part.audio, "audio", part.offset_ms)
                ):
                    # Segments may overlap by a few ms at a roll-over: never back, never equal, per track.
                    ts = last[order] = max(ms, last[order] + 1)
                    put(order, ts, packet)
                    if order == 0:
                        stats.video_packets += 1
                    else:
                        stats.audio_packets += 1
                        if progress and stats.audio_packets % 500 == 0:
                            progress(ts)
            stats.duration_ms = max(last[0] + 1, last[1] + mix.FRAME_MS, 0)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    stats.seconds = time.perf_counter() - t0
    return stats


@contextmanager
def _output(path: Path, parts: list[Part], writer: str | None):
    """`put(order, ms, packet)` into a new WebM at `path` (order 0: the video track, 1: the audio track)."""
    size, channels = _video_size(parts), _channels(parts)
    if file_class(writer) is WebmFile:
        f = WebmFile(path, 0, size, channels, audio_tracks=1)
        try:
            yield lambda order, ms, packet: f.write(order, ms, bytes(packet), order == 1 or packet.is_keyframe)
        finally:
            f.close()
        return
    with av.open(str(path), "w", format="webm") as out:
        streams = (
            out.add_mux_stream("vp8", width=size[0], height=size[1]),
            out.add_stream_from_template(opus_template(channels)),
        )
        out.start_encoding()

        def put(order, ms, packet):
            packet.pts = packet.dts = ms
            packet.stream = streams[order]
            out.mux(packet)

        yield put


# ---- a meeting's export, from its rows ----------------------------------------------------------------------


def source_key(segments: list[Segment]) -> str:
    """Changes whenever a segment is added, closed, recovered, re-hashed or pruned: the export is then stale."""
    h = hashlib.sha256()
    for s in segments:
        h.update(
            f"{s.id}|{s.index}|{s.state}|{s.sha256}|{s.started_at.isoformat()}|"
            f"{s.ended_at.isoformat() if s.ended_at else ''}\n".encode()
        )
    return h.hexdigest()


def mix_path(seg: Segment) -> Path:
    """The segment's program audio; named by its hash, so a changed segment never reuses an old mix."""
    return root() / str(seg.meeting_id) / "mix" / f"{seg.index:05d}-{seg.sha256[:16]}.webm"


def export_rel_path(meeting_id: int, key: str) -> str:
    """A new name for each build: a builder taken for dead (silent too long) but still at work must never
    replace, with different bytes (Matroska's random UIDs), the file another builder recorded the hash of."""
    return f"{meeting_id}/export/cuoc-hop-{meeting_id}-{key[:12]}-{secrets.token_hex(4)}.webm"


def ensure_mixed(seg: Segment, verified: bool = False) -> tuple[Path, mix.MixStats | None]:
    """The segment's mixed audio, made once (None stats when it already existed). Unless `verified`, the
    segment's file is checked against its hash first, so no mix is ever made from a changed file."""
    dst = mix_path(seg)
    if dst.is_file():
        return dst, None
    src = root() / seg.path
    if not verified and sha256_file(src) != seg.sha256:
        raise ValueError(f"segment {seg.id}: file does not match its hash")
    return dst, mix.mix_file(src, dst)


@dataclass
class Built:
    path: str  # under RECORDINGS_ROOT
    bytes: int
    sha256: str
    key: str
    duration_ms: int
    segments: int
    skipped: list[dict] = field(default_factory=list)
    mix_s: float = 0.0
    remux_s: float = 0.0
    t0_ms: int = 0  # where the file starts, from the first segment's start (the review page's origin)


def usable(segments: list[Segment], tick: Callable[[], None] | None = None) -> tuple[list[Segment], list[dict]]:
    """The segments an export is made of, and the others with the reason (checked against their hashes).
    `tick()` after each: hashing hours of video on a slow disk must not look like a dead builder."""
    ok, skipped = [], []
    for s in segments:
        if tick:
            tick()
        path = root() / s.path
        if s.state == SegmentState.PRUNED:
            reason = "pruned"
        elif s.state not in USABLE:
            reason = "unfinished"
        elif not path.is_file():
            reason = "missing"
        elif sha256_file(path) != s.sha256:
            reason = "tampered"
        else:
            ok.append(s)
            continue
        skipped.append({"index": s.index, "segment_id": s.id, "reason": reason, "label": SKIP_REASONS[reason]})
    return ok, skipped


class NothingToExport(Exception):
    """No segment of the meeting can be used (none recorded, or all missing / changed / unfinished)."""


def build(meeting_id: int, report: Callable[[int, str], None] | None = None) -> Built:
    """Mix every usable segment (cached) and join them into a new file under RECORDINGS_ROOT.

    `report(percent, text)` gets progress: mixing is the first half, joining the second."""
    report = report or (lambda pct, text: None)
    segments = list(Segment.objects.filter(meeting_id=meeting_id).order_by("index"))
    key = source_key(segments)
    remove_leftovers(meeting_id)
    t_check = time.perf_counter()
    parts_rows, skipped = usable(segments, lambda: report(0, "Đang kiểm tra mã băm các đoạn ghi hình"))
    check_s = time.perf_counter() - t_check
    if not parts_rows:
        raise NothingToExport(f"Cuộc họp {meeting_id} không có đoạn ghi hình nào dùng được.")
    origin = segments[0].started_at
    first = parts_rows[0].started_at
    total = sum(max(1, _span_ms(s)) for s in parts_rows)

    mix_s, done = 0.0, 0
    parts = []
    for i, seg in enumerate(parts_rows):
        report(done * 50 // total, f"Đang trộn âm thanh đoạn {i + 1}/{len(parts_rows)}")
        t = time.perf_counter()
        audio, _ = ensure_mixed(seg, verified=True)
        mix_s += time.perf_counter() - t
        done += max(1, _span_ms(seg))
        parts.append(Part(root() / seg.path, audio, _ms(seg.started_at - first)))

    end_ms = max(p.offset_ms for p in parts) + _span_ms(parts_rows[-1])
    rel = export_rel_path(meeting_id, key)
    report(50, "Đang ghép các đoạn thành một tệp")
    stats = join(
        parts,
        root() / rel,
        lambda ms: report(50 + min(49, ms * 50 // max(1, end_ms)), "Đang ghép các đoạn thành một tệp"),
    )
    t = time.perf_counter()
    digest = sha256_file(root() / rel)
    hash_s = time.perf_counter() - t
    return Built(
        path=rel,
        bytes=(root() / rel).stat().st_size,
        sha256=digest,
        key=key,
        duration_ms=stats.duration_ms,
        segments=len(parts_rows),
        skipped=skipped,
        mix_s=round(mix_s, 3),
        remux_s=round(stats.seconds + check_s + hash_s, 3),
        t0_ms=_ms(first - origin),
    )


def remove_leftovers(meeting_id: int) -> None:
    """Temporary files (`.NAME.PID.tmp`) a killed builder left in the meeting's export and mix folders."""
    for folder in (root() / str(meeting_id) / "export", root() / str(meeting_id) / "mix"):
        if not folder.is_dir():
            continue
        for p in folder.glob(".*.tmp"):
            pid = p.name.rsplit(".", 2)[-2]
            if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
                p.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ms(delta) -> int:
    return round(delta.total_seconds() * 1000)


def _span_ms(seg: Segment) -> int:
    return _ms(seg.ended_at - seg.started_at) if seg.ended_at else 0

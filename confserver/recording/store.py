"""Segments in the database: the sink the recorder writes through, and recovery after a crash."""
import logging
from datetime import datetime, timedelta
from pathlib import Path

import av
from django.conf import settings
from django.db import connections, transaction

from .models import Segment, SegmentState
from .segments import MS, WRITE_ERRORS, ClosedSegment, sha256_file

log = logging.getLogger("confserver.recording")


def root() -> Path:
    return Path(settings.RECORDINGS_ROOT)


class DatabaseSink:
    """A row in state `writing` when a segment opens; size, hash and chain when it closes.

    Called on the recorder's writer thread, which lives as long as the recording: its database connection is
    handed back after each call (with PostgreSQL's pool of DB_POOL_MAX, 20 recordings held all of it)."""

    def __init__(self, meeting_id: int):
        self.meeting_id = meeting_id
        self._rows: dict[Path, int] = {}

    def opened(self, started_at: datetime) -> Path:
        try:
            return self._opened(started_at)
        finally:
            _hand_back()

    def _opened(self, started_at: datetime) -> Path:
        with transaction.atomic():
            last = Segment.objects.filter(meeting_id=self.meeting_id).order_by("-index").first()
            index = last.index + 1 if last else 0
            rel = f"{self.meeting_id}/{index:05d}-{started_at:%Y%m%dT%H%M%SZ}.webm"
            row = Segment.objects.create(meeting_id=self.meeting_id, index=index, started_at=started_at, path=rel)
        path = root() / rel
        self._rows[path] = row.id
        return path

    def closed(self, segment: ClosedSegment) -> None:
        try:
            self._closed(segment)
        finally:
            _hand_back()

    def _closed(self, segment: ClosedSegment) -> None:
        row = Segment.objects.get(id=self._rows.pop(segment.path))
        row.ended_at = segment.ended_at
        row.bytes = segment.size
        row.sha256 = segment.sha256
        row.previous_sha256 = previous_sha256(row)
        row.state = SegmentState.CLOSED
        row.save(update_fields=["ended_at", "bytes", "sha256", "previous_sha256", "state"])

    def finished(self) -> None:
        connections.close_all()  # the writer thread's own connections


def _hand_back() -> None:
    """Close this thread's connections (back to the pool), but not one inside a caller's transaction: a
    writer thread never is; a test or an atomic caller writing through the sink would lose its transaction."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def previous_sha256(row: Segment) -> str:
    prev = Segment.objects.filter(meeting_id=row.meeting_id, index__lt=row.index).order_by("-index").first()
    return prev.sha256 if prev else ""


def remux(src: Path, dst: Path) -> tuple[int, int]:
    """Copy every readable packet of a (possibly truncated) WebM into a new one; (packets, last ms)."""
    count, last_ms = 0, 0
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="webm") as out:
        streams = {}
        for s in inp.streams:
            if s.type == "video":
                streams[s.index] = out.add_mux_stream("vp8", width=s.codec_context.width, height=s.codec_context.height)
            elif s.type == "audio":
                streams[s.index] = out.add_stream_from_template(s)  # keeps the OpusHead
        try:
            for packet in inp.demux():
                if packet.dts is None or packet.stream.index not in streams:
                    continue  # a demuxer's end-of-stream marker
                last_ms = max(last_ms, int(packet.pts * packet.time_base / MS))
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
                count += 1
        except av.error.FFmpegError as e:  # the cut-off tail of a killed writer
            log.info("recovery of %s stopped at a damaged packet: %s", src, e)
    return count, last_ms


def recover(meeting=None) -> list[Segment]:
    """At start-up: remux every segment left `writing` by a killed process, hash it, mark it recovered."""
    rows = Segment.objects.filter(state=SegmentState.WRITING)
    if meeting is not None:
        rows = rows.filter(meeting=meeting)
    return [recover_segment(row) for row in rows.order_by("meeting_id", "index")]


def recover_segment(row: Segment) -> Segment:
    src = root() / row.path
    dst = src.with_name(src.stem + ".recovered.webm")
    count, last_ms = 0, 0
    if src.exists():
        try:
            count, last_ms = remux(src, dst)
        except WRITE_ERRORS as e:
            log.error("segment %s could not be recovered: %s", row, e)
    if count:
        # The cut-off original stays where it was, beside the recovered copy, as evidence.
        row.path = str(dst.relative_to(root()))
        row.bytes = dst.stat().st_size
        row.sha256 = sha256_file(dst)
        row.ended_at = row.started_at + timedelta(milliseconds=last_ms)
    else:
        dst.unlink(missing_ok=True)  # nothing readable: verify_recording reports the file missing
        row.path = str(dst.relative_to(root()))
        row.ended_at = row.started_at
    row.previous_sha256 = previous_sha256(row)
    row.state = SegmentState.RECOVERED
    row.save()
    return row

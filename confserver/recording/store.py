"""Segments in the database: the sink the recorder writes through, and recovery after a crash."""

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

import av
from django.conf import settings
from django.db import connections, transaction

from .models import Segment, SegmentState
from .segments import MS, PREVIOUS_TAG, WRITE_ERRORS, ClosedSegment, SegmentStart, sha256_file

log = logging.getLogger("confserver.recording")


def root() -> Path:
    return Path(settings.RECORDINGS_ROOT)


class DatabaseSink:
    """A row in state `writing` when a segment opens (with the chain link: the hash of the segment before, also
    written into the file); size and hash when it closes; recovery of a segment its writer had to abandon.

    Called on the recorder's writer thread, which lives as long as the recording: its database connection is
    handed back after each call (with PostgreSQL's pool of DB_POOL_MAX, 20 recordings held all of it)."""

    def __init__(self, meeting_id: int):
        self.meeting_id = meeting_id
        self._rows: dict[Path, int] = {}

    def opened(self, started_at: datetime) -> SegmentStart:
        try:
            return self._opened(started_at)
        finally:
            _hand_back()

    def _opened(self, started_at: datetime) -> SegmentStart:
        # A segment of this meeting left `writing` by a writer that is gone (its recovery failed, or the
        # process died before recover() ran) is finished first, so the new segment chains on to its hash.
        for orphan in (
            Segment.objects.filter(meeting_id=self.meeting_id, state=SegmentState.WRITING)
            .exclude(id__in=_live_rows())
            .order_by("index")
        ):
            recover_segment(orphan)
        with transaction.atomic():
            last = Segment.objects.filter(meeting_id=self.meeting_id).order_by("-index").first()
            index = last.index + 1 if last else 0
            # Unknown while the one before is unfinished: the link stays empty and verify reports the break.
            previous = last.sha256 if last and last.state in SEALED else ""
            rel = f"{self.meeting_id}/{index:05d}-{started_at:%Y%m%dT%H%M%SZ}.webm"
            row = Segment.objects.create(
                meeting_id=self.meeting_id, index=index, started_at=started_at, path=rel, previous_sha256=previous
            )
        path = root() / rel
        self._rows[path] = row.id
        with _live_lock:
            _live.add(row.id)
        return SegmentStart(path, previous)

    def closed(self, segment: ClosedSegment) -> None:
        try:
            self._closed(segment)
        finally:
            _hand_back()

    def _closed(self, segment: ClosedSegment) -> None:
        row_id = self._rows.pop(segment.path)
        with _live_lock:
            _live.discard(row_id)
        done = Segment.objects.filter(id=row_id, state=SegmentState.WRITING).update(
            ended_at=segment.ended_at, bytes=segment.size, sha256=segment.sha256, state=SegmentState.CLOSED
        )
        if not done:  # recovered meanwhile by another process (a misconfigured relay): its copy stands
            log.error("segment %s closed after it was recovered elsewhere; %s kept as it is", row_id, segment.path)

    def finished(self) -> None:
        """The writer thread ends: a segment it abandoned after a write error is recovered now (remuxed and
        hashed) rather than left `writing` until the process restarts; then its connections go back."""
        try:
            abandoned = list(self._rows.values())
            self._rows.clear()
            with _live_lock:
                _live.difference_update(abandoned)
            for row in Segment.objects.filter(id__in=abandoned, state=SegmentState.WRITING):
                recover_segment(row)
        except Exception:
            log.exception("recovering the segment abandoned by meeting %s's recorder failed", self.meeting_id)
        finally:
            _hand_back()  # the writer thread's own connections (never one of a caller's transaction)


# Segments being written by a DatabaseSink of this process: never taken for orphans.
_live: set[int] = set()
_live_lock = threading.Lock()
SEALED = (SegmentState.CLOSED, SegmentState.RECOVERED, SegmentState.PRUNED)


def _live_rows() -> list[int]:
    with _live_lock:
        return list(_live)


def _hand_back() -> None:
    """Close this thread's connections (back to the pool), but not one inside a caller's transaction: a
    writer thread never is; a test or an atomic caller writing through the sink would lose its transaction."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


class Unreadable(Exception):
    """The source file has no readable header (killed before it was written)."""


def remux(src: Path, dst: Path) -> tuple[int, int]:
    """Copy every readable packet of a (possibly truncated) WebM into a new one, with its tags (the chain link);
    (packets, last ms). A damaged input ends the copy; an output that cannot be written raises (OSError or
    FFmpegError) and the caller keeps the source. Unreadable: no header to start from."""
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as e:
        if isinstance(e, OSError):
            raise  # the disk, not the file: try again later
        raise Unreadable(str(e)) from None
    count, last_ms = 0, 0
    with inp, av.open(str(dst), "w", format="webm") as out:
        if PREVIOUS_TAG in inp.metadata:
            out.metadata[PREVIOUS_TAG] = inp.metadata[PREVIOUS_TAG]
        streams = {}
        for s in inp.streams:
            if s.type == "video":
                streams[s.index] = out.add_mux_stream("vp8", width=s.codec_context.width, height=s.codec_context.height)
            elif s.type == "audio":
                streams[s.index] = out.add_stream_from_template(s)  # keeps the OpusHead
        packets = inp.demux()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as e:  # the cut-off tail of a killed writer
                if isinstance(e, OSError):
                    raise  # a read error of the disk, not a damaged file: try again later
                log.info("recovery of %s stopped at a damaged packet: %s", src, e)
                break
            if packet.dts is None or packet.stream.index not in streams:
                continue  # a demuxer's end-of-stream marker
            last_ms = max(last_ms, int(packet.pts * packet.time_base / MS))
            packet.stream = streams[packet.stream.index]
            out.mux(packet)  # a write error raises: never a truncated copy taken for the whole
            count += 1
    return count, last_ms


def recover(meeting=None) -> list[Segment]:
    """At start-up: remux every segment left `writing` by a killed process, hash it, mark it recovered (one
    that cannot be written now, e.g. on a full disk, stays `writing` for a later try)."""
    rows = Segment.objects.filter(state=SegmentState.WRITING)
    if meeting is not None:
        rows = rows.filter(meeting=meeting)
    return [recover_segment(row) for row in rows.order_by("meeting_id", "index")]


def recover_segment(row: Segment) -> Segment:
    """Remux the row's cut-off file beside it (`….recovered.webm`), hash it and mark the row recovered; the
    original stays as evidence. Nothing readable: recovered with no file (verify reports it missing). A copy
    that cannot be written: the row is left `writing` and the partial copy removed."""
    src = root() / row.path
    dst = src.with_name(src.stem + ".recovered.webm")
    count, last_ms = 0, 0
    if src.exists():
        try:
            count, last_ms = remux(src, dst)
        except Unreadable as e:
            log.warning("segment %s has nothing readable: %s", row, e)
        except WRITE_ERRORS as e:
            log.error("segment %s could not be recovered now (kept for a later try): %s", row, e)
            dst.unlink(missing_ok=True)
            return row
    fields = {"state": SegmentState.RECOVERED, "path": str(dst.relative_to(root()))}
    try:
        if count:
            fields.update(
                bytes=dst.stat().st_size,
                sha256=sha256_file(dst),
                ended_at=row.started_at + timedelta(milliseconds=last_ms),
            )
        else:
            dst.unlink(missing_ok=True)  # nothing readable: verify_recording reports the file missing
            fields.update(bytes=0, sha256="", ended_at=row.started_at)
    except OSError as e:
        log.error("segment %s could not be recovered now (kept for a later try): %s", row, e)
        return row
    # Only a row still `writing`: a writer that closed it meanwhile (or another recovery) wins.
    if not Segment.objects.filter(pk=row.pk, state=SegmentState.WRITING).update(**fields):
        log.warning("segment %s was closed or recovered meanwhile; this recovery is dropped", row)
        row.refresh_from_db()
        if row.path != fields["path"]:
            dst.unlink(missing_ok=True)
        return row
    row.refresh_from_db()
    return row

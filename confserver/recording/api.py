"""HTTP API of recordings: a meeting's segments, and a segment's WebM with byte ranges (issue 10, items 6, 10).

Mounted at /api/recordings in confserver/api.py. With `RECORDINGS_ACCEL_PREFIX` set the file is handed to the
reverse proxy (nginx `X-Accel-Redirect` to an `internal` location) after the permission check, and the proxy
serves the bytes and the ranges.
"""
import asyncio
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, StreamingHttpResponse
from ninja import Router, Schema

from confserver.errors import NotFound
from confserver.rooms.api import attendance_row, meeting_out
from confserver.rooms.schemas import AttendanceRow, ErrorOut, MeetingOut

from . import ranges, review
from .access import log_access, reviewable_meeting, reviewable_segment
from .models import AccessAction, Segment
from .store import root

router = Router(tags=["recordings"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}
CHUNK = 256 * 1024


class SegmentOut(Schema):
    id: int
    index: int
    start: datetime
    end: datetime | None
    bytes: int
    state: str
    sha256: str


@router.get("/meetings/{meeting_id}/segments", response={200: list[SegmentOut], **ERRORS})
def list_segments(request, meeting_id: int):
    """The meeting's segments in order; logged as a view of the meeting's recording."""
    meeting = reviewable_meeting(request.auth, meeting_id)
    rows = list(Segment.objects.filter(meeting=meeting).order_by("index"))
    log_access(request, meeting, None, AccessAction.VIEW)
    return [SegmentOut(id=s.id, index=s.index, start=s.started_at, end=s.ended_at, bytes=s.bytes, state=s.state,
                       sha256=s.sha256) for s in rows]


class ReviewListRow(Schema):
    id: int
    title: str
    host_unit: str
    host_unit_name: str
    scheduled_start: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    rooms_invited: int
    rooms_present: int
    recorded: bool
    segments: int
    verified: bool


class ChapterOut(Schema):
    kind: str
    title: str
    room_id: int | None
    item_id: int | None
    start: float
    end: float | None


class AttendanceEventOut(Schema):
    room_id: int
    room_name: str
    kind: str
    at: datetime
    t: float
    reason: str | None


class PresentedOut(Schema):
    start: float
    end: float | None
    document_id: int | None
    version_id: int | None
    page: int | None
    title: str | None
    room_id: int | None


class ReviewSegmentOut(SegmentOut):
    t: float
    t_end: float | None


class ReviewOut(Schema):
    meeting: MeetingOut
    origin: datetime | None
    live_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    chapters: list[ChapterOut]
    roll_call: list[AttendanceRow]
    attendance: list[AttendanceEventOut]
    documents: list[PresentedOut]
    segments: list[ReviewSegmentOut]


@router.get("/meetings", response={200: list[ReviewListRow], **ERRORS})
def review_list(request, unit: str | None = None, date_from: date | None = None, date_to: date | None = None,
                q: str | None = None):
    """The ended meetings the caller may review (issue 10, item 7), filtered by unit subtree, day and title."""
    return review.reviewable_meetings(request.auth, review.Filters(unit=unit, date_from=date_from, date_to=date_to, q=q))


@router.get("/meetings/{meeting_id}", response={200: ReviewOut, **ERRORS})
def review_meeting(request, meeting_id: int):
    """One ended meeting for the review page (issue 10, item 8); logged as a view of its recording."""
    data = review.meeting_review(request.auth, meeting_id)
    meeting = data["meeting"]
    log_access(request, meeting, None, AccessAction.VIEW)
    return {**data, "meeting": meeting_out(meeting), "roll_call": [attendance_row(p) for p in data["roll_call"]]}


@router.get("/segments/{segment_id}/file", response={200: None, 206: None, 416: None, **ERRORS})
def segment_file(request, segment_id: int, download: bool = False):
    """The segment's WebM: 200 whole, 206 for `Range: bytes=a-b | a- | -n`, 416 beyond the end.

    Several ranges in one header are ignored (200, the whole file). `?download=1` adds an attachment
    disposition and logs a download. A player asks for many ranges while it plays and seeks: only a request
    from byte 0 (or without Range) counts as a view, so one playback is logged once.
    """
    segment = reviewable_segment(request.auth, segment_id)
    path = _file_of(segment)
    header = request.META.get("HTTP_RANGE")
    action = AccessAction.DOWNLOAD if download else AccessAction.VIEW
    prefix = getattr(settings, "RECORDINGS_ACCEL_PREFIX", "")
    if prefix:
        if download or _from_start(header):
            log_access(request, segment.meeting, segment, action)
        response = HttpResponse(content_type="video/webm")
        response["X-Accel-Redirect"] = f"{prefix.rstrip('/')}/{quote(segment.path)}"
        return _disposition(response, segment, download)

    size = path.stat().st_size
    try:
        span = ranges.parse(header, size)
    except ranges.Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    if download or span is None or span[0] == 0:
        log_access(request, segment.meeting, segment, action)
    first, last = span if span is not None else (0, size - 1)
    length = last - first + 1 if size else 0
    # Under ASGI (daphne) Django collects a synchronous iterator into one list before sending it
    # (StreamingHttpResponse.__aiter__): hand it an asynchronous one there, so memory stays one chunk.
    body = _aread(path, first, length) if isinstance(request, ASGIRequest) else _read(path, first, length)
    response = StreamingHttpResponse(body, status=206 if span else 200,
                                     content_type="video/webm")
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if span:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return _disposition(response, segment, download)


def _file_of(segment: Segment) -> Path:
    base = root().resolve()
    path = (base / segment.path).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound("segment_file_missing", f"Tệp của đoạn ghi hình số {segment.id} không còn trên máy chủ.")
    return path


def _from_start(header: str | None) -> bool:
    try:
        span = ranges.parse(header, 2**63)
    except ranges.Unsatisfiable:
        return False
    return span is None or span[0] == 0


def _read(path: Path, offset: int, length: int):
    """The bytes offset..offset+length in chunks, never the whole file in memory."""
    with open(path, "rb") as f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(CHUNK, length))
            if not chunk:
                return  # the file shrank under us; the client sees a short body
            length -= len(chunk)
            yield chunk


async def _aread(path: Path, offset: int, length: int):
    """As `_read`, each chunk read in a thread so the event loop never waits on the disk."""
    f = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(f.seek, offset)
        while length > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


def _disposition(response, segment: Segment, download: bool):
    if download:
        response["Content-Disposition"] = f'attachment; filename="cuoc-hop-{segment.meeting_id}-{segment.index:05d}.webm"'
    return response

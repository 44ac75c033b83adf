"""HTTP API of recordings: the review list, one meeting, its segments, and a segment's WebM with byte ranges
(issue 10, items 6-8, 10); the one-file download is in export_api.py, on the same router.

Mounted at /api/recordings in confserver/api.py. Files are sent by serve.py: byte ranges from the view, or
`X-Accel-Redirect` to the reverse proxy when `RECORDINGS_ACCEL_PREFIX` is set.
"""

from datetime import date, datetime

from ninja import Router, Schema

from confserver.errors import NotFound
from confserver.rooms.api import attendance_row, meeting_out
from confserver.rooms.schemas import AttendanceRow, ErrorOut, MeetingOut

from . import review, serve
from .access import log_access, reviewable_meeting, reviewable_segment
from .models import AccessAction, Segment

router = Router(tags=["recordings"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


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
    return [
        SegmentOut(
            id=s.id, index=s.index, start=s.started_at, end=s.ended_at, bytes=s.bytes, state=s.state, sha256=s.sha256
        )
        for s in rows
    ]


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
    recorded: bool  # a recording whose files are still there
    segments: int
    verified: bool
    pruned: bool  # removed by the retention (prune_recordings): rows and hashes kept, files gone


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
    pruned: bool  # the retention removed the recording's files: nothing to play
    pruned_at: datetime | None
    chapters: list[ChapterOut]
    roll_call: list[AttendanceRow]
    attendance: list[AttendanceEventOut]
    documents: list[PresentedOut]
    segments: list[ReviewSegmentOut]


@router.get("/meetings", response={200: list[ReviewListRow], **ERRORS})
def review_list(
    request, unit: str | None = None, date_from: date | None = None, date_to: date | None = None, q: str | None = None
):
    """The ended meetings the caller may review (issue 10, item 7), filtered by unit subtree, day and title."""
    return review.reviewable_meetings(
        request.auth, review.Filters(unit=unit, date_from=date_from, date_to=date_to, q=q)
    )


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
    missing = NotFound("segment_file_missing", f"Tệp của đoạn ghi hình số {segment.id} không còn trên máy chủ.")
    path = serve.inside_root(segment.path)
    if path is None:
        raise missing
    action = AccessAction.DOWNLOAD if download else AccessAction.VIEW
    return serve.send(
        request,
        path,
        segment.path,
        always_log=download,
        missing=missing,
        log=lambda: log_access(request, segment.meeting, segment, action),
        attachment=f"cuoc-hop-{segment.meeting_id}-{segment.index:05d}.webm" if download else None,
    )


from . import export_api  # noqa: E402,F401  (its routes join this router)

"""The one-file recording over HTTP (issue 10, item 9): its state, building it, downloading and playing it.

GET  /api/recordings/meetings/{id}/export    state and progress (starts nothing)
POST /api/recordings/meetings/{id}/export    build it if it is neither up to date nor being built
GET  /api/recordings/meetings/{id}/download  the file as an attachment (logged as a download); not built yet:
                                             202 with the state, and the build is started
GET  /api/recordings/meetings/{id}/video     the file for the review page's player (logged as a view)
Same permission as every recording view (access.py): reviewers, hosts, administrators of the subtree.
"""

import time

from django.utils import timezone
from ninja import Schema

from confserver.errors import Conflict, DomainError, NotFound

from . import finalize, serve
from .access import log_access, reviewable_meeting
from .api import ERRORS, router
from .models import AccessAction, ExportState, RecordingExport, Segment

STATE_TEXT = {
    "none": "Chưa dựng tệp gộp (một tệp cho cả cuộc họp).",
    ExportState.QUEUED: "Đang chờ dựng tệp gộp…",
    ExportState.RUNNING: "Đang dựng tệp gộp",
    ExportState.READY: "Tệp gộp đã sẵn sàng.",
    "stale": "Bản ghi đã thay đổi từ lần dựng trước: cần dựng lại tệp gộp.",
    ExportState.FAILED: "Dựng tệp gộp bị lỗi",
    ExportState.PRUNED: "Bản ghi đã bị xoá theo thời hạn lưu trữ.",
}
# the same state as "stale" for the page (build again), not the same reason: the recording did not change
INTERRUPTED_TEXT = "Lần dựng tệp gộp trước bị gián đoạn (tiến trình dựng đã dừng): cần dựng lại."
NOT_STARTED_TEXT = "Yêu cầu dựng tệp gộp trước chưa được tiến trình nào nhận: cần dựng lại."


class SkippedOut(Schema):
    index: int
    segment_id: int
    reason: str
    label: str


class ExportOut(Schema):
    state: str  # none, queued, running, ready, stale, failed, pruned
    ready: bool
    progress: int
    message: str  # Vietnamese, for the reviewer
    bytes: int
    sha256: str
    duration_s: float | None
    t0: float  # where the file starts, in seconds from the review page's origin (the first segment's start)
    segments: int
    skipped: list[SkippedOut]
    video_url: str | None
    download_url: str | None


def export_status(meeting_id: int, row: RecordingExport | None) -> dict:
    segments = finalize.segments_of(meeting_id)
    state = "none" if row is None else row.state
    message = None
    if row is not None and row.state == ExportState.READY and not finalize.up_to_date(row, segments):
        state = "stale"
    elif (
        row is not None
        and row.state in (ExportState.RUNNING, ExportState.QUEUED)
        and not finalize.alive(row, timezone.now())
    ):
        # its builder stopped beating (or none ever took the queued row); the next request starts another
        state, message = "stale", INTERRUPTED_TEXT if row.state == ExportState.RUNNING else NOT_STARTED_TEXT
    ready = state == ExportState.READY
    message = message or STATE_TEXT[state]
    if state == ExportState.RUNNING:
        message = f"{message}: {row.progress}% — {row.phase}"
    elif state == ExportState.FAILED:
        message = f"{message}: {row.error}"
    elif ready:
        message = f"{message} {row.bytes / 1e6:.1f} MB, {_clock(row.duration_ms / 1000)}."
    skipped = list(row.skipped) if row is not None and ready else []
    left_out = {s["index"] for s in skipped}
    first = next((s for s in segments if s.index not in left_out), None)
    t0 = (first.started_at - segments[0].started_at).total_seconds() if first and segments else 0.0
    base = f"/api/recordings/meetings/{meeting_id}"
    return {
        "state": str(state),
        "ready": ready,
        "progress": 100 if ready else (row.progress if row else 0),
        "message": message,
        "bytes": row.bytes if ready else 0,
        "sha256": row.sha256 if ready else "",
        "duration_s": round(row.duration_ms / 1000, 3) if ready else None,
        "t0": round(t0, 3),
        "segments": row.segments if ready else 0,
        "skipped": skipped,
        "video_url": f"{base}/video" if ready else None,
        "download_url": f"{base}/download" if ready else None,
    }


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _recorded(meeting) -> None:
    if not Segment.objects.filter(meeting=meeting).exists():
        raise NotFound("recording_not_found", "Cuộc họp này không có bản ghi hình.")


def _not_ready() -> Conflict:
    return Conflict(
        "export_not_ready", "Tệp gộp của cuộc họp chưa sẵn sàng; hãy xem theo từng đoạn hoặc chờ dựng xong."
    )


def _not_pruned(row: RecordingExport | None) -> None:
    if row is not None and row.state == ExportState.PRUNED:
        raise DomainError("recording_pruned", "Bản ghi của cuộc họp này đã bị xoá theo thời hạn lưu trữ.", status=410)


@router.get("/meetings/{meeting_id}/export", response={200: ExportOut, **ERRORS})
def export_state(request, meeting_id: int):
    """The state of the meeting's one-file recording; polling this starts nothing."""
    meeting = reviewable_meeting(request.auth, meeting_id)
    _recorded(meeting)
    return export_status(meeting.id, RecordingExport.objects.filter(meeting=meeting).first())


@router.post("/meetings/{meeting_id}/export", response={200: ExportOut, 202: ExportOut, **ERRORS})
def export_build(request, meeting_id: int):
    """Build the one-file recording unless it is up to date or being built: 200 ready, else 202 and the state."""
    meeting = reviewable_meeting(request.auth, meeting_id)
    _recorded(meeting)
    row = finalize.ensure(meeting.id)
    _not_pruned(row)
    out = export_status(meeting.id, row)
    return (200 if out["ready"] else 202), out


@router.get("/meetings/{meeting_id}/download", response={200: None, 202: ExportOut, 206: None, 416: None, **ERRORS})
def download(request, meeting_id: int):
    """The whole meeting as one WebM (attachment, byte ranges, logged as a download); 202 and the state
    (the build started) while it is not built yet."""
    meeting = reviewable_meeting(request.auth, meeting_id)
    _recorded(meeting)
    row = finalize.ensure(meeting.id)
    _not_pruned(row)
    path = serve.inside_root(row.path) if row is not None and finalize.up_to_date(row) else None
    if path is None:
        return 202, export_status(meeting.id, row)
    return serve.send(
        request,
        path,
        row.path,
        always_log=True,
        missing=_not_ready(),
        log=lambda: log_access(request, meeting, None, AccessAction.DOWNLOAD),
        attachment=f"cuoc-hop-{meeting.id}.webm",
    )


@router.get("/meetings/{meeting_id}/video", response={200: None, 206: None, 416: None, **ERRORS})
def video(request, meeting_id: int):
    """The one file for the review page's <video>, with byte ranges; a playback is logged once, as a view."""
    meeting, rel, path = _playable(request.auth, meeting_id)
    return serve.send(
        request,
        path,
        rel,
        always_log=False,
        missing=_not_ready(),
        log=lambda: log_access(request, meeting, None, AccessAction.VIEW),
    )


# A player asks for a range per seek: the queries on this path are its wait. Once a user's permission and the
# export were checked for a meeting, that user's next ranges of it within PLAYER_GRANT_S skip them (4 of the
# request's 6 queries; bench/_recording_seek.py). A permission withdrawn or an export rebuilt meanwhile is seen
# that much later; a file removed meanwhile is refused by serve.send as before. Per process, bounded.
PLAYER_GRANT_S = 5.0
_GRANTS_MAX = 1000
_grants: dict[tuple[int, int], tuple[float, object, str, object]] = {}


def _playable(user, meeting_id: int):
    """(meeting, the export's path under RECORDINGS_ROOT, its file) if `user` may play it now; raises otherwise."""
    key, now = (user.pk, meeting_id), time.monotonic()
    grant = _grants.get(key)
    if grant is not None and grant[0] > now:
        return grant[1:]
    meeting = reviewable_meeting(user, meeting_id)
    # An export up to date implies segments, so whether there are any is asked only when there is none.
    row = RecordingExport.objects.filter(meeting=meeting).first()
    _not_pruned(row)
    path = serve.inside_root(row.path) if finalize.up_to_date(row) else None
    if path is None:
        _recorded(meeting)
        raise _not_ready()
    if len(_grants) >= _GRANTS_MAX:
        _grants.clear()
    _grants[key] = (now + PLAYER_GRANT_S, meeting, row.path, path)
    return meeting, row.path, path

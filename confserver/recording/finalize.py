"""After a meeting: mix and join its recording into one file, in a low-priority process of its own.

`start_in_background(meeting_id)` is what the relay calls when a meeting ends (after its last segment closed) and
what a download of a file not built yet calls: it starts `nice manage.py finalize_recording MEETING` and returns
at once, touching neither the database nor the disk, so an event loop never waits on it; it runs at most
RECORDING_FINALIZE_TIMEOUT_S (then stopped: its row goes stale and the next request builds again). The child claims the
meeting's RecordingExport row (one builder at a time; a builder that stopped beating is replaced), builds
(export.build), and leaves the row `ready` or `failed` with the reason, which the review page shows.
"""

import errno
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import export
from .models import ExportState, RecordingExport, Segment
from .store import root

log = logging.getLogger("confserver.recording")

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
HEARTBEAT_S = 2.0  # how often a builder writes its progress (and proves it is alive)
_children: dict[int, subprocess.Popen] = {}  # started here and not yet reaped (tests look at them)
_children_lock = threading.Lock()


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "RECORDING_EXPORT_STALE_S", 60))


def start_in_background(meeting_id: int) -> None:
    """Start building the meeting's one-file recording in a separate low-priority process; never blocks."""
    cmd = [sys.executable, str(MANAGE), "finalize_recording", str(int(meeting_id))]
    limit = float(getattr(settings, "RECORDING_FINALIZE_TIMEOUT_S", 0))
    if limit > 0:
        # timeout(1): TERM at the bound, KILL 30 s later; it waits for the builder, so reaping it reaps both.
        cmd = ["timeout", "-k", "30", f"{limit:g}", *cmd]
    nice = int(getattr(settings, "RECORDING_FINALIZE_NICE", 10))
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        log.exception("could not start finalize_recording %s", meeting_id)
        return
    with _children_lock:
        _children[proc.pid] = proc
    # Reap it when it ends (no zombie), from a thread of its own: the caller never waits.
    threading.Thread(target=_reap, args=(proc, meeting_id), name=f"finalize-{meeting_id}", daemon=True).start()


def _reap(proc: subprocess.Popen, meeting_id: int) -> None:
    code = proc.wait()
    with _children_lock:
        _children.pop(proc.pid, None)
    if code:
        log.error("finalize_recording %s exited with %s", meeting_id, code)


# ---- the state of a meeting's export -----------------------------------------------------------------------


def segments_of(meeting_id: int) -> list[Segment]:
    return list(Segment.objects.filter(meeting_id=meeting_id).order_by("index"))


def up_to_date(row: RecordingExport | None, segments: list[Segment] | None = None) -> bool:
    """Ready, built from the segments as they are now, and its file still there."""
    if row is None or row.state != ExportState.READY or not row.path:
        return False
    segments = segments if segments is not None else segments_of(row.meeting_id)
    return row.source_key == export.source_key(segments) and (root() / row.path).is_file()


def alive(row: RecordingExport, now) -> bool:
    """A builder claimed it (or one was asked for) recently enough to be still at work."""
    if row.state == ExportState.RUNNING:
        return row.heartbeat_at is not None and row.heartbeat_at > now - stale_after()
    if row.state == ExportState.QUEUED:
        return row.requested_at is not None and row.requested_at > now - stale_after()
    return False


def row_for(meeting_id: int) -> RecordingExport:
    try:
        return RecordingExport.objects.get_or_create(meeting_id=meeting_id)[0]
    except IntegrityError:  # created by a concurrent request in between
        return RecordingExport.objects.get(meeting_id=meeting_id)


def ensure(meeting_id: int, retry_failed_after_s: float | None = None) -> RecordingExport | None:
    """The meeting's export row (None: nothing recorded); when it is neither up to date, pruned nor being
    built, queue a build, started after the transaction commits.

    A failed build is retried at once when the segments changed since, else only once the failure is older
    than `retry_failed_after_s` (RECORDING_EXPORT_RETRY_S): a broken recording does not start a process per click."""
    now = timezone.now()
    segments = segments_of(meeting_id)
    row = RecordingExport.objects.filter(meeting_id=meeting_id).first()
    if not segments:
        return None
    if row is not None and (row.state == ExportState.PRUNED or alive(row, now)) or up_to_date(row, segments):
        return row
    retry = retry_failed_after_s if retry_failed_after_s is not None else settings.RECORDING_EXPORT_RETRY_S
    if (
        row is not None
        and row.state == ExportState.FAILED
        and row.source_key == export.source_key(segments)
        and row.finished_at
        and row.finished_at > now - timedelta(seconds=retry)
    ):
        return row
    row = row or row_for(meeting_id)
    queued = (
        RecordingExport.objects.filter(pk=row.pk)
        .filter(~Q(state__in=[ExportState.RUNNING, ExportState.QUEUED]) | _stale_q(now))
        .update(state=ExportState.QUEUED, requested_at=now, progress=0, phase="Đang chờ tiến trình dựng tệp", error="")
    )
    row.refresh_from_db()
    if queued:
        transaction.on_commit(lambda: start_in_background(meeting_id))
    return row


def _stale_q(now) -> Q:
    old = now - stale_after()
    return (Q(state=ExportState.RUNNING) & (Q(heartbeat_at__lt=old) | Q(heartbeat_at=None))) | (
        Q(state=ExportState.QUEUED) & (Q(requested_at__lt=old) | Q(requested_at=None))
    )


# ---- the builder (manage.py finalize_recording) --------------------------------------------------------------


def claim(meeting_id: int) -> RecordingExport | None:
    """Make this process the meeting's builder; None if another live builder holds it."""
    row = row_for(meeting_id)
    now = timezone.now()
    pid = os.getpid()
    got = (
        RecordingExport.objects.filter(pk=row.pk)
        .filter(~Q(state=ExportState.RUNNING) | Q(worker_pid=pid) | _stale_q(now))
        .update(
            state=ExportState.RUNNING,
            worker_pid=pid,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            progress=0,
            phase="Bắt đầu dựng tệp",
            error="",
        )
    )
    if not got:
        return None
    row.refresh_from_db()
    return row


class _Reporter:
    """Writes progress to the row at most every HEARTBEAT_S; False once another builder took over."""

    def __init__(self, row: RecordingExport):
        self.row, self.last = row, 0.0

    def __call__(self, percent: int, text: str) -> None:
        now = time.monotonic()
        if now - self.last < HEARTBEAT_S:
            return
        self.last = now
        RecordingExport.objects.filter(pk=self.row.pk, worker_pid=os.getpid()).update(
            progress=max(0, min(99, percent)), phase=text[:200], heartbeat_at=timezone.now()
        )


def run(meeting_id: int, rounds: int = 3) -> RecordingExport | None:
    """Build the meeting's export here and now (the child process's work); the row as left, or None if the
    meeting has no recording or another builder holds it. Failures are logged and written to the row, never
    raised. Built again (up to `rounds` times) when the segments changed meanwhile, e.g. the last one closed
    while a download's build was running, so the relay's call at the end always leaves the whole meeting."""
    if not Segment.objects.filter(meeting_id=meeting_id).exists():
        return None
    row = None
    for _ in range(rounds):
        current = RecordingExport.objects.filter(meeting_id=meeting_id).first()
        if current is not None and current.state == ExportState.PRUNED or up_to_date(current):
            return current
        row = _build(meeting_id)
        if row is None or row.state != ExportState.READY:
            return row
    return row


def _build(meeting_id: int) -> RecordingExport | None:
    row = claim(meeting_id)
    if row is None:
        log.info("finalize_recording %s: another builder is at work", meeting_id)
        return None
    pid = os.getpid()
    old_path = row.path if row.state != ExportState.PRUNED else ""
    try:
        built = export.build(meeting_id, _Reporter(row))
    except export.NothingToExport as e:
        return _fail(row, pid, str(e))
    except Exception as e:
        log.exception("finalize_recording %s failed", meeting_id)
        return _fail(row, pid, failure_text(e))
    mine = RecordingExport.objects.filter(pk=row.pk, worker_pid=pid).update(
        state=ExportState.READY,
        progress=100,
        phase="Đã dựng xong",
        path=built.path,
        bytes=built.bytes,
        sha256=built.sha256,
        source_key=built.key,
        duration_ms=built.duration_ms,
        segments=built.segments,
        skipped=built.skipped,
        error="",
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
        mix_s=built.mix_s,
        remux_s=built.remux_s,
        pruned_at=None,
    )
    if not mine:  # replaced as stale meanwhile: the other builder's result stands
        if built.path != RecordingExport.objects.get(pk=row.pk).path:
            (root() / built.path).unlink(missing_ok=True)
        return None
    if old_path and old_path != built.path:
        (root() / old_path).unlink(missing_ok=True)  # the stale file; its row now names the new one
    log.info(
        "finalize_recording %s: %s, %s bytes, mix %.2f s, remux %.2f s",
        meeting_id,
        built.path,
        built.bytes,
        built.mix_s,
        built.remux_s,
    )
    return RecordingExport.objects.get(pk=row.pk)


def failure_text(e: Exception) -> str:
    """What the review page says of a failed build: Vietnamese, without the exception's text (it names files
    under RECORDINGS_ROOT); the server log has the traceback."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        why = "ổ đĩa lưu bản ghi đã đầy"
    elif isinstance(e, OSError):
        why = "lỗi đọc hoặc ghi tệp trên máy chủ"
    else:
        why = "lỗi khi xử lý các đoạn ghi hình"
    return f"Không dựng được tệp gộp: {why} (chi tiết trong nhật ký máy chủ, báo quản trị hệ thống)."


def _fail(row: RecordingExport, pid: int, message: str) -> RecordingExport:
    key = export.source_key(segments_of(row.meeting_id))
    RecordingExport.objects.filter(pk=row.pk, worker_pid=pid).update(
        state=ExportState.FAILED,
        error=message[:2000],
        phase="Lỗi khi dựng tệp",
        finished_at=timezone.now(),
        source_key=key,
    )
    return RecordingExport.objects.get(pk=row.pk)

"""How long recordings are kept (RECORDING_RETENTION_DAYS) and the legal hold that overrides it (issue 10, item 5).

`prune` removes the files of meetings that ended longer ago than the retention, never of a meeting under an
active legal hold, and marks their rows `pruned`: the rows (times, sizes, hashes, the chain) stay as the record
of what existed, and verify_recording reports those segments as pruned.
"""

import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from confserver.rooms.models import Meeting, MeetingState

from .models import ExportState, LegalHold, RecordingExport, Segment, SegmentState
from .store import root

log = logging.getLogger("confserver.recording")


def retention_days() -> int:
    return max(0, int(getattr(settings, "RECORDING_RETENTION_DAYS", 0)))


def active_hold(meeting_id: int) -> LegalHold | None:
    return LegalHold.objects.filter(meeting_id=meeting_id, cleared_at=None).order_by("-set_at").first()


@dataclass
class Pruned:
    meeting: Meeting
    files: list[str] = field(default_factory=list)  # relative to RECORDINGS_ROOT
    bytes: int = 0
    hold: LegalHold | None = None  # set: kept, under this hold
    segments: int = 0
    failed: list[str] = field(default_factory=list)  # files that could not be removed (logged)


def due(now: datetime | None = None) -> list[Meeting]:
    """Ended meetings past the retention whose recording still has files (segments or export not pruned)."""
    days = retention_days()
    if not days:
        return []
    cutoff = (now or timezone.now()) - timedelta(days=days)
    has_files = Q(segments__state__in=[SegmentState.CLOSED, SegmentState.RECOVERED, SegmentState.WRITING]) | Q(
        recording_export__state__in=[s for s in ExportState.values if s != ExportState.PRUNED]
    )
    return list(
        Meeting.objects.filter(state=MeetingState.ENDED, ended_at__lt=cutoff)
        .filter(has_files)
        .distinct()
        .order_by("ended_at", "id")
    )


def _files(meeting: Meeting) -> list[Path]:
    """Every file of the meeting's recording: its directory (segments, cut-off originals, mixes, exports)
    and any row's file that lies elsewhere under RECORDINGS_ROOT."""
    base = root().resolve()
    found: set[Path] = set()
    directory = (base / str(meeting.id)).resolve()
    if directory.is_relative_to(base) and directory.is_dir():
        found.update(p for p in directory.rglob("*") if p.is_file())
    rels = list(Segment.objects.filter(meeting=meeting).values_list("path", flat=True))
    rels += list(RecordingExport.objects.filter(meeting=meeting).exclude(path="").values_list("path", flat=True))
    for rel in rels:
        p = (base / rel).resolve()
        if p.is_relative_to(base) and p.is_file():
            found.add(p)
    return sorted(found)


def prune(dry_run: bool = False, now: datetime | None = None) -> list[Pruned]:
    """Remove (or with `dry_run` only list) the files of every meeting `due`; meetings under a hold are kept
    and listed with their hold.

    The rows are marked first and committed, then the files removed: a file that cannot be removed is logged
    and listed in `failed` (the rows already say pruned, which is the decision), instead of an exception that
    rolled the rows back after some files were gone (verify_recording then said 'missing')."""
    now = now or timezone.now()
    base = root().resolve()
    out = []
    for meeting in due(now):
        result = Pruned(meeting)
        out.append(result)
        with transaction.atomic():
            # Lock the meeting's row: a hold set while we decide waits for us, and one set before is seen.
            Meeting.objects.select_for_update().filter(pk=meeting.pk).first()
            result.hold = active_hold(meeting.id)
            if result.hold is not None:
                continue
            files = _files(meeting)
            result.files = [str(p.relative_to(base)) for p in files]
            result.bytes = sum(p.stat().st_size for p in files)
            result.segments = Segment.objects.filter(meeting=meeting).exclude(state=SegmentState.PRUNED).count()
            if dry_run:
                continue
            Segment.objects.filter(meeting=meeting).exclude(state=SegmentState.PRUNED).update(
                state=SegmentState.PRUNED, pruned_at=now
            )
            RecordingExport.objects.filter(meeting=meeting).update(
                state=ExportState.PRUNED,
                pruned_at=now,
                worker_pid=None,
                progress=0,
                phase="Đã xoá theo thời hạn lưu trữ",
            )
        for p in files:
            try:
                p.unlink(missing_ok=True)
            except OSError as e:
                log.error("pruning meeting %s: could not remove %s: %s", meeting.id, p, e)
                result.failed.append(str(p.relative_to(base)))
        directory = base / str(meeting.id)
        if directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)
        log.info("pruned recording of meeting %s: %s files, %s bytes", meeting.id, len(result.files), result.bytes)
    return out

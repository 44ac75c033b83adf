"""Check a meeting's recording against its rows: each file present, unchanged, and chained to the one before
(the row's link and the link written in the file's header), the one-file download, and the final minutes."""

from dataclasses import dataclass

from .export import source_key
from .models import ExportState, Minutes, MinutesState, RecordingExport, Segment, SegmentState
from .segments import embedded_previous, sha256_file
from .store import root

INTACT, TAMPERED, MISSING, CHAIN_BROKEN, UNFINISHED = "intact", "tampered", "missing", "chain_broken", "unfinished"
PRUNED, STALE, NONE = "pruned", "stale", "none"
MATCHES, MINUTES_MISMATCH = "matches", "minutes_mismatch"
LABELS = {
    INTACT: "nguyên vẹn",
    TAMPERED: "bị sửa đổi (mã băm khác)",
    MISSING: "mất tệp",
    CHAIN_BROKEN: "đứt chuỗi băm",
    UNFINISHED: "chưa đóng (đang ghi hoặc chờ khôi phục)",
    PRUNED: "đã xoá theo thời hạn lưu trữ",
    STALE: "cũ (dựng trước khi các đoạn thay đổi)",
    NONE: "chưa dựng",
    MATCHES: "khớp",
    MINUTES_MISMATCH: "không khớp biên bản",
}
# Not a fault: the retention removed the file on purpose; the row keeps its hash and the chain.
ACCEPTABLE = (INTACT, PRUNED)


@dataclass(frozen=True)
class Check:
    segment: Segment
    status: str
    actual_sha256: str = ""


def verify(meeting_id: int) -> list[Check]:
    checks, prev = [], None
    for seg in Segment.objects.filter(meeting_id=meeting_id).order_by("index"):
        checks.append(_check(seg, prev))
        prev = seg
    return checks


def _check(seg: Segment, prev: Segment | None) -> Check:
    if seg.state == SegmentState.WRITING:
        return Check(seg, UNFINISHED)
    if seg.state == SegmentState.PRUNED:
        return Check(seg, PRUNED) if _chained(seg, prev) else Check(seg, CHAIN_BROKEN)
    path = root() / seg.path
    if not path.is_file():
        return Check(seg, MISSING)
    actual = sha256_file(path)
    if actual != seg.sha256:
        return Check(seg, TAMPERED, actual)
    # The file names its predecessor's hash (segments.PREVIOUS_TAG): rewriting a row cannot move that link.
    if not _chained(seg, prev) or embedded_previous(path) != seg.previous_sha256:
        return Check(seg, CHAIN_BROKEN, actual)
    return Check(seg, INTACT, actual)


def _chained(seg: Segment, prev: Segment | None) -> bool:
    expected_index = prev.index + 1 if prev else 0
    return seg.index == expected_index and seg.previous_sha256 == (prev.sha256 if prev else "")


@dataclass(frozen=True)
class ExportCheck:
    export: RecordingExport | None
    status: str  # INTACT, TAMPERED, MISSING, PRUNED, STALE (intact but older than the segments), NONE
    actual_sha256: str = ""


def verify_export(meeting_id: int) -> ExportCheck:
    """The one-file download against the size and SHA-256 recorded when it was built."""
    row = RecordingExport.objects.filter(meeting_id=meeting_id).first()
    if row is None or not row.path or row.state not in (ExportState.READY, ExportState.PRUNED):
        return ExportCheck(row, NONE)
    if row.state == ExportState.PRUNED:
        return ExportCheck(row, PRUNED)
    path = root() / row.path
    if not path.is_file():
        return ExportCheck(row, MISSING)
    actual = sha256_file(path)
    if actual != row.sha256 or path.stat().st_size != row.bytes:
        return ExportCheck(row, TAMPERED, actual)
    segments = list(Segment.objects.filter(meeting_id=meeting_id).order_by("index"))
    return ExportCheck(row, INTACT if row.source_key == source_key(segments) else STALE, actual)


@dataclass(frozen=True)
class MinutesCheck:
    minutes: Minutes | None
    status: str  # NONE (no final minutes), MATCHES, MINUTES_MISMATCH


def verify_minutes(meeting_id: int) -> MinutesCheck:
    """The final minutes fixed the recording's segment count and last segment hash: do the rows still say so?
    With the chain intact (verify) a match vouches for every segment; the minutes' PDF is signed."""
    m = (
        Minutes.objects.filter(meeting_id=meeting_id, state=MinutesState.FINAL)
        .exclude(finalized_at=None)
        .defer("pdf")
        .first()
    )
    if m is None:
        return MinutesCheck(None, NONE)
    rows = list(Segment.objects.filter(meeting_id=meeting_id).order_by("index").values_list("sha256", flat=True))
    same = m.segment_count == len(rows) and m.last_segment_sha256 == (rows[-1] if rows else "")
    return MinutesCheck(m, MATCHES if same else MINUTES_MISMATCH)

"""Check a meeting's recording against its rows: each file present, unchanged, and chained to the one before."""
from dataclasses import dataclass

from .export import source_key
from .models import ExportState, RecordingExport, Segment, SegmentState
from .segments import sha256_file
from .store import root

INTACT, TAMPERED, MISSING, CHAIN_BROKEN, UNFINISHED = "intact", "tampered", "missing", "chain_broken", "unfinished"
PRUNED, STALE, NONE = "pruned", "stale", "none"
LABELS = {
    INTACT: "nguyên vẹn",
    TAMPERED: "bị sửa đổi (mã băm khác)",
    MISSING: "mất tệp",
    CHAIN_BROKEN: "đứt chuỗi băm",
    UNFINISHED: "chưa đóng (đang ghi hoặc chờ khôi phục)",
    PRUNED: "đã xoá theo thời hạn lưu trữ",
    STALE: "cũ (dựng trước khi các đoạn thay đổi)",
    NONE: "chưa dựng",
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
    if not _chained(seg, prev):
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

"""Check a meeting's recording against its rows: each file present, unchanged, and chained to the one before."""
from dataclasses import dataclass

from .models import Segment, SegmentState
from .segments import sha256_file
from .store import root

INTACT, TAMPERED, MISSING, CHAIN_BROKEN, UNFINISHED = "intact", "tampered", "missing", "chain_broken", "unfinished"
LABELS = {
    INTACT: "nguyên vẹn",
    TAMPERED: "bị sửa đổi (mã băm khác)",
    MISSING: "mất tệp",
    CHAIN_BROKEN: "đứt chuỗi băm",
    UNFINISHED: "chưa đóng (đang ghi hoặc chờ khôi phục)",
}


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
    path = root() / seg.path
    if not path.is_file():
        return Check(seg, MISSING)
    actual = sha256_file(path)
    if actual != seg.sha256:
        return Check(seg, TAMPERED, actual)
    expected_index = prev.index + 1 if prev else 0
    if seg.index != expected_index or seg.previous_sha256 != (prev.sha256 if prev else ""):
        return Check(seg, CHAIN_BROKEN, actual)
    return Check(seg, INTACT, actual)

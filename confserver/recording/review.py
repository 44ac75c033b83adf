"""What a reviewer reads of ended meetings (issue 10, items 7 and 8): the list, and one meeting's
chapters, roll call, attendance and presented documents, all derived from the timeline.

Times inside a meeting are seconds from its origin: the first segment's start when it was recorded
(so a chapter's start is a position in the recording), else the moment it went live.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from confserver.agenda import access as agenda_access
from confserver.agenda.models import Document
from confserver.errors import DomainError, NotFound
from confserver.rooms import attendance as attendance_rules
from confserver.rooms import policy, timeline
from confserver.rooms.models import AdminUnit, InviteStatus, Meeting, MeetingState, Participation, RollCall

from .access import REVIEW_ROLES, not_reviewer, reviewable_meeting
from .models import Segment, SegmentState

PRESENT_ROLLS = (RollCall.PRESENT_ONLINE, RollCall.PRESENT_IN_PERSON)
# Kinds written by confserver/signaling/control.py and presence.py that end whatever holds the floor.
FLOOR_ENDS = ("floor_revoked", "floor_released", "lecture_mode")
EARLIEST, LATEST = date(1970, 1, 1), date(9000, 1, 1)  # the date filters' useful range
LIST_MAX = 500  # meetings listed at most (the newest); filters reach the others (web/js/review.js says so)


@dataclass
class Filters:
    unit: str | None = None  # a unit code: meetings hosted in its subtree
    date_from: date | None = None  # by the day the meeting went live (else was scheduled), local time
    date_to: date | None = None
    q: str | None = None  # text in the title


def reviewable_meetings(user, filters: Filters | None = None) -> list[dict]:
    """The ended meetings `user` may review, newest first (at most LIST_MAX), each with duration, rooms present and
    whether a recording exists and is intact (from the segments' states; hashing is verify_recording's), or
    was removed by the retention (prune_recordings: its rows and hashes stay, its files are gone)."""
    f = filters or Filters()
    if getattr(user, "role", None) not in REVIEW_ROLES:
        raise not_reviewer()
    qs = policy.visible_meetings(user).filter(state=MeetingState.ENDED)
    if f.unit:
        unit = AdminUnit.objects.filter(code=f.unit).first()
        if unit is None:
            raise NotFound("unit_not_found", f"Không có đơn vị mã {f.unit}.")
        qs = qs.filter(host_unit__path__startswith=unit.path)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise DomainError("bad_date_range", "Ngày bắt đầu lọc phải trước hoặc bằng ngày kết thúc lọc.")
    tz = timezone.get_current_timezone()
    day = lambda d: timezone.make_aware(datetime.combine(d, time.min), tz)  # noqa: E731
    # Days outside EARLIEST..LATEST bound nothing (and 0001-01-01 or 9999-12-31 overflowed into a 500).
    if f.date_from and f.date_from > EARLIEST:
        qs = qs.filter(Q(started_at__gte=day(f.date_from)) | Q(started_at=None, scheduled_start__gte=day(f.date_from)))
    if f.date_to and f.date_to < LATEST:
        end = day(f.date_to + timedelta(days=1))
        qs = qs.filter(Q(started_at__lt=end) | Q(started_at=None, scheduled_start__lt=end))
    if f.q:
        qs = qs.filter(title__icontains=f.q.strip())
    # Counted per meeting in subqueries: joined, the segments x participations product made the list take
    # ~1.4 s for 150 meetings of 144 rooms and 24 segments (PostgreSQL), growing with every meeting.
    qs = qs.annotate(
        n_segments=_count(Segment),
        n_unsealed=_count(Segment, Q(state=SegmentState.WRITING) | Q(sha256="")),
        n_pruned=_count(Segment, Q(state=SegmentState.PRUNED)),
        n_present=_count(Participation, Q(roll_call__in=PRESENT_ROLLS) | Q(status=InviteStatus.JOINED)),
        n_invited=_count(Participation),
    ).order_by("-started_at", "-scheduled_start", "-id")[:LIST_MAX]
    out = []
    for m in qs:
        kept = m.n_segments - m.n_pruned  # segments whose files are still there
        out.append(
            {
                "id": m.id,
                "title": m.title,
                "host_unit": m.host_unit.code,
                "host_unit_name": m.host_unit.name,
                "scheduled_start": m.scheduled_start,
                "started_at": m.started_at,
                "ended_at": m.ended_at,
                "duration_s": _seconds(m.started_at, m.ended_at),
                "rooms_invited": m.n_invited,
                "rooms_present": m.n_present,
                "recorded": kept > 0,
                "segments": m.n_segments,
                "verified": kept > 0 and m.n_unsealed == 0,
                "pruned": m.n_pruned > 0,
            }
        )
    return out


def _count(model, condition: Q | None = None):
    rows = model.objects.filter(meeting=OuterRef("pk"))
    if condition is not None:
        rows = rows.filter(condition)
    n = rows.order_by().values("meeting").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(n, output_field=IntegerField()), 0)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 3)


def meeting_review(user, meeting_id: int) -> dict:
    """One meeting as the review page shows it (not_reviewer / meeting_not_ended / meeting_not_found)."""
    meeting = reviewable_meeting(user, meeting_id)
    rows = timeline.for_reader(user, meeting)
    segments = list(Segment.objects.filter(meeting=meeting).order_by("index"))
    live, ended = _bounds(meeting, rows)
    origin = segments[0].started_at if segments else live
    end = ended or (segments[-1].ended_at if segments else None) or (rows[-1].at if rows else origin)
    rel = lambda at: round((at - origin).total_seconds(), 3) if origin else 0.0  # noqa: E731
    parts = attendance_rules.for_reader(user, meeting)
    names = {p.room_id: p.room.name for p, _ in parts}
    pruned = [s.pruned_at for s in segments if s.state == SegmentState.PRUNED]
    return {
        "meeting": meeting,
        "origin": origin,
        "live_at": live,
        "ended_at": ended,
        # when the retention removed the recording's files (None: not removed); the page then plays nothing
        "pruned_at": max((at for at in pruned if at), default=None),
        "pruned": bool(pruned),
        "duration_s": _seconds(live, ended),
        "chapters": chapters(meeting, rows, origin, end, names),
        "roll_call": [p for p, full in parts if full],
        "attendance": [
            {
                "room_id": e.room_id,
                "room_name": names.get(e.room_id, str(e.room_id)),
                "kind": e.kind,
                "at": e.at,
                "t": rel(e.at),
                "reason": e.data.get("reason"),
            }
            for e in rows
            if e.kind in ("join", "leave") and e.room_id is not None
        ],
        "documents": presented(user, meeting, rows, origin, end),
        "segments": [
            {
                "id": s.id,
                "index": s.index,
                "start": s.started_at,
                "end": s.ended_at,
                "bytes": s.bytes,
                "state": s.state,
                "sha256": s.sha256,
                "t": rel(s.started_at),
                "t_end": rel(s.ended_at) if s.ended_at else None,
            }
            for s in segments
        ],
    }


def _bounds(meeting: Meeting, rows) -> tuple[datetime | None, datetime | None]:
    """When it went live and ended, from the `state` rows (the meeting row's fields as fallback)."""
    live = next((e.at for e in rows if e.kind == "state" and e.data.get("state") == MeetingState.LIVE), None)
    ended = next(
        (e.at for e in reversed(rows) if e.kind == "state" and e.data.get("state") == MeetingState.ENDED), None
    )
    return live or meeting.started_at, ended or meeting.ended_at


def _chair_room_id(meeting: Meeting, rows) -> int | None:
    """The room the chair speaks from: where the chair's console joined (data.role), else the host
    unit's first invited room (as confserver/signaling/control.chair_rooms picks it)."""
    for e in rows:
        if e.kind == "join" and e.data.get("role") == "chair" and e.room_id:
            return e.room_id
    p = meeting.participations.filter(room__unit_id=meeting.host_unit_id).order_by("room_id").first()
    return p.room_id if p else None


def chapters(meeting: Meeting, rows, origin, end, names: dict[int, str]) -> list[dict]:
    """Chapters by agenda item (`agenda_item` rows) and by the room that held the floor or was
    broadcast (`floor_granted` / `broadcast` open one; `floor_revoked`, `floor_released`,
    `lecture_mode`, the next grant or broadcast, or the holder's `leave` close it), ordered by start."""
    if origin is None:
        return []
    chair_room = _chair_room_id(meeting, rows)
    out: list[dict] = []
    item: dict | None = None
    floor: dict | None = None

    def close(ch, at):
        if ch is not None:
            ch["end_at"] = at
            out.append(ch)

    for e in rows:
        if e.kind == "agenda_item":
            close(item, e.at)
            item = None
            if e.data.get("item_id") is not None:
                title = e.data.get("title") or f"Nội dung số {e.data.get('position')}"
                item = {
                    "kind": "agenda_item",
                    "title": f"Nội dung: {title}",
                    "room_id": None,
                    "item_id": e.data["item_id"],
                    "start_at": e.at,
                }
        elif e.kind in ("floor_granted", "broadcast"):
            close(floor, e.at)
            floor = None
            if e.room_id is not None and not (e.kind == "broadcast" and e.room_id == chair_room):
                name = names.get(e.room_id) or (e.room.name if e.room else str(e.room_id))
                label = "Phát biểu" if e.kind == "floor_granted" else "Phát hình"
                floor = {
                    "kind": "floor" if e.kind == "floor_granted" else "broadcast",
                    "title": f"{label}: {name}",
                    "room_id": e.room_id,
                    "item_id": None,
                    "start_at": e.at,
                }
        elif floor is not None and (e.kind in FLOOR_ENDS or (e.kind == "leave" and e.room_id == floor["room_id"])):
            close(floor, e.at)
            floor = None
    close(item, end)
    close(floor, end)
    result = []
    for ch in out:
        start, stop = max(ch.pop("start_at"), origin), min(ch.pop("end_at"), end) if end else ch.pop("end_at")
        ch.pop("end_at", None)
        if stop is not None and stop <= start:
            continue  # wholly before the recording began (the test run) or empty
        ch["start"] = round((start - origin).total_seconds(), 3)
        ch["end"] = round((stop - origin).total_seconds(), 3) if stop else None
        result.append(ch)
    result.sort(key=lambda c: (c["start"], c["kind"] != "agenda_item"))
    return result


def presented(user, meeting: Meeting, rows, origin, end) -> list[dict]:
    """The synced view replayed: each `present` row is the page on every screen from its time until
    the next `present` or `present_stop` (or the end). Titles the reader may not read are redacted."""
    if origin is None:
        return []
    readable = agenda_access.title_readable_ids(agenda_access.reader_role(user, meeting), meeting)
    titles = dict(Document.objects.filter(meeting=meeting).values_list("id", "title"))
    out: list[dict] = []
    for e in rows:
        if e.kind not in ("present", "present_stop"):
            continue
        if out and out[-1]["end"] is None:
            out[-1]["end"] = round((e.at - origin).total_seconds(), 3)
        if e.kind == "present":
            doc = e.data.get("document_id")
            title = titles.get(doc) if readable is None or doc in readable else agenda_access.redacted_title(meeting)
            out.append(
                {
                    "start": round((e.at - origin).total_seconds(), 3),
                    "end": None,
                    "document_id": doc,
                    "version_id": e.data.get("version_id"),
                    "page": e.data.get("page"),
                    "title": title,
                    "room_id": e.room_id,
                }
            )
    if out and out[-1]["end"] is None and end is not None:
        out[-1]["end"] = round((end - origin).total_seconds(), 3)
    return out

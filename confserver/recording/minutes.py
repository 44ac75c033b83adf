"""The minutes (biên bản) of a meeting (issue 10, item 11): a draft from the record, edits, finalising.

Decision 45/2018/QĐ-TTg lists what the minutes hold (chair, attendees, the course of the meeting, who spoke,
the chair's conclusions); Form 1.9 of Decree 30/2020/NĐ-CP is their layout (minutes_pdf.py). The draft is
built from the database only: the roll call (Participation), the agenda items and floor grants as the
timeline recorded them (kinds "state", "agenda_item", "floor_granted", "floor_revoked", "floor_released",
"present"), the documents presented; the delegates (issue 14: who was present where, check-in times, the quorum at
the opening), their speeches and the votes (minutes_delegates.py).

Finalising fixes the minutes for good: the recording's segment count and last segment hash are taken then
(the hash chain makes the last hash vouch for every segment before it), the PDF is generated once, signed
with the agency's certificate when one is configured (minutes_sign.py), and stored on the row; downloads
serve those exact bytes.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from confserver.errors import Conflict, DomainError, Forbidden
from confserver.rooms import meetings, policy
from confserver.rooms.models import Meeting, MeetingState, RollCall, Room

from .access import check_can_review
from .models import Minutes, MinutesState, Segment, SegmentState

FLOOR_ENDS = {"floor_revoked", "floor_released"}
UNSET = object()


@dataclass(frozen=True)
class Times:
    start: datetime | None
    end: datetime | None


def times(meeting: Meeting) -> Times:
    """When the meeting went live and ended, from its state changes (the row's fields when none was recorded)."""
    start = end = None
    for e in meeting.timeline.filter(kind="state").order_by("at", "id"):
        if e.data.get("state") == MeetingState.LIVE and start is None:
            start = e.at
        elif e.data.get("state") == MeetingState.ENDED:
            end = e.at
    start, end = start or meeting.started_at, end or meeting.ended_at
    return Times(start, end)


@dataclass(frozen=True)
class Seal:
    """What the minutes say of the recording: how many segments, the last one's SHA-256 (empty: none)."""

    segments: int
    last_sha256: str
    unfinished: bool = False  # a segment is still being written or waits for recovery: no final hash yet


def recording_seal(meeting: Meeting) -> Seal:
    """The recording as the database holds it now."""
    rows = list(Segment.objects.filter(meeting=meeting).order_by("index").values_list("sha256", "state"))
    if not rows:
        return Seal(0, "")
    unfinished = any(state == SegmentState.WRITING for _, state in rows)
    return Seal(len(rows), "" if unfinished else rows[-1][0], unfinished)


def seal_of(m: Minutes) -> Seal:
    """The values fixed at finalising; for a draft (or minutes finalised before they were kept) the current ones."""
    if m.state == MinutesState.FINAL and m.finalized_at is not None:
        return Seal(m.segment_count, m.last_segment_sha256)
    return recording_seal(m.meeting)


def _hm(at: datetime | None) -> str:
    return timezone.localtime(at).strftime("%H:%M:%S") if at else "…"


def agency_name(meeting: Meeting) -> str:
    """The issuing agency at the top left of the form: the host unit's people's committee."""
    return f"ỦY BAN NHÂN DÂN {meeting.host_unit.name}".upper()


def _attendance_section(meeting: Meeting) -> dict:
    present, absent, unmarked = [], [], []
    for p in meetings.attendance(meeting):
        name = f"{p.room.unit.name} ({p.room.name})"
        if p.roll_call == RollCall.PRESENT_ONLINE:
            present.append(f"{name}: có mặt trực tuyến")
        elif p.roll_call == RollCall.PRESENT_IN_PERSON:
            present.append(f"{name}: có mặt trực tiếp")
        elif p.roll_call == RollCall.ABSENT:
            absent.append(f"{name}: vắng mặt, lý do: {p.absence_reason}")
        else:
            unmarked.append(f"{name}: chưa điểm danh")
    lines = [
        f"Đơn vị chủ trì: {meeting.host_unit.name}.",
        f"Có mặt: {len(present)} điểm cầu; vắng mặt: {len(absent)}; chưa điểm danh: {len(unmarked)}.",
    ]
    return {"heading": "Thành phần tham dự", "lines": lines + present + absent + unmarked}


def _document_titles(meeting: Meeting, chair_side: bool) -> dict[int, str]:
    """Each document's quoted title as the draft's reader may see it: the chair side reads every title, with
    confidential ones marked (it decides what the minutes say); a reviewer reading the generated draft
    gets the agenda's redaction instead of a confidential title (as on the review page)."""
    from confserver.agenda import access as agenda_access  # the agenda builds on rooms; recording reads both
    from confserver.agenda.models import Document

    docs = Document.objects.filter(meeting=meeting).values_list("id", "title", "confidential")
    if chair_side:
        return {i: f"“{t}” (tài liệu mật)" if secret else f"“{t}”" for i, t, secret in docs}
    readable = agenda_access.title_readable_ids(agenda_access.REVIEWER, meeting)
    hidden = agenda_access.redacted_title(meeting)
    return {i: f"“{t if i in readable else hidden}”" for i, t, _ in docs}


def _course_sections(meeting: Meeting, end: datetime | None, chair_side: bool = True) -> list[dict]:
    """Agenda items in the order they were taken up, each with its floor grants, documents presented, delegates'
    speeches and votes (minutes_delegates.py)."""
    from . import minutes_delegates  # it builds on the delegates and votes apps

    events = list(
        meeting.timeline.filter(
            kind__in=["agenda_item", "floor_granted", "present", *FLOOR_ENDS, *minutes_delegates.KINDS]
        )
        .select_related("room__unit")
        .order_by("at", "id")
    )
    course = minutes_delegates.Course(meeting)
    titles = _document_titles(meeting, chair_side)
    sections = [{"heading": "Khai mạc", "lines": []}]
    speaking = None  # (line index in its section, section, room id, start)

    def close(at):
        nonlocal speaking
        if speaking is not None:
            i, section, _, start = speaking
            section["lines"][i] = section["lines"][i].replace("…", _hm(at), 1)
            speaking = None

    for e in events:
        current = sections[-1]
        if e.kind == "agenda_item":
            close(e.at)
            if e.data.get("item_id") is None:
                sections.append({"heading": "Ngoài chương trình", "lines": []})
            else:
                sections.append(
                    {
                        "heading": f"Nội dung {e.data.get('position')}: {e.data.get('title')}",
                        "lines": [f"Bắt đầu lúc {_hm(e.at)}."],
                    }
                )
        elif e.kind == "floor_granted" and e.room is not None:
            close(e.at)
            current["lines"].append(f"{e.room.unit.name} ({e.room.name}) phát biểu từ {_hm(e.at)} đến …: ")
            speaking = (len(current["lines"]) - 1, current, e.room_id, e.at)
        elif e.kind in FLOOR_ENDS:
            if speaking is not None and speaking[2] == e.room_id:
                close(e.at)
        elif e.kind == "present":
            line = f"Trình chiếu tài liệu {titles.get(e.data.get('document_id'), '“tài liệu đã xoá”')}"
            if not any(line in x for x in current["lines"]):
                current["lines"].append(f"{line} từ {_hm(e.at)}.")
        elif (line := course.line(e)) is not None:
            current["lines"].append(line)
    close(end)
    return [s for s in sections if s["lines"] or s["heading"] != "Khai mạc"]


def chair_room(meeting: Meeting) -> Room | None:
    return Room.objects.filter(unit=meeting.host_unit, is_active=True).order_by("id").first()


def draft(meeting: Meeting, chair_side: bool = True) -> Minutes:
    """An unsaved Minutes built from the record, in Vietnamese; the host edits it and types the conclusions.
    `chair_side` False: as a reviewer may read it (no confidential document's title)."""
    from . import minutes_delegates

    t = times(meeting)
    room = chair_room(meeting)
    place = f"{room.name}, {meeting.host_unit.name}" if room else meeting.host_unit.name
    creator = meeting.created_by
    chair = (creator.get_full_name() if creator else "") or ""
    content = [
        {
            "heading": "Thời gian",
            "lines": [
                f"Bắt đầu lúc {_hm(t.start)}, ngày {_date(t.start)}; kết thúc lúc {_hm(t.end)}, ngày {_date(t.end)}."
            ],
        },
        {"heading": "Hình thức", "lines": [f"Họp trực tuyến: “{meeting.title}”, kết nối từ {place} đến các điểm cầu."]},
        _attendance_section(meeting),
        *filter(None, [minutes_delegates.section(meeting, t.start)]),
        *_course_sections(meeting, t.end, chair_side),
    ]
    return Minutes(
        meeting=meeting,
        number="…/BB-UBND",
        place=place,
        chair_name=chair,
        secretary_name="",
        content=content,
        conclusions="",
        state=MinutesState.DRAFT,
    )


def _date(at: datetime | None) -> str:
    return timezone.localtime(at).strftime("%d/%m/%Y") if at else "…"


def check_can_read(user, meeting: Meeting) -> None:
    """The chair side (host of the meeting's subtree, admins) at any time; reviewers once the meeting ended."""
    try:
        policy.check_chair(user, meeting)
    except Forbidden:
        check_can_review(user, meeting)  # not_reviewer / meeting_not_ended; terminals never


def check_can_edit(user, meeting: Meeting) -> None:
    """Only the chair side writes the minutes (not_host / outside_subtree); reviewers read, terminals never."""
    policy.check_chair(user, meeting)


def current(user, meeting_id: int) -> Minutes:
    """The saved minutes, else a fresh draft (unsaved: `pk` is None)."""
    meeting = meetings.get_meeting(meeting_id)
    check_can_read(user, meeting)
    return Minutes.objects.filter(meeting=meeting).defer("pdf").first() or draft(meeting, can_edit(user, meeting))


def can_edit(user, meeting: Meeting) -> bool:
    try:
        check_can_edit(user, meeting)
    except Forbidden:
        return False
    return True


def final() -> Conflict:
    return Conflict("minutes_final", "Biên bản đã hoàn thành, không sửa được nữa.")


def _check_unchanged(row: Minutes, expected) -> None:
    """Refuse to overwrite edits someone else saved after the editor loaded the minutes (`expected` is the
    `updated_at` it loaded, None for an unsaved draft; UNSET: the caller does not ask)."""
    if expected is UNSET:
        return
    current = row.updated_at if row.pk else None
    if _ms(current) != _ms(expected):
        who = row.updated_by.username if row.pk and row.updated_by_id else "người khác"
        raise Conflict(
            "minutes_changed",
            f"Biên bản vừa được {who} lưu lúc {_hm(current)}; nội dung của bạn chưa được lưu. "
            "Tải bản mới nhất hoặc lưu đè.",
        )


def _ms(at: datetime | None):
    """To the millisecond: the API's JSON gives times to the millisecond (DjangoJSONEncoder)."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000) if at else None


def _locked(meeting: Meeting) -> Minutes:
    # The meeting's row first: with no minutes saved yet there is no row to lock, and two first saves at
    # once both inserted one (the unique constraint per meeting: IntegrityError, a 500). The second now waits.
    Meeting.objects.select_for_update().filter(pk=meeting.pk).first()
    row = Minutes.objects.select_for_update().filter(meeting=meeting).defer("pdf").first() or draft(meeting)
    if row.state == MinutesState.FINAL:
        raise final()
    return row


@transaction.atomic
def save(user, meeting_id: int, expected_updated_at=UNSET, **fields) -> Minutes:
    """Store the host's edits (only the given fields change; the rest come from the saved row or the draft)."""
    meeting = meetings.get_meeting(meeting_id)
    check_can_edit(user, meeting)
    row = _locked(meeting)
    _check_unchanged(row, expected_updated_at)
    for name, value in fields.items():
        if value is not None:
            setattr(row, name, value)
    row.updated_by = user
    row.save()
    return row


@transaction.atomic
def finalize(user, meeting_id: int, expected_updated_at=UNSET) -> Minutes:
    """Close the minutes for editing, once the meeting has ended and with a number: take the recording's seal,
    generate the PDF, sign it when a certificate is configured, keep it. Any failure changes nothing."""
    from . import minutes_pdf, minutes_sign  # they build on this module

    meeting = meetings.get_meeting(meeting_id)
    check_can_edit(user, meeting)
    if meeting.state != MeetingState.ENDED:
        raise Conflict("meeting_not_ended", "Chỉ hoàn thành biên bản khi cuộc họp đã kết thúc.")
    row = _locked(meeting)
    _check_unchanged(row, expected_updated_at)
    if not row.number.strip() or "…" in row.number:
        raise DomainError("minutes_number_required", "Cần nhập số biên bản trước khi hoàn thành.")
    seal = recording_seal(meeting)
    if seal.unfinished:
        raise Conflict(
            "recording_unfinished",
            "Bản ghi hình còn đoạn đang ghi hoặc chờ khôi phục, chưa có mã băm cuối cùng. "
            "Hoàn thành biên bản sau khi bản ghi đã đóng (báo quản trị hệ thống nếu kéo dài).",
        )
    identity = minutes_sign.load() if minutes_sign.configured() else None  # a bad certificate: stop here
    row.state, row.updated_by, row.finalized_at = MinutesState.FINAL, user, timezone.now()
    row.segment_count, row.last_segment_sha256 = seal.segments, seal.last_sha256
    pdf = minutes_pdf.render(row)
    if identity is not None:
        pdf = minutes_sign.sign(pdf, identity, reason=f"Phát hành biên bản số {row.number}", location=row.place)
    row.pdf, row.signer = pdf, identity.subject if identity else ""
    row.save()
    return row


def pdf_bytes(user, meeting_id: int) -> tuple[bytes, Minutes]:
    """The PDF to download: the stored file of finalised minutes, else one rendered now (a draft)."""
    from . import minutes_pdf

    m = current(user, meeting_id)
    if m.state == MinutesState.FINAL and m.pk:
        stored = Minutes.objects.filter(pk=m.pk).values_list("pdf", flat=True).first()
        if stored:
            return bytes(stored), m
    return minutes_pdf.render(m), m

"""What the minutes (biên bản) say of a meeting's delegates (issue 14, item 2): each delegate present in the hall, in
a remote room (which) or absent, with the time and way of their check-in, and the quorum when the meeting opened;
in the course of the meeting, each delegate's speech (called, ended, topic) and each vote's result with its rule.

Built from the database: the delegates' rows (checked_in_at, checked_in_by), the quorum rule, the speakers' and
votes' rows, placed by their timeline rows ("speaker_called", "vote_closed") in minutes._course_sections."""

from datetime import datetime

from django.utils import timezone

from confserver.rooms.models import Meeting

BY = {"qr": "quét mã QR tại hội trường", "secretary": "thư ký điểm danh", "clerk": "cán bộ điểm cầu điểm danh"}
KINDS = ("speaker_called", "vote_closed")  # the timeline rows that put a line in the course of the meeting


def _hm(at: datetime | None) -> str:
    return timezone.localtime(at).strftime("%H:%M:%S") if at else "…"


def _who(d) -> str:
    """The delegate as the minutes name them: name (position, unit)."""
    more = ", ".join(x for x in (d.position, d.unit) if x)
    return f"{d.name} ({more})" if more else d.name


def _room(d) -> str:
    return f"{d.room.name}, {d.room.unit.name}" if d.room is not None else "điểm cầu"


def quorum_at(meeting: Meeting, delegates: list, at: datetime | None) -> str:
    """The quorum when the meeting opened (`at`: it went live): delegates checked in by then against the rule."""
    from confserver.delegates.checkin import rule

    if at is None:
        return "Cuộc họp chưa khai mạc: chưa xác định số đại biểu có mặt khi khai mạc."
    expected = len(delegates)
    present = sum(1 for d in delegates if d.checked_in_at is not None and d.checked_in_at <= at)
    num, den = rule(meeting)
    needed = expected * num // den + 1
    met = present >= needed
    return (
        f"Khi khai mạc ({_hm(at)}): có mặt {present}/{expected} đại biểu; cần ít nhất {needed} "
        f"(quá {num}/{den} tổng số đại biểu): {'đủ' if met else 'không đủ'} số đại biểu theo quy định."
    )


def section(meeting: Meeting, opened_at: datetime | None) -> dict | None:
    """The "Đại biểu tham dự" section: counts, the quorum at the opening, then each delegate (present in the hall,
    present in a remote room, absent); None when the meeting has no delegates."""
    from confserver.delegates.models import Delegate, Seat

    delegates = list(
        Delegate.objects.filter(meeting=meeting).select_related("room__unit").order_by("seat", "room_id", "name", "id")
    )
    if not delegates:
        return None
    hall, remote, absent = [], [], []
    for d in delegates:
        if d.checked_in_at is None:
            where = "" if d.seat == Seat.HALL else f" (dự tại điểm cầu {_room(d)})"
            absent.append(f"{_who(d)}: vắng mặt{where}.")
            continue
        how = BY.get(d.checked_in_by, d.checked_in_by or "")
        when = f"điểm danh lúc {_hm(d.checked_in_at)} ngày {timezone.localtime(d.checked_in_at):%d/%m/%Y}"
        if d.seat == Seat.HALL:
            hall.append(f"{_who(d)}: có mặt tại hội trường, {when}{f' ({how})' if how else ''}.")
        else:
            remote.append(f"{_who(d)}: có mặt tại điểm cầu {_room(d)}, {when}{f' ({how})' if how else ''}.")
    present = len(hall) + len(remote)
    lines = [
        f"Tổng số đại biểu được mời: {len(delegates)}; có mặt: {present} (tại hội trường: {len(hall)}, "
        f"tại các điểm cầu: {len(remote)}); vắng mặt: {len(absent)}.",
        quorum_at(meeting, delegates, opened_at),
        *hall,
        *remote,
        *absent,
    ]
    return {"heading": "Đại biểu tham dự", "lines": lines}


class Course:
    """The lines the delegates' speeches and the votes add to the course of the meeting, one per timeline row of
    KINDS (read once per draft)."""

    def __init__(self, meeting: Meeting):
        from confserver.votes.models import Speaker, Vote

        self.speakers = {
            s.id: s
            for s in Speaker.objects.filter(meeting=meeting).select_related("delegate__room__unit", "agenda_item")
        }
        self.votes = {v.id: v for v in Vote.objects.filter(meeting=meeting).select_related("agenda_item")}

    def line(self, e) -> str | None:
        if e.kind == "speaker_called":
            return self._speech(e)
        if e.kind == "vote_closed":
            return self._vote(e)
        return None

    def _speech(self, e) -> str:
        s = self.speakers.get(e.data.get("speaker_id"))
        if s is None:  # the registration was deleted with its delegate: what the timeline kept
            return f"Đại biểu {e.data.get('name', '')} phát biểu từ {_hm(e.at)}: “{e.data.get('topic', '')}”."
        d = s.delegate
        where = f", tại điểm cầu {_room(d)}" if d.room_id else ""
        # A registration is called once (never waiting again after it), so the row's end is this speech's.
        return f"Đại biểu {_who(d)}{where} phát biểu từ {_hm(e.at)} đến {_hm(s.ended_at)}: “{s.topic}”."

    def _vote(self, e) -> str:
        x = e.data
        v = self.votes.get(x.get("vote_id"))
        rule = v.get_rule_display() if v is not None else ""
        item = f" (nội dung {v.agenda_item.position}: {v.agenda_item.title})" if v and v.agenda_item else ""
        kind = "bỏ phiếu kín" if x.get("secret") else "biểu quyết công khai"
        end = " khi hết giờ" if x.get("reason") == "time" else ""
        return (
            f"Biểu quyết “{x.get('question', '')}”{item}, {kind}, kết thúc lúc {_hm(e.at)}{end}: "
            f"{x.get('yes', 0)} tán thành, {x.get('no', 0)} không tán thành, {x.get('abstain', 0)} không biểu quyết; "
            f"{x.get('voters', 0)}/{x.get('present', 0)} đại biểu có mặt đã biểu quyết, tổng số {x.get('total', 0)} "
            f"đại biểu. Nguyên tắc: {rule.lower() or '…'} (cần {x.get('needed', '…')} phiếu tán thành). Kết quả: "
            f"{'được thông qua' if x.get('passed') else 'không được thông qua'}."
        )

"""The minutes list the delegates (issue 14, item 2): present in the hall, in a remote room (which) or absent, with
their check-in times and how, the quorum when the meeting opened; and, in the course of the meeting, each delegate's
speech and each vote's result under the agenda item it happened in. The draft's content and the PDF's text.
Real database; every step through the product's own functions (check-in, agenda, speakers, ballots)."""

import io
from datetime import timedelta

import pypdfium2
import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.agenda import sync
from confserver.agenda.models import AgendaItem
from confserver.delegates import checkin, roster
from confserver.recording import minutes
from confserver.rooms import meetings
from confserver.rooms.models import AdminUnit, Room
from confserver.votes import ballots, speakers, voting


def hm(at):
    return timezone.localtime(at).strftime("%H:%M:%S")


@pytest.fixture
def session(hue2025, make_user):
    """Five delegates: An (hall) and Cường (commune A's room) checked in before the opening, Bình (hall) after it,
    Dũng (hall) and Em (commune B's room) absent. On item 1, An and Bình speak; a vote on item 1 (An and Bình yes,
    Cường no) closes not passed (3 yes needed of 5); the meeting ends."""
    host = make_user("host", Role.HOST, unit=hue2025)
    a, b = AdminUnit.objects.filter(parent=hue2025).order_by("code")[:2]
    now = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Kỳ họp thứ 12 HĐND tỉnh",
        scheduled_start=now,
        scheduled_end=now + timedelta(hours=2),
        selection=meetings.Selection(mode="units", unit_codes=(a.code, b.code)),
    )
    room_a, room_b = Room.objects.get(unit=a), Room.objects.get(unit=b)
    m = meetings.change_state(host, m.id, "test_run")
    new = lambda **f: roster.create(host, m, f)  # noqa: E731
    an = new(name="Nguyễn Văn An", position="Đại biểu HĐND tỉnh", unit="Tổ đại biểu số 1")
    binh = new(name="Trần Thị Bình", position="Đại biểu HĐND tỉnh")
    cuong = new(name="Lê Văn Cường", unit="HĐND xã", seat="room", room_id=room_a.pk)
    dung = new(name="Phạm Văn Dũng")
    em = new(name="Võ Thị Em", seat="room", room_id=room_b.pk)
    checkin.check_in(an, "qr")
    checkin.check_in(cuong, "clerk")
    m = meetings.change_state(host, m.id, "live")
    checkin.check_in(binh, "secretary")
    item = AgendaItem.objects.create(meeting=m, position=1, title="Tờ trình về đầu tư công")
    sync.set_current_item(host, m, item.pk)
    for d in (an, binh, cuong):
        d.refresh_from_db()
    s1 = speakers.register(an, None, "Về nguồn vốn")
    s2 = speakers.register(binh, None, "Về tiến độ")
    speakers.call(host, m, s1.pk, 120)
    speakers.call(host, m, s2.pk, None)  # ends An's
    speakers.end(host, m, s2.pk)
    v = voting.open_vote(
        host, m, question="Thông qua Tờ trình", agenda_item_id=item.pk, secret=True, rule="half_all", limit_s=60
    )
    for d, choice in ((an, "yes"), (binh, "yes"), (cuong, "no")):
        ballots.cast(d, v.pk, choice, f"key-{d.pk}-0001")
    voting.close_vote(v.pk, host)
    m = meetings.change_state(host, m.id, "ended")
    people = {d.name: d for d in (an, binh, cuong, dung, em)}
    for d in people.values():
        d.refresh_from_db()
    s1.refresh_from_db()
    s2.refresh_from_db()
    return m, host, people, room_a, room_b, (s1, s2)


def section(draft, heading):
    return next(s["lines"] for s in draft.content if s["heading"] == heading)


def test_the_draft_lists_every_delegate_the_quorum_the_speeches_and_the_vote(session):
    m, host, p, room_a, room_b, (s1, s2) = session
    d = minutes.draft(m)
    lines = section(d, "Đại biểu tham dự")
    assert lines[0] == (
        "Tổng số đại biểu được mời: 5; có mặt: 3 (tại hội trường: 2, tại các điểm cầu: 1); vắng mặt: 2."
    )
    opened = minutes.times(m).start
    assert lines[1] == (
        f"Khi khai mạc ({hm(opened)}): có mặt 2/5 đại biểu; cần ít nhất 3 (quá 1/2 tổng số đại biểu): "
        "không đủ số đại biểu theo quy định."
    )
    an, binh, cuong = p["Nguyễn Văn An"], p["Trần Thị Bình"], p["Lê Văn Cường"]
    day = timezone.localtime(an.checked_in_at).strftime("%d/%m/%Y")
    assert (
        f"Nguyễn Văn An (Đại biểu HĐND tỉnh, Tổ đại biểu số 1): có mặt tại hội trường, điểm danh lúc "
        f"{hm(an.checked_in_at)} ngày {day} (quét mã QR tại hội trường)." in lines
    )
    assert (
        f"Trần Thị Bình (Đại biểu HĐND tỉnh): có mặt tại hội trường, điểm danh lúc {hm(binh.checked_in_at)} "
        f"ngày {day} (thư ký điểm danh)." in lines
    )
    assert (
        f"Lê Văn Cường (HĐND xã): có mặt tại điểm cầu {room_a.name}, {room_a.unit.name}, điểm danh lúc "
        f"{hm(cuong.checked_in_at)} ngày {day} (cán bộ điểm cầu điểm danh)." in lines
    )
    assert "Phạm Văn Dũng: vắng mặt." in lines
    assert f"Võ Thị Em: vắng mặt (dự tại điểm cầu {room_b.name}, {room_b.unit.name})." in lines
    # Present in the hall, then in the rooms, then absent.
    order = [next(i for i, x in enumerate(lines) if x.startswith(n)) for n in ("Nguyễn", "Trần", "Lê", "Phạm", "Võ")]
    assert order == sorted(order)
    # The course: item 1 holds both speeches in order, then the vote's result with its rule.
    course = section(d, "Nội dung 1: Tờ trình về đầu tư công")
    speech1 = (
        f"Đại biểu Nguyễn Văn An (Đại biểu HĐND tỉnh, Tổ đại biểu số 1) phát biểu từ {hm(s1.called_at)} "
        f"đến {hm(s1.ended_at)}: “Về nguồn vốn”."
    )
    speech2 = f"Đại biểu Trần Thị Bình (Đại biểu HĐND tỉnh) phát biểu từ {hm(s2.called_at)} đến {hm(s2.ended_at)}"
    vote = [x for x in course if x.startswith("Biểu quyết “Thông qua Tờ trình”")]
    assert speech1 in course and any(x.startswith(speech2) for x in course) and len(vote) == 1, course
    assert course.index(speech1) < course.index(vote[0])
    assert "bỏ phiếu kín" in vote[0] and "2 tán thành, 1 không tán thành, 0 không biểu quyết" in vote[0]
    assert "3/3 đại biểu có mặt đã biểu quyết, tổng số 5 đại biểu" in vote[0]
    assert "Nguyên tắc: quá nửa tổng số đại biểu (cần 3 phiếu tán thành). Kết quả: không được thông qua." in vote[0]
    # A reviewer's draft says the same of the delegates.
    assert section(minutes.draft(m, chair_side=False), "Đại biểu tham dự") == lines


def test_a_meeting_without_delegates_has_no_delegates_section(session):
    m, host, *_ = session
    from confserver.delegates.models import Delegate
    from confserver.votes.models import Ballot, Speaker, Vote

    Ballot.objects.filter(vote__meeting=m).delete()
    Vote.objects.filter(meeting=m).delete()
    Speaker.objects.filter(meeting=m).delete()
    Delegate.objects.filter(meeting=m).delete()
    d = minutes.draft(m)
    assert "Đại biểu tham dự" not in [s["heading"] for s in d.content]
    # The timeline still says who spoke (the rows outlive the registrations).
    course = section(d, "Nội dung 1: Tờ trình về đầu tư công")
    assert any(x.startswith("Đại biểu Nguyễn Văn An phát biểu từ") for x in course), course


def test_the_pdf_holds_the_delegates_the_quorum_the_speeches_and_the_vote(session):
    m, host, p, room_a, room_b, _ = session
    c = Client()
    c.force_login(host)
    r = c.get(f"/api/minutes/meetings/{m.id}/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf", r.content[:200]
    pdf = pypdfium2.PdfDocument(io.BytesIO(r.content))
    text = " ".join(" ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).split())
    for expected in (
        "Đại biểu tham dự",
        "Tổng số đại biểu được mời: 5; có mặt: 3 (tại hội trường: 2, tại các điểm cầu: 1); vắng mặt: 2.",
        "có mặt 2/5 đại biểu; cần ít nhất 3",
        "không đủ số đại biểu theo quy định",
        f"Nguyễn Văn An (Đại biểu HĐND tỉnh, Tổ đại biểu số 1): có mặt tại hội trường, điểm danh lúc "
        f"{hm(p['Nguyễn Văn An'].checked_in_at)}",
        f"Lê Văn Cường (HĐND xã): có mặt tại điểm cầu {room_a.name}",
        "Phạm Văn Dũng: vắng mặt.",
        "Võ Thị Em: vắng mặt (dự tại điểm cầu",
        "“Về nguồn vốn”",
        "Biểu quyết “Thông qua Tờ trình”",
        "2 tán thành, 1 không tán thành, 0 không biểu quyết",
        "Kết quả: không được thông qua.",
    ):
        assert expected in text, expected

"""The minutes (biên bản, issue 10, item 11): a draft from a real record, who may edit, the PDF.
Real database; roll call and state through confserver.rooms.meetings, the rest through timeline.record."""

import io
from datetime import timedelta

import pypdfium2
import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.agenda.models import AgendaItem, Document
from confserver.recording import minutes
from confserver.recording.models import Minutes, MinutesState
from confserver.rooms import meetings, timeline, tokens
from confserver.rooms.models import AdminUnit, Room


@pytest.fixture
def held(hue2025, make_user):
    """A meeting of Huế with two communes: one present, one absent with a reason; two agenda items,
    two floor grants, one document presented; the meeting has ended."""
    host = make_user("host", Role.HOST, unit=hue2025)
    host.first_name, host.last_name = "Nguyễn Văn", "Phương"  # AbstractUser: full name is "first last"
    host.save()
    a, b = AdminUnit.objects.filter(parent=hue2025).order_by("code")[:2]
    now = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp giao ban quý IV",
        scheduled_start=now,
        scheduled_end=now + timedelta(hours=2),
        selection=meetings.Selection(mode="units", unit_codes=(a.code, b.code)),
    )
    room_a, room_b = Room.objects.get(unit=a), Room.objects.get(unit=b)
    meetings.change_state(host, m.id, "test_run")
    m = meetings.change_state(host, m.id, "live")
    meetings.mark_roll_call(host, m, room_a.id, "present_online")
    meetings.mark_roll_call(host, m, room_b.id, "absent", "Mất điện lưới")
    item1 = AgendaItem.objects.create(meeting=m, position=1, title="Tình hình kinh tế - xã hội")
    item2 = AgendaItem.objects.create(meeting=m, position=2, title="Công tác phòng chống lụt bão")
    doc = Document.objects.create(meeting=m, item=item1, title="Báo cáo số 12/BC-UBND")
    t = timezone.now()
    timeline.record(
        m, "agenda_item", actor=host, at=t + timedelta(seconds=1), item_id=item1.id, position=1, title=item1.title
    )
    timeline.record(m, "present", actor=host, at=t + timedelta(seconds=2), document_id=doc.id, version_id=1, page=1)
    timeline.record(m, "floor_granted", actor=host, room=room_a, at=t + timedelta(seconds=60), may_present=False)
    timeline.record(m, "floor_revoked", actor=host, room=room_a, at=t + timedelta(seconds=180))
    timeline.record(
        m, "agenda_item", actor=host, at=t + timedelta(seconds=200), item_id=item2.id, position=2, title=item2.title
    )
    timeline.record(m, "floor_granted", actor=host, room=room_a, at=t + timedelta(seconds=240), may_present=True)
    timeline.record(m, "floor_released", actor=host, room=room_a, at=t + timedelta(seconds=300))
    # The end is recorded by change_state; move it after the rows written above.
    m = meetings.change_state(host, m.id, "ended")
    m.timeline.filter(kind="state", data__state="ended").update(at=t + timedelta(seconds=400))
    m.refresh_from_db()
    return m, host, room_a, room_b, a, b


def test_draft_lists_attendees_absentees_and_speakers_in_order(held):
    m, host, room_a, room_b, a, b = held
    d = minutes.draft(m)
    assert d.pk is None and d.state == MinutesState.DRAFT
    assert d.chair_name == "Nguyễn Văn Phương"
    text = "\n".join(f"{s['heading']}\n" + "\n".join(s["lines"]) for s in d.content)
    assert f"{a.name} ({room_a.name}): có mặt trực tuyến" in text
    assert f"{b.name} ({room_b.name}): vắng mặt, lý do: Mất điện lưới" in text
    assert "Đơn vị chủ trì: " + m.host_unit.name in text
    headings = [s["heading"] for s in d.content]
    i1 = headings.index("Nội dung 1: Tình hình kinh tế - xã hội")
    i2 = headings.index("Nội dung 2: Công tác phòng chống lụt bão")
    assert i1 < i2
    first, second = d.content[i1]["lines"], d.content[i2]["lines"]
    assert any("Trình chiếu tài liệu “Báo cáo số 12/BC-UBND”" in x for x in first)
    t = minutes.times(m)
    hm = lambda s: timezone.localtime(t.end - timedelta(seconds=400 - s)).strftime("%H:%M:%S")  # noqa: E731
    assert f"{a.name} ({room_a.name}) phát biểu từ {hm(60)} đến {hm(180)}: " in first
    assert f"{a.name} ({room_a.name}) phát biểu từ {hm(240)} đến {hm(300)}: " in second
    assert timezone.localtime(t.end).strftime("%H:%M:%S") in d.content[0]["lines"][0]


@pytest.fixture
def users(held, hue2025, make_user):
    m, host, room_a, *_ = held
    hanoi = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    return {
        "host": host,
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "hanoi_host": make_user("hnhost", Role.HOST, unit=hanoi),
        "terminal": make_user("term", Role.TERMINAL, unit=room_a.unit, room=room_a),
        # A host below the meeting's host unit (a commune of Huế) is not its chair side, nor a reviewer of it.
        "commune_host": make_user("xahost", Role.HOST, unit=room_a.unit),
        "hanoi_reviewer": make_user("hnrev", Role.REVIEWER, unit=hanoi),
    }


def client_for(user) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


@pytest.mark.parametrize(
    "who, read, write",
    [
        ("host", 200, 200),
        ("admin", 200, 200),
        ("reviewer", 200, 403),
        ("hanoi_host", 403, 403),
        ("terminal", 403, 403),
        ("commune_host", 403, 403),
        ("hanoi_reviewer", 403, 403),
        (None, 401, 401),
    ],
)
def test_who_reads_and_who_edits(held, users, who, read, write):
    m = held[0]
    c = client_for(users.get(who))
    url = f"/api/minutes/meetings/{m.id}"
    r = c.get(url)
    assert r.status_code == read, r.content
    if read == 200:
        assert r.json()["saved"] is False and r.json()["number"] == "…/BB-UBND"
    r = c.put(
        url, {"number": "12/BB-UBND", "conclusions": "Giao Sở Tài chính tổng hợp."}, content_type="application/json"
    )
    assert r.status_code == write, r.content
    if write == 200:
        assert r.json()["saved"] is True and r.json()["number"] == "12/BB-UBND"
        saved = Minutes.objects.get(meeting=m)
        assert saved.conclusions == "Giao Sở Tài chính tổng hợp." and saved.updated_by == users[who]
        assert saved.content == minutes.draft(m).content  # fields left out keep the draft's
    else:
        assert not Minutes.objects.filter(meeting=m).exists()
        assert r.json()["code"] in {"not_host", "outside_subtree", "unauthenticated"}
    if read == 200:
        assert c.get(url).json()["can_edit"] is (write == 200)


def test_finalize_needs_a_number_then_closes_editing(held, users):
    m = held[0]
    c = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    assert c.post(url + "/finalize").json()["code"] == "minutes_number_required"
    assert c.put(url, {"number": "12/BB-UBND"}, content_type="application/json").status_code == 200
    r = c.post(url + "/finalize")
    assert r.status_code == 200 and r.json()["state"] == "final"
    r = c.put(url, {"conclusions": "sửa"}, content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "minutes_final"
    assert client_for(users["reviewer"]).get(url).json()["state"] == "final"


def test_pdf_opens_and_holds_the_form(held, users):
    m = held[0]
    c = client_for(users["host"])
    url = f"/api/minutes/meetings/{m.id}"
    c.put(url, {"number": "12/BB-UBND", "secretary_name": "Trần Thị Hương"}, content_type="application/json")
    r = client_for(users["reviewer"]).get(url + "/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    pdf = pypdfium2.PdfDocument(io.BytesIO(r.content))
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for expected in (
        "BIÊN BẢN",
        "12/BB-UBND",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Trần Thị Hương",
        "Nguyễn Văn Phương",
        "Mất điện lưới",
        "THƯ KÝ",
        "CHỦ TỌA",
    ):
        assert expected in text, expected
    assert client_for(users["terminal"]).get(url + "/pdf").status_code == 403


@pytest.mark.parametrize(
    "who, finalize, pdf",
    [
        ("host", 200, 200),
        ("admin", 200, 200),
        ("reviewer", 403, 200),
        ("hanoi_host", 403, 403),
        ("commune_host", 403, 403),
        ("hanoi_reviewer", 403, 403),
        ("terminal", 403, 403),
        (None, 401, 401),
    ],
)
def test_who_finalises_and_who_downloads(held, users, settings, who, finalize, pdf):
    settings.MINUTES_SIGNING_P12 = ""
    m = held[0]
    url = f"/api/minutes/meetings/{m.id}"
    client_for(users["host"]).put(url, {"number": "12/BB-UBND"}, content_type="application/json")
    c = client_for(users.get(who))
    r = c.get(url + "/pdf")
    assert r.status_code == pdf, r.content
    r = c.post(url + "/finalize")
    assert r.status_code == finalize, r.content
    state = Minutes.objects.get(meeting=m).state
    assert state == (MinutesState.FINAL if finalize == 200 else MinutesState.DRAFT)
    if finalize != 200:
        assert r.json()["code"] in {"not_host", "outside_subtree", "unauthenticated"}


def test_a_room_token_reads_nothing(held, users):
    """A room terminal's link for this very meeting (Authorization: Bearer) opens no minutes."""
    m = held[0]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens.make_room_token(users['terminal'], m)}"}
    url = f"/api/minutes/meetings/{m.id}"
    c = Client()
    for r in (
        c.get(url, **auth),
        c.get(url + "/pdf", **auth),
        c.post(url + "/finalize", **auth),
        c.put(url, {"number": "1/BB"}, content_type="application/json", **auth),
    ):
        assert r.status_code == 403 and r.json()["code"] in {"not_host", "not_reviewer"}, r.content
    assert not Minutes.objects.filter(meeting=m).exists()


def test_before_the_end_the_chair_side_edits_but_cannot_finalise(hue2025, make_user, users):
    host, reviewer = users["host"], users["reviewer"]
    now = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp đang diễn ra",
        scheduled_start=now,
        scheduled_end=now + timedelta(hours=1),
        selection=meetings.Selection(mode="units", unit_codes=(AdminUnit.objects.filter(parent=hue2025).first().code,)),
    )
    meetings.change_state(host, m.id, "test_run")
    meetings.change_state(host, m.id, "live")
    url = f"/api/minutes/meetings/{m.id}"
    c = client_for(host)
    assert c.get(url).status_code == 200
    assert c.put(url, {"number": "3/BB-UBND"}, content_type="application/json").status_code == 200
    r = c.post(url + "/finalize")
    assert r.status_code == 409 and r.json()["code"] == "meeting_not_ended"
    r = client_for(reviewer).get(url)
    assert r.status_code == 409 and r.json()["code"] == "meeting_not_ended"


def test_a_stale_editor_cannot_overwrite_a_newer_save(held, users):
    m = held[0]
    url = f"/api/minutes/meetings/{m.id}"
    host, admin = client_for(users["host"]), client_for(users["admin"])
    # Both open the unsaved draft; the admin saves first.
    assert host.get(url).json()["updated_at"] is None
    first = admin.put(
        url,
        {"number": "7/BB-UBND", "conclusions": "Của quản trị.", "expected_updated_at": None},
        content_type="application/json",
    )
    assert first.status_code == 200, first.content
    # The host, still on the draft, is refused and nothing changes.
    r = host.put(url, {"conclusions": "Của chủ trì.", "expected_updated_at": None}, content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "minutes_changed" and "adm" in r.json()["message"]
    assert Minutes.objects.get(meeting=m).conclusions == "Của quản trị."
    # With the version it now reads, the save goes through; the admin's old version is then stale.
    seen = host.get(url).json()["updated_at"]
    r = host.put(url, {"conclusions": "Của chủ trì.", "expected_updated_at": seen}, content_type="application/json")
    assert r.status_code == 200 and r.json()["conclusions"] == "Của chủ trì."
    stale = first.json()["updated_at"]
    r = admin.post(url + "/finalize", {"expected_updated_at": stale}, content_type="application/json")
    assert r.status_code == 409 and r.json()["code"] == "minutes_changed"
    assert Minutes.objects.get(meeting=m).state == MinutesState.DRAFT
    # Leaving the field out overwrites (the editor's explicit "Lưu đè").
    assert admin.put(url, {"conclusions": "Lưu đè."}, content_type="application/json").status_code == 200
    assert Minutes.objects.get(meeting=m).conclusions == "Lưu đè."


def test_a_reviewer_reading_the_generated_draft_gets_no_confidential_title(held, users):
    """The review page redacts a confidential document's title for reviewers; the draft minutes generated from
    the same record did not (its JSON and its PDF). The chair side sees the title, marked confidential."""
    m = held[0]
    Document.objects.filter(meeting=m).update(confidential=True)
    url = f"/api/minutes/meetings/{m.id}"
    as_reviewer = "\n".join(x for s in client_for(users["reviewer"]).get(url).json()["content"] for x in s["lines"])
    assert "Báo cáo số 12/BC-UBND" not in as_reviewer and "Trình chiếu tài liệu" in as_reviewer
    pdf = pypdfium2.PdfDocument(io.BytesIO(client_for(users["reviewer"]).get(url + "/pdf").content))
    text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "12/BC-UBND" not in text and "Trình chiếu tài liệu" in text
    as_chair = "\n".join(x for s in client_for(users["host"]).get(url).json()["content"] for x in s["lines"])
    assert "Trình chiếu tài liệu “Báo cáo số 12/BC-UBND” (tài liệu mật)" in as_chair


def test_each_download_of_the_minutes_is_logged_and_a_refusal_is_not(held, users):
    from confserver.recording.models import AccessAction, RecordingAccess

    m = held[0]
    url = f"/api/minutes/meetings/{m.id}/pdf"
    assert client_for(users["reviewer"]).get(url, REMOTE_ADDR="203.0.113.5").status_code == 200
    assert client_for(users["hanoi_reviewer"]).get(url).status_code == 403
    assert client_for(users["terminal"]).get(url).status_code == 403
    log = RecordingAccess.objects.get()
    assert (log.user, log.meeting, log.segment, log.action, log.client_address) == (
        users["reviewer"],
        m,
        None,
        AccessAction.MINUTES,
        "203.0.113.5",
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not __import__("os").environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="two writers at once: PostgreSQL's row locks (SQLite serialises whole transactions)",
)
def test_two_first_saves_at_once_make_one_row_and_no_server_error(held, users, monkeypatch):
    """The host and the secretary press 'Lưu' on the unsaved draft at the same moment: both find no row and
    both would insert one (a unique constraint per meeting: IntegrityError, a 500). One must wait for the other."""
    import threading

    from django.db import connection

    from confserver.errors import DomainError

    m, host, *_ = held
    real = minutes.draft
    gate = threading.Barrier(2, timeout=3)

    def draft(meeting, *args, **kwargs):
        try:
            gate.wait()  # both saves are past their check for a row
        except threading.BrokenBarrierError:
            pass  # the other save is waiting for this one: they are serialised
        return real(meeting, *args, **kwargs)

    monkeypatch.setattr(minutes, "draft", draft)
    results = []

    def save(text):
        try:
            minutes.save(host, m.id, conclusions=text)
            results.append("ok")
        except DomainError as exc:
            results.append(exc.code)
        except Exception as exc:  # noqa: BLE001 - what the API would answer with a 500
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(text,)) for text in ("Kết luận A", "Kết luận B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) in (["ok", "ok"], ["minutes_changed", "ok"]), results
    assert Minutes.objects.filter(meeting=m).count() == 1

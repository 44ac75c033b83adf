"""Refusals that change nothing: tampered, expired, revoked or another meeting's link; another delegate's
note; a bad import line; a clerk of another room. And the quorum's counts."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from confserver.delegates import checkin, importer, tokens
from confserver.delegates.models import Delegate, Note
from confserver.errors import DomainError
from confserver.rooms.models import TimelineEvent

from .conftest import auth


def _snapshot(meeting):
    return (
        list(
            Delegate.objects.filter(meeting=meeting)
            .order_by("id")
            .values_list("id", "checked_in_at", "checked_in_by", "token_version")
        ),
        TimelineEvent.objects.filter(meeting=meeting).count(),
        Note.objects.count(),
    )


def test_link_opens_the_delegate_page_api(world, people):
    r = Client().get(f"/api/delegates/meetings/{world.meeting.pk}/me", **auth(people["a"]))
    assert r.status_code == 200, r.content
    assert r.json()["delegate"]["name"] == "Nguyễn Văn An"
    assert r.json()["quorum"] == {"present": 0, "expected": 3, "needed": 2, "met": False}


def test_tampered_expired_revoked_and_other_meetings_links_are_refused(world, people, settings):
    mid = world.meeting.pk
    code = tokens.hall_code(world.meeting)
    before = _snapshot(world.meeting)
    good = tokens.issue(people["a"])
    # tampered: one character of the payload changed
    bad = ("A" if good[0] != "A" else "B") + good[1:]
    cases = {
        "tampered": (bad, 401, tokens.INVALID),
        "other meeting": (tokens.issue(people["other"]), 403, tokens.INVALID),
        "garbage": ("x" * 40, 401, tokens.INVALID),
    }
    # expired: issued when the meeting's links already ended
    settings.ROOM_TOKEN_AFTER_END_S = -10_000
    settings.ROOM_TOKEN_MAX_AGE_S = -10_000
    cases["expired"] = (tokens.issue(people["a"]), 401, tokens.EXPIRED)
    settings.ROOM_TOKEN_AFTER_END_S, settings.ROOM_TOKEN_MAX_AGE_S = 4 * 3600, 24 * 3600
    revoked = tokens.issue(people["b"])
    tokens.revoke(people["b"])
    cases["revoked"] = (revoked, 401, tokens.INVALID)
    c = Client()
    for name, (token, status, code_) in cases.items():
        h = {"HTTP_AUTHORIZATION": f"Delegate {token}"}
        for method, path, body in (
            ("get", f"/api/delegates/meetings/{mid}/me", None),
            ("post", f"/api/delegates/meetings/{mid}/checkin", {"code": code}),
        ):
            r = getattr(c, method)(path, body, content_type="application/json", **h)
            assert (r.status_code, r.json()["code"]) == (status, code_), (name, method, r.content)
    after = _snapshot(world.meeting)
    assert after[1:] == before[1:]
    assert [row[:3] for row in after[0]] == [row[:3] for row in before[0]]  # nobody checked in


def test_no_link_and_a_non_delegate_account(world, people):
    mid = world.meeting.pk
    r = Client().get(f"/api/delegates/meetings/{mid}/me")
    assert (r.status_code, r.json()["code"]) == (401, "delegate_required")
    c = Client()
    c.force_login(world.users["reviewer"])
    r = c.get(f"/api/delegates/meetings/{mid}/me")
    assert (r.status_code, r.json()["code"]) == (403, "not_delegate")


def test_a_wrong_hall_code_checks_nobody_in(world, people):
    mid = world.meeting.pk
    before = _snapshot(world.meeting)
    for code in ("nonsense", tokens.hall_code(world.other_meeting)):
        r = Client().post(
            f"/api/delegates/meetings/{mid}/checkin",
            {"code": code},
            content_type="application/json",
            **auth(people["a"]),
        )
        assert (r.status_code, r.json()["code"]) == (400, "hall_code_invalid")
    assert _snapshot(world.meeting) == before


def test_hall_qr_checks_in_once_into_the_timeline(world, people):
    mid = world.meeting.pk
    code = tokens.hall_code(world.meeting)
    for n in range(2):
        r = Client().post(
            f"/api/delegates/meetings/{mid}/checkin",
            {"code": code},
            content_type="application/json",
            **auth(people["a"]),
        )
        assert r.status_code == 200, r.content
        assert r.json()["changed"] is (n == 0)
        assert r.json()["delegate"]["checked_in_by"] == "qr"
    rows = TimelineEvent.objects.filter(meeting=world.meeting, kind="delegate_checkin")
    assert [(e.data["delegate_id"], e.data["by"]) for e in rows] == [(people["a"].pk, "qr")]


def test_quorum_counts_and_rule(world, people):
    m = world.meeting
    assert checkin.quorum(m) == {"present": 0, "expected": 3, "needed": 2, "met": False}
    checkin.check_in(people["a"], "secretary", actor=world.users["host"])
    assert checkin.quorum(m) == {"present": 1, "expected": 3, "needed": 2, "met": False}
    checkin.check_in(people["c"], "clerk")
    assert checkin.quorum(m) == {"present": 2, "expected": 3, "needed": 2, "met": True}
    c = Client()
    c.force_login(world.users["host"])
    r = c.put(
        f"/api/delegates/meetings/{m.pk}/quorum", {"numerator": 2, "denominator": 3}, content_type="application/json"
    )
    assert r.json() == {"present": 2, "expected": 3, "needed": 3, "met": False}
    r = c.put(
        f"/api/delegates/meetings/{m.pk}/quorum", {"numerator": 3, "denominator": 3}, content_type="application/json"
    )
    assert r.json()["code"] == "quorum_rule_invalid"
    assert checkin.quorum(m)["needed"] == 3  # unchanged


def test_clerk_checks_in_only_their_rooms_delegates(world, people):
    mid = world.meeting.pk
    clerk = Client()
    clerk.force_login(world.users["term_in"])
    r = clerk.get(f"/api/delegates/meetings/{mid}/delegates")
    assert [d["name"] for d in r.json()["delegates"]] == ["Lê Văn Cường"]
    before = _snapshot(world.meeting)
    r = clerk.post(f"/api/delegates/meetings/{mid}/delegates/{people['a'].pk}/checkin")
    assert (r.status_code, r.json()["code"]) == (403, "delegate_other_room")
    assert _snapshot(world.meeting) == before
    r = clerk.post(f"/api/delegates/meetings/{mid}/delegates/{people['c'].pk}/checkin")
    assert r.status_code == 200 and r.json()["delegate"]["checked_in_by"] == "clerk"
    # a terminal of a room not invited
    out = Client()
    out.force_login(world.users["term_out"])
    r = out.post(f"/api/delegates/meetings/{mid}/delegates/{people['b'].pk}/checkin")
    assert r.status_code == 403 and r.json()["code"] == "room_not_invited"
    assert Delegate.objects.get(pk=people["b"].pk).checked_in_at is None


def test_a_note_is_read_by_its_author_alone(world, people, item):
    from tests.agenda.conftest import make_pdf

    v = world.upload(make_pdf(3), title="Báo cáo")
    mid = world.meeting.pk
    path = f"/api/delegates/meetings/{mid}/notes/{v.pk}/2"
    r = Client().put(path, {"text": "Hỏi lại số liệu trang 2"}, content_type="application/json", **auth(people["a"]))
    assert r.status_code == 200, r.content
    assert Client().get(path, **auth(people["a"])).json()["text"] == "Hỏi lại số liệu trang 2"
    # another delegate of the same meeting reads their own (empty) note there, never the author's
    assert Client().get(path, **auth(people["b"])).json()["text"] == ""
    assert Client().get(f"/api/delegates/meetings/{mid}/notes", **auth(people["b"])).json() == []
    # another meeting's delegate is refused; the chair's account has no delegate seat
    r = Client().get(path, **auth(people["other"]))
    assert r.status_code == 403
    host = Client()
    host.force_login(world.users["host"])
    assert host.get(path).json()["code"] == "not_delegate"
    # a page the document does not have changes nothing
    r = Client().put(
        f"/api/delegates/meetings/{mid}/notes/{v.pk}/9",
        {"text": "x"},
        content_type="application/json",
        **auth(people["b"]),
    )
    assert r.json()["code"] == "bad_page"
    assert list(Note.objects.values_list("delegate_id", "page", "text")) == [
        (people["a"].pk, 2, "Hỏi lại số liệu trang 2")
    ]


def test_a_bad_import_line_stores_nothing(world, people):
    before = _snapshot(world.meeting)
    csv = (
        "Họ và tên,Chức vụ,Đơn vị,Điện thoại,Email,Điểm cầu\n"
        "Hoàng Văn Em,Đại biểu,HĐND xã,0905111111,,\n"
        ",Đại biểu,HĐND xã,0905111112,,\n"  # line 3: no name
        "Đỗ Thị Giang,,,0905111111,,\n"  # line 4: same phone as line 2
        "Vũ Văn Hải,,,,hai@@example,\n"  # line 5: bad e-mail
        f"Ngô Thị Lan,,,,,{world.room_out.name}\n"  # line 6: a room not invited
        "Phan Văn Minh,,,0905000001,,\n"
    )  # line 7: an existing delegate's phone
    with pytest.raises(DomainError) as exc:
        importer.import_file(world.users["host"], world.meeting, "ds.csv", csv.encode())
    msg = exc.value.message
    assert exc.value.code == "delegate_import_invalid"
    for line in (3, 4, 5, 6, 7):
        assert f"Dòng {line}:" in msg, msg
    assert "Dòng 2:" not in msg
    assert _snapshot(world.meeting) == before


def test_import_csv_and_xlsx(world, people):
    import io

    import openpyxl

    c = Client()
    c.force_login(world.users["host"])
    csv = (
        "Họ và tên;Chức vụ;Điện thoại;Điểm cầu\n"
        f"Hoàng Văn Em;Đại biểu;0905 111 111;{world.room_in.name}\n"
        "Đỗ Thị Giang;Thư ký;0905111112;\n"
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = c.post(
        f"/api/delegates/meetings/{world.meeting.pk}/import",
        {"file": SimpleUploadedFile("ds.csv", csv.encode("utf-8-sig"))},
    )
    assert r.status_code == 201, r.content
    got = {d["name"]: (d["seat"], d["room_id"], d["phone"]) for d in r.json()["delegates"]}
    assert got == {
        "Hoàng Văn Em": ("room", world.room_in.pk, "0905111111"),
        "Đỗ Thị Giang": ("hall", None, "0905111112"),
    }
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Họ và tên", "Đơn vị", "Email"])
    ws.append(["Trịnh Văn Khoa", "Sở Tài chính", "khoa@example.vn"])
    ws.append(["Trịnh Văn Khoa 2", "Sở Tài chính", "khoa@example.vn"])
    buf = io.BytesIO()
    wb.save(buf)
    r = c.post(
        f"/api/delegates/meetings/{world.meeting.pk}/import", {"file": SimpleUploadedFile("ds.xlsx", buf.getvalue())}
    )
    assert r.status_code == 422 and "Dòng 3:" in r.json()["message"]
    assert Delegate.objects.filter(meeting=world.meeting).count() == 5


def test_expiry_follows_the_meetings_links(world, people):
    claims = tokens.read(tokens.issue(people["a"]))
    end = world.meeting.scheduled_end + timedelta(hours=4)
    assert abs(claims["e"] - end.timestamp()) < 2
    assert claims["e"] > timezone.now().timestamp()


def test_a_delegate_link_reads_papers_only(world, people, item):
    """A delegate reads as a room terminal, but their link does nothing else a terminal may do."""
    from confserver.rooms.models import Participation
    from tests.agenda.conftest import make_pdf

    v = world.upload(make_pdf(2), title="Báo cáo")
    world.meeting.state = "test_run"
    world.meeting.save(update_fields=["state"])
    mid = world.meeting.pk
    h = auth(people["a"])
    assert Client().get(f"/api/agenda/versions/{v.pk}/pages/1?width=480", **h).status_code == 200
    assert Client().get(f"/api/agenda/meetings/{mid}/documents", **h).status_code == 200
    before = list(Participation.objects.filter(meeting=world.meeting).values_list("confirmed_at", flat=True))
    for method, path in (
        ("post", f"/api/meetings/{mid}/confirm"),
        ("post", f"/api/agenda/meetings/{mid}/publish"),
        ("get", f"/api/meetings/{mid}/attendance"),
        ("get", f"/api/meetings/{mid}/timeline"),
    ):
        r = getattr(Client(), method)(path, **h)
        assert r.status_code == 403 and r.json()["code"] == "delegate_read_only", (path, r.content)
    assert list(Participation.objects.filter(meeting=world.meeting).values_list("confirmed_at", flat=True)) == before
    # another meeting's documents: refused by the link's meeting
    r = Client().get(f"/api/agenda/meetings/{world.other_meeting.pk}/documents", **h)
    assert r.status_code == 403 and r.json()["code"] == tokens.INVALID


def test_clerk_checks_in_with_the_rooms_link_under_csrf(world, people):
    """A browser's POST with the room's Bearer link and no session passes (CSRF enforced as in a browser); the
    same without any credentials is refused."""
    from confserver.rooms import tokens as room_tokens

    token = room_tokens.make_room_token(world.users["term_in"], world.meeting)
    c = Client(enforce_csrf_checks=True)
    path = f"/api/delegates/meetings/{world.meeting.pk}/delegates/{people['c'].pk}/checkin"
    assert c.post(path).status_code in (401, 403)
    r = c.post(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200 and r.json()["delegate"]["checked_in_by"] == "clerk", r.content


def test_edit_and_remove_in_the_chairs_list(world, people):
    c = Client()
    c.force_login(world.users["host"])
    base = f"/api/delegates/meetings/{world.meeting.pk}/delegates"
    r = c.patch(
        f"{base}/{people['b'].pk}", {"position": "Phó Chủ tịch", "phone": "0905000001"}, content_type="application/json"
    )
    assert (r.status_code, r.json()["code"]) == (409, "delegate_duplicate")  # a's phone
    r = c.patch(
        f"{base}/{people['b'].pk}",
        {"position": "Phó Chủ tịch", "seat": "room", "room_id": world.room_out.pk},
        content_type="application/json",
    )
    assert r.json()["code"] == "delegate_room_not_invited"
    r = c.patch(f"{base}/{people['b'].pk}", {"position": "Phó Chủ tịch"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["position"] == "Phó Chủ tịch" and r.json()["phone"] == "0905000002"
    checkin.check_in(people["a"], "secretary")
    before = _snapshot(world.meeting)
    r = c.delete(f"{base}/{people['a'].pk}")
    assert (r.status_code, r.json()["code"]) == (409, "delegate_checked_in")
    r = c.delete(f"{base}/{people['other'].pk}")  # another meeting's delegate, through this meeting's path
    assert (r.status_code, r.json()["code"]) == (404, "delegate_not_found")
    assert _snapshot(world.meeting) == before
    assert c.delete(f"{base}/{people['b'].pk}").status_code == 204
    assert not Delegate.objects.filter(pk=people["b"].pk).exists()

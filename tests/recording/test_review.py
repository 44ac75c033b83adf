"""Reviewing ended meetings (issue 10, items 7 and 8): the list per role and its filters, chapters and
the presented documents derived from a timeline written through timeline.record with the kinds and
data the control code writes. Real database; HTTP through Django's test client."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.agenda.models import AgendaItem, Document
from confserver.errors import DomainError, Forbidden
from confserver.recording import review
from confserver.recording.models import Segment, SegmentState
from confserver.rooms import timeline
from confserver.rooms.models import AdminUnit, InviteStatus, Meeting, MeetingState, Participation, RollCall, Room


def _meeting(unit, title, start, *, state=MeetingState.ENDED, minutes=60):
    return Meeting.objects.create(
        host_unit=unit,
        title=title,
        state=state,
        scheduled_start=start,
        scheduled_end=start + timedelta(minutes=minutes),
        started_at=start,
        ended_at=start + timedelta(minutes=minutes) if state == MeetingState.ENDED else None,
    )


@pytest.fixture
def world(hue2025, make_user):
    hanoi = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    commune = AdminUnit.objects.filter(parent=hue2025).order_by("code").first()
    t0 = timezone.now().replace(microsecond=0) - timedelta(days=3)
    m1 = _meeting(hue2025, "Họp giao ban tháng", t0)
    m2 = _meeting(commune, "Sơ kết quý", t0 + timedelta(days=1), minutes=30)
    live = _meeting(hue2025, "Đang họp dở", t0 + timedelta(days=2), state=MeetingState.LIVE)
    chair_room = Room.objects.get(unit=hue2025)
    room_a = Room.objects.get(unit=commune)
    room_b = Room.objects.filter(unit__parent=hue2025).exclude(unit=commune).order_by("unit__code").first()
    for room in (chair_room, room_a, room_b):
        Participation.objects.create(meeting=m1, room=room)
    Participation.objects.filter(meeting=m1, room__in=[chair_room, room_a]).update(
        status=InviteStatus.JOINED, roll_call=RollCall.PRESENT_ONLINE
    )
    Participation.objects.filter(meeting=m1, room=room_b).update(roll_call=RollCall.ABSENT, absence_reason="Mất điện")
    Segment.objects.create(
        meeting=m1,
        index=0,
        started_at=t0 + timedelta(seconds=2),
        ended_at=t0 + timedelta(minutes=30),
        path="x/0.webm",
        bytes=10,
        sha256="a" * 64,
        state=SegmentState.CLOSED,
    )
    Segment.objects.create(
        meeting=m1,
        index=1,
        started_at=t0 + timedelta(minutes=30),
        ended_at=t0 + timedelta(minutes=60),
        path="x/1.webm",
        bytes=10,
        sha256="b" * 64,
        previous_sha256="a" * 64,
        state=SegmentState.CLOSED,
    )
    Segment.objects.create(meeting=m2, index=0, started_at=m2.started_at, path="y/0.webm", state=SegmentState.WRITING)
    users = {
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue2025),
        "commune_reviewer": make_user("crev", Role.REVIEWER, unit=commune),
        "host": make_user("host", Role.HOST, unit=hue2025),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "hanoi_reviewer": make_user("hnrev", Role.REVIEWER, unit=hanoi),
        "terminal": make_user("term", Role.TERMINAL, unit=hue2025, room=chair_room),
    }
    return {
        "t0": t0,
        "m1": m1,
        "m2": m2,
        "live": live,
        "commune": commune,
        "chair_room": chair_room,
        "a": room_a,
        "b": room_b,
        "users": users,
    }


def ids(rows):
    return [r["id"] for r in rows]


def test_list_per_role(world):
    u, m1, m2 = world["users"], world["m1"], world["m2"]
    assert ids(review.reviewable_meetings(u["reviewer"])) == [m2.id, m1.id]  # newest first; the live one is not listed
    assert ids(review.reviewable_meetings(u["host"])) == [m2.id, m1.id]
    assert set(ids(review.reviewable_meetings(u["admin"]))) >= {m1.id, m2.id}
    assert ids(review.reviewable_meetings(u["commune_reviewer"])) == [m2.id]
    assert review.reviewable_meetings(u["hanoi_reviewer"]) == []
    with pytest.raises(Forbidden) as e:
        review.reviewable_meetings(u["terminal"])
    assert e.value.code == "not_reviewer"


def test_list_row_facts(world):
    rows = {r["id"]: r for r in review.reviewable_meetings(world["users"]["reviewer"])}
    r1, r2 = rows[world["m1"].id], rows[world["m2"].id]
    assert (r1["duration_s"], r1["rooms_invited"], r1["rooms_present"]) == (3600, 3, 2)
    assert (r1["recorded"], r1["segments"], r1["verified"]) == (True, 2, True)
    assert (r2["recorded"], r2["segments"], r2["verified"]) == (True, 1, False)  # still "writing": not intact


def test_list_filters(world):
    rev, m1, m2 = world["users"]["reviewer"], world["m1"], world["m2"]
    F = review.Filters
    assert ids(review.reviewable_meetings(rev, F(unit=world["commune"].code))) == [m2.id]
    assert ids(review.reviewable_meetings(rev, F(q="giao ban"))) == [m1.id]
    day = timezone.localtime(m2.started_at).date()
    assert ids(review.reviewable_meetings(rev, F(date_from=day, date_to=day))) == [m2.id]
    assert ids(review.reviewable_meetings(rev, F(date_to=timezone.localtime(m1.started_at).date()))) == [m1.id]
    with pytest.raises(DomainError) as e:
        review.reviewable_meetings(rev, F(date_from=day, date_to=day - timedelta(days=1)))
    assert e.value.code == "bad_date_range"


def test_list_over_http(world):
    u = world["users"]
    c = Client()
    c.force_login(u["reviewer"])
    r = c.get("/api/recordings/meetings", {"q": "quý"})
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [world["m2"].id]
    assert c.get("/api/recordings/meetings", {"unit": "zz"}).json()["code"] == "unit_not_found"
    assert c.get("/api/recordings/meetings", {"date_from": "2026-02-02", "date_to": "2026-02-01"}).status_code == 400
    c.force_login(u["terminal"])
    r = c.get("/api/recordings/meetings")
    assert r.status_code == 403 and r.json()["code"] == "not_reviewer"
    c.force_login(u["hanoi_reviewer"])
    assert c.get("/api/recordings/meetings").json() == []
    assert c.get(f"/api/recordings/meetings/{world['m1'].id}").json()["code"] == "not_reviewer"
    assert Client().get("/api/recordings/meetings").status_code == 401


def _control_sequence(world):
    """A meeting's control actions, with the kinds and data confserver/signaling/control.py,
    presence.py, meetings.py and agenda/sync.py write; seconds after t0."""
    m, t0, host = world["m1"], world["t0"], world["users"]["host"]
    chair, a, b = world["chair_room"], world["a"], world["b"]
    i1 = AgendaItem.objects.create(meeting=m, position=1, title="Báo cáo tình hình")
    i2 = AgendaItem.objects.create(meeting=m, position=2, title="Thảo luận")
    doc = Document.objects.create(meeting=m, title="Báo cáo số 12")
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    rec = lambda kind, s, **kw: timeline.record(m, kind, at=at(s), **kw)  # noqa: E731
    rec("state", -60, actor=host, state="test_run", previous="scheduled")
    rec("join", -50, room=chair, role="chair")
    rec("floor_granted", -40, actor=host, room=a, may_present=False)  # in the test run: before the recording
    rec("lecture_mode", -30, actor=host)
    rec("state", 0, actor=host, state="live", previous="test_run")
    rec("join", 1, room=a, role="room")
    rec("agenda_item", 10, actor=host, item_id=i1.id, position=1, title=i1.title)
    rec("present", 20, actor=host, document_id=doc.id, version_id=77, page=1)
    rec("floor_granted", 100, actor=host, room=a, may_present=True)
    rec("present", 130, actor=host, document_id=doc.id, version_id=77, page=3)
    rec("floor_released", 200, room=a)
    rec("broadcast", 250, actor=host, room=b)
    rec("floor_granted", 300, actor=host, room=a, may_present=False)  # moves the floor straight on
    rec("agenda_item", 400, actor=host, item_id=i2.id, position=2, title=i2.title)
    rec("present_stop", 410)
    rec("leave", 500, room=a, reason="dropped")
    rec("broadcast", 600, actor=host, room=chair)  # the chair's own room: back to the lecture, no chapter
    rec("floor_granted", 700, actor=host, room=b, may_present=False)
    rec("floor_revoked", 800, actor=host, room=b)
    rec("agenda_item", 900, actor=host, item_id=None, position=None, title=None)
    rec("state", 3600, actor=host, state="ended", previous="live")
    return i1, i2, doc


def test_chapters_from_control_actions(world):
    i1, i2, _ = _control_sequence(world)
    data = review.meeting_review(world["users"]["host"], world["m1"].id)
    assert data["origin"] == world["t0"] + timedelta(seconds=2)  # the first segment's start
    got = [(c["kind"], c["title"], c["room_id"], c["item_id"], c["start"], c["end"]) for c in data["chapters"]]
    a, b = world["a"], world["b"]
    assert got == [
        ("agenda_item", "Nội dung: Báo cáo tình hình", None, i1.id, 8, 398),
        ("floor", f"Phát biểu: {a.name}", a.id, None, 98, 198),
        ("broadcast", f"Phát hình: {b.name}", b.id, None, 248, 298),
        ("floor", f"Phát biểu: {a.name}", a.id, None, 298, 498),  # ended by the room leaving
        ("agenda_item", "Nội dung: Thảo luận", None, i2.id, 398, 898),
        ("floor", f"Phát biểu: {b.name}", b.id, None, 698, 798),
    ]
    assert data["duration_s"] == 3600
    assert [(e["kind"], e["room_id"], e["t"], e["reason"]) for e in data["attendance"]] == [
        ("join", world["chair_room"].id, -52, None),
        ("join", a.id, -1, None),
        ("leave", a.id, 498, "dropped"),
    ]
    sheet = {p.room_id: (p.roll_call, p.absence_reason) for p in data["roll_call"]}
    assert sheet[b.id] == (RollCall.ABSENT, "Mất điện") and sheet[a.id][0] == RollCall.PRESENT_ONLINE


def test_presented_documents_timeline(world):
    _, _, doc = _control_sequence(world)
    docs = review.meeting_review(world["users"]["host"], world["m1"].id)["documents"]
    assert [(d["start"], d["end"], d["document_id"], d["page"], d["title"], d["version_id"]) for d in docs] == [
        (18, 128, doc.id, 1, "Báo cáo số 12", 77),
        (128, 408, doc.id, 3, "Báo cáo số 12", 77),
    ]


def test_reviewer_reads_the_meeting_over_http_with_redactions(world):
    _control_sequence(world)
    Document.objects.filter(meeting=world["m1"]).update(confidential=True)
    c = Client()
    c.force_login(world["users"]["reviewer"])
    r = c.get(f"/api/recordings/meetings/{world['m1'].id}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["meeting"]["title"] == "Họp giao ban tháng"
    assert len(body["chapters"]) == 6 and [s["index"] for s in body["segments"]] == [0, 1]
    assert body["segments"][1]["t"] == 1798
    assert all(d["title"] != "Báo cáo số 12" for d in body["documents"])  # confidential: the reviewer gets no title
    assert {row["room_id"] for row in body["roll_call"]} == {world["chair_room"].id, world["a"].id, world["b"].id}
    assert c.get(f"/api/recordings/meetings/{world['live'].id}").json()["code"] == "meeting_not_ended"


@pytest.mark.parametrize(
    "who, next_url, lands",
    [
        ("reviewer", "/web/host.html", "/web/review.html"),
        ("reviewer", "", "/web/review.html"),
        ("reviewer", "/web/review.html?meeting=3", "/web/review.html?meeting=3"),
        ("host", "/web/host.html", "/web/host.html"),
    ],
)
def test_a_reviewer_signing_in_lands_on_the_review_page(world, settings, who, next_url, lands):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = world["users"][who]
    user.set_password("pw-123456")
    user.save()
    r = Client().post(
        "/login/" + (f"?next={next_url}" if next_url else ""), {"username": user.username, "password": "pw-123456"}
    )
    assert r.status_code == 302 and r["Location"] == lands


def test_a_meeting_whose_recording_the_retention_removed_says_so_in_the_list_and_the_page(world):
    """prune_recordings keeps the rows (hashes, chain) and marks them pruned: the list must not call that a
    recording, nor an intact one, and the page must not send the player to files that are gone."""
    m1, rev = world["m1"], world["users"]["reviewer"]
    at = timezone.now()
    Segment.objects.filter(meeting=m1).update(state=SegmentState.PRUNED, pruned_at=at)
    row = next(r for r in review.reviewable_meetings(rev) if r["id"] == m1.id)
    assert (row["recorded"], row["verified"], row["pruned"], row["segments"]) == (False, False, True, 2)
    other = next(r for r in review.reviewable_meetings(rev) if r["id"] == world["m2"].id)
    assert other["pruned"] is False and other["recorded"] is True

    c = Client()
    c.force_login(rev)
    body = c.get(f"/api/recordings/meetings/{m1.id}").json()
    assert body["pruned"] is True and body["pruned_at"] and {s["state"] for s in body["segments"]} == {"pruned"}
    listed = next(r for r in c.get("/api/recordings/meetings").json() if r["id"] == m1.id)
    assert (listed["recorded"], listed["pruned"]) == (False, True)
    assert c.get(f"/api/recordings/meetings/{world['m2'].id}").json()["pruned"] is False


@pytest.mark.parametrize(
    "query",
    [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}, {"date_from": "0001-01-01", "date_to": "9999-12-31"}],
)
def test_extreme_dates_filter_without_crashing(world, query):
    c = Client()
    c.force_login(world["users"]["reviewer"])
    r = c.get("/api/recordings/meetings", query)
    assert r.status_code == 200 and {world["m1"].id, world["m2"].id} <= {x["id"] for x in r.json()}


def test_the_list_is_bounded_to_the_newest_meetings(world, monkeypatch):
    monkeypatch.setattr(review, "LIST_MAX", 1)
    assert ids(review.reviewable_meetings(world["users"]["reviewer"])) == [world["m2"].id]

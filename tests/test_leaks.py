"""Who reads titles and attendance (issue 9, finding 11): for each reader role, every
HTTP endpoint that returns a document or agenda item title, attendance, roll-call
marks or absence reasons; no forbidden string anywhere in any response body."""

import io
import json
import random
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from confserver.accounts.models import Role
from confserver.agenda import agenda, documents, publish, sync
from confserver.agenda.testing import pdfgen
from confserver.rooms import meetings
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Room

from .conftest import DATA

PUBLIC = "Báo cáo kinh tế quý ba công khai"
SECRET = "Phương án sắp xếp nhân sự mật"
LATE_SECRET = "Tờ trình điều chỉnh biên chế"  # published, then marked confidential
DRAFT_DOC = "Dự thảo nghị quyết chưa phát hành"
DRAFT_ITEM = "Thảo luận dự thảo chưa phát hành"
ITEM = "Đánh giá tình hình kinh tế - xã hội"
REASON_A = "Phòng A vắng: chủ tịch đi công tác Đà Nẵng"
REASON_B = "Phòng B vắng: mất điện lưới toàn xã"
WORDS = "Triển khai họp không giấy tại các xã."


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AGENDA_WEBHOOK_URL = ""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pdf(seed: int) -> bytes:
    return pdfgen.make_pdf(pdfgen.vietnamese_pages(random.Random(seed), 2, extra={0: WORDS}), title="Tài liệu")


@dataclass
class Setup:
    users: dict
    live: object  # published, started, roll call marked, a confidential document on screen
    draft: object  # scheduled, never published: its agenda is the chair's alone
    room_a: Room
    room_b: Room
    docs: dict  # title -> Document


@pytest.fixture
def setup(db, make_user):
    from confserver.rooms.importer import ensure_default_rooms, import_file

    import_file(DATA / "hue-2025.jsonl")
    ensure_default_rooms()
    hue = AdminUnit.objects.get(code="46")
    ca, cb, cc = list(AdminUnit.objects.filter(parent=hue).order_by("code")[:3])
    room_a, room_b = Room.objects.get(unit=ca), Room.objects.get(unit=cb)
    users = {
        "host": make_user("host", Role.HOST, unit=hue),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "reviewer": make_user("rev", Role.REVIEWER, unit=hue),
        "room_a": make_user("t_a", Role.TERMINAL, unit=ca, room=room_a),
        "room_b": make_user("t_b", Role.TERMINAL, unit=cb, room=room_b),
        # refused outright: a room not invited, a host whose subtree does not hold the host unit
        "room_not_invited": make_user("t_c", Role.TERMINAL, unit=cc, room=Room.objects.get(unit=cc)),
        "host_elsewhere": make_user("host_c", Role.HOST, unit=cc),
    }
    host = users["host"]
    start = timezone.now() + timedelta(hours=1)

    def meeting(title):
        return meetings.create_meeting(
            host,
            host_unit_code="46",
            title=title,
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            selection=Selection(mode="units", unit_codes=(ca.code, cb.code)),
        )

    def upload(m, title, seed, **kw):
        v = documents.upload(host, m, io.BytesIO(pdf(seed)), filename="tai-lieu.pdf", title=title, **kw)
        return v.document

    live = meeting("Họp giao ban tháng 9")
    item = agenda.create_item(host, live, title=ITEM)
    docs = {
        PUBLIC: upload(live, PUBLIC, 1, item_id=item.id),
        SECRET: upload(live, SECRET, 2, item_id=item.id, confidential=True),
        LATE_SECRET: upload(live, LATE_SECRET, 3, item_id=item.id),
    }
    publish.publish(host, live)
    documents.update_document(host, docs[LATE_SECRET], confidential=True)
    meetings.change_state(host, live.id, "test_run")
    meetings.change_state(host, live.id, "live")
    live.refresh_from_db()
    meetings.mark_roll_call(host, live, room_a.id, "absent", REASON_A)
    meetings.mark_roll_call(host, live, room_b.id, "absent", REASON_B)
    sync.set_current_item(host, live, item.id)
    secret_version = docs[SECRET].versions.get(is_current=True)
    sync.present(host, live, secret_version.id, 1)

    draft = meeting("Họp chuẩn bị kỳ họp HĐND")
    draft_item = agenda.create_item(host, draft, title=DRAFT_ITEM)
    docs[DRAFT_DOC] = upload(draft, DRAFT_DOC, 4, item_id=draft_item.id)
    return Setup(users, live, draft, room_a, room_b, docs)


def endpoints(s: Setup) -> list[str]:
    """Every GET that returns titles or attendance, for both meetings."""
    out = ["/api/meetings", "/api/agenda/search?q=hop+khong+giay"]
    for m in (s.live, s.draft):
        out += [f"/api/meetings/{m.id}", f"/api/meetings/{m.id}/attendance", f"/api/meetings/{m.id}/timeline"]
        out += [
            f"/api/agenda/meetings/{m.id}/{p}"
            for p in ("items", "documents", "publications", "receipts", "sync", "search?q=hop+khong+giay")
        ]
    for d in s.docs.values():
        v = d.versions.get(is_current=True)
        out += [f"/api/agenda/documents/{d.id}", f"/api/agenda/versions/{v.id}/signatures"]
    return out


# What each reader may not read. The chair side (host, admin) reads everything; reviewers
# read records (attendance with reasons) but no confidential title; a room reads every title of
# a released meeting, its own attendance row, and of other rooms only their names.
FORBIDDEN = {
    "host": set(),
    "admin": set(),
    "reviewer": {SECRET, LATE_SECRET, DRAFT_DOC, DRAFT_ITEM},
    "room_a": {REASON_B, DRAFT_DOC, DRAFT_ITEM},
    "room_b": {REASON_A, DRAFT_DOC, DRAFT_ITEM},
    "room_not_invited": {PUBLIC, SECRET, LATE_SECRET, DRAFT_DOC, DRAFT_ITEM, ITEM, REASON_A, REASON_B},
    "host_elsewhere": {PUBLIC, SECRET, LATE_SECRET, DRAFT_DOC, DRAFT_ITEM, ITEM, REASON_A, REASON_B},
}
# ...and what they must still read (redaction must not blind anyone), endpoint -> strings.
EXPECTED = {
    "host": {
        "live/timeline": {SECRET, REASON_A, REASON_B},
        "live/sync": {SECRET},
        "draft/timeline": {DRAFT_DOC},
        "live/attendance": {REASON_A, REASON_B},
    },
    "admin": {"live/timeline": {SECRET, REASON_B}, "live/attendance": {REASON_A, REASON_B}},
    "reviewer": {
        "live/timeline": {PUBLIC, ITEM, REASON_A},
        "live/attendance": {REASON_A, REASON_B},
        "live/sync": {ITEM},
    },
    "room_a": {"live/timeline": {SECRET, PUBLIC, ITEM, REASON_A}, "live/attendance": {REASON_A}, "live/sync": {SECRET}},
    "room_b": {"live/attendance": {REASON_B}, "live/timeline": {REASON_B}},
    "room_not_invited": {},
    "host_elsewhere": {},
}


def body_text(r) -> str:
    raw = r.content.decode()
    try:
        return raw + json.dumps(r.json(), ensure_ascii=False)  # the JSON escapes non-ASCII
    except ValueError:
        return raw


@pytest.mark.parametrize("role", sorted(FORBIDDEN))
def test_no_reader_reads_a_forbidden_title_or_reason(setup, role):
    c = Client()
    c.force_login(setup.users[role])
    leaks, bodies = [], {}
    for url in endpoints(setup):
        r = c.get(url)
        assert r.status_code in (200, 403), (url, r.status_code, r.content[:300])
        text = body_text(r)
        for key, m in (("live", setup.live), ("draft", setup.draft)):
            if f"/meetings/{m.id}/" in url + "/":
                bodies[f"{key}/{url.rstrip('/').split('/')[-1]}"] = text
        leaks += [(url, s) for s in FORBIDDEN[role] if s in text]
    assert leaks == [], f"{role} reads what it may not"
    missing = [(k, s) for k, want in EXPECTED[role].items() for s in want if s not in bodies.get(k, "")]
    assert missing == [], f"{role} no longer reads what it may"


def test_a_room_reads_its_own_attendance_row_and_only_names_of_the_others(setup):
    c = Client()
    c.force_login(setup.users["room_a"])
    att = c.get(f"/api/meetings/{setup.live.id}/attendance").json()
    rows = {r["room_id"]: r for r in att["rooms"]}
    mine = rows.pop(setup.room_a.id)
    assert mine["roll_call"] == "absent" and mine["absence_reason"] == REASON_A
    assert rows[setup.room_b.id]["room_name"] == setup.room_b.name  # the room page names who speaks
    for r in rows.values():
        assert r["roll_call"] is None and r["absence_reason"] is None and r["status"] is None, r
    assert att["counts"]["absent"] == 2 and att["total"] == 3  # counts only, no per-room detail
    timeline = c.get(f"/api/meetings/{setup.live.id}/timeline").json()
    assert {t["room_id"] for t in timeline} <= {None, setup.room_a.id}

"""Meetings planned through the HTTP API (issue 12, item 4): invite by the tree, see the tree with its counts,
edit before the meeting (refused once live), copy a past meeting; other provinces' units refused, changing nothing.

Huế's pre-2025 structure: province 46 → 9 districts → 134 communes, one room each; district 474 (Quận Thuận Hóa)
has 19 communes. Expected room sets are computed from the units' parents, not from the paths the code uses.
"""

import json
from datetime import timedelta

import pytest

from confserver.accounts.models import Role
from confserver.rooms import meetings
from confserver.rooms.models import AdminUnit, Level, Meeting, MeetingState, Participation, Room, RoomToken


@pytest.fixture
def host(hue_pre2025, make_user):
    return make_user("chutri", Role.HOST, unit=hue_pre2025)


@pytest.fixture
def c(client, host):
    client.force_login(host)
    return client


@pytest.fixture
def hanoi(db, hue_pre2025):
    """Another province, with a district, a commune and a room each."""
    vn = AdminUnit.objects.get(code="VN")
    city = AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=Level.PROVINCE,
        parent=vn,
        path="VN.01.",
    )
    district = AdminUnit.objects.create(
        code="001", name="Quận Ba Đình", division_type="quan", level=Level.DISTRICT, parent=city, path="VN.01.001."
    )
    commune = AdminUnit.objects.create(
        code="00001",
        name="Phường Phúc Xá",
        division_type="phuong",
        level=Level.COMMUNE,
        parent=district,
        path="VN.01.001.00001.",
    )
    for u in (city, district, commune):
        Room.objects.create(unit=u, name=f"Phòng họp {u.name}")
    return city


def send(client, method, url, body=None):
    return getattr(client, method)(url, json.dumps(body) if body is not None else None, content_type="application/json")


def body(when, **over):
    return {
        "title": "Hội nghị sơ kết",
        "host_unit": "46",
        "scheduled_start": when[0].isoformat(),
        "scheduled_end": when[1].isoformat(),
    } | over


def create(client, when, participants, **over):
    r = send(client, "post", "/api/meetings", body(when, participants=participants, **over))
    assert r.status_code == 201, r.content
    return r.json()


def invited(meeting_id) -> set[int]:
    return set(Participation.objects.filter(meeting_id=meeting_id).values_list("room_id", flat=True))


def rooms_where(**unit_filter) -> set[int]:
    return set(Room.objects.filter(**{f"unit__{k}": v for k, v in unit_filter.items()}).values_list("id", flat=True))


def host_room() -> set[int]:
    return rooms_where(code="46")


def test_all_communes_of_a_district_invites_exactly_those_rooms(c, when):
    m = create(c, when, {"mode": "subtree", "root": "474", "only_level": "commune"})
    communes = rooms_where(parent__code="474")
    assert len(communes) == 19
    assert invited(m["id"]) == communes | host_room()  # the chair's own room always takes part
    assert m["invited_rooms"] == 20


def test_a_district_with_its_communes(c, when):
    m = create(c, when, {"mode": "subtree", "root": "474"})
    assert invited(m["id"]) == rooms_where(parent__code="474") | rooms_where(code="474") | host_room()


@pytest.mark.parametrize(
    "participants, expected",
    [
        (
            {"mode": "subtree", "max_level": "district"},
            lambda: rooms_where(level__lte=Level.DISTRICT, path__startswith="VN.46."),
        ),
        ({"mode": "subtree", "only_level": "commune"}, lambda: rooms_where(level=Level.COMMUNE) | host_room()),
        ({"mode": "subtree", "only_level": "district"}, lambda: rooms_where(level=Level.DISTRICT) | host_room()),
    ],
)
def test_down_to_a_level_or_one_level(c, when, participants, expected):
    m = create(c, when, participants)
    assert invited(m["id"]) == expected()
    assert m["invited_rooms"] == len(expected())


def test_picked_units(c, when):
    m = create(c, when, {"mode": "units", "unit_codes": ["474", "19753", "19762"]})
    assert invited(m["id"]) == rooms_where(code__in=["46", "474", "19753", "19762"])


def test_details_are_kept_and_a_test_run_after_the_start_is_refused(c, when):
    m = create(
        c,
        when,
        {"mode": "units", "unit_codes": ["474"]},
        place="Hội trường UBND tỉnh",
        test_run_at=(when[0] - timedelta(minutes=30)).isoformat(),
    )
    read = c.get(f"/api/meetings/{m['id']}").json()
    assert read["place"] == "Hội trường UBND tỉnh"
    assert read["test_run_at"] and read["test_run_at"].startswith(
        (when[0] - timedelta(minutes=30)).strftime("%Y-%m-%dT")
    )
    r = send(c, "post", "/api/meetings", body(when, test_run_at=(when[0] + timedelta(minutes=1)).isoformat()))
    assert r.status_code == 400 and r.json()["code"] == "bad_test_run"
    assert Meeting.objects.count() == 1


def test_the_tree_has_counts_and_folded_names(c, when):
    nodes = c.get("/api/units/46/tree").json()
    assert [n["code"] for n in nodes][:2] == ["46", "474"] and len(nodes) == 1 + 9 + 134
    by_code = {n["code"]: n for n in nodes}
    assert by_code["474"]["folded"] == "quan thuan hoa" and by_code["474"]["rooms"] == 1
    assert by_code["19777"]["parent_code"] == "474" and by_code["19753"]["parent_code"] == "475"
    found = c.get("/api/units/46/subtree", {"q": "thuan hoa"}).json()
    assert {u["name"] for u in found} == {"Quận Thuận Hóa", "Phường Thuận Hòa"}
    assert c.get("/api/units/mine").json()["code"] == "46"


def test_edit_the_invitation_before_the_meeting(c, when):
    from confserver.rooms import tokens

    m = create(c, when, {"mode": "subtree", "root": "474", "only_level": "commune"})
    mid = m["id"]
    # A link handed out to a room that the edit drops stops working.
    dropped_room = Room.objects.get(unit__code="19777")
    terminal = Meeting.objects.get(pk=mid).created_by.__class__.objects.create_user(
        "phong-19777", role=Role.TERMINAL, unit=dropped_room.unit, room=dropped_room
    )
    tokens.links_for(Meeting.objects.get(pk=mid), [terminal], by=None)
    r = send(
        c,
        "patch",
        f"/api/meetings/{mid}",
        {
            "title": "Hội nghị (sửa)",
            "place": "Phòng họp số 2",
            "participants": {"mode": "subtree", "root": "475", "only_level": "commune"},
        },
    )
    assert r.status_code == 200, r.content
    assert r.json()["title"] == "Hội nghị (sửa)" and r.json()["place"] == "Phòng họp số 2"
    assert invited(mid) == rooms_where(parent__code="475") | host_room()
    assert RoomToken.objects.get(meeting_id=mid, room=dropped_room).revoked_at is not None
    inv = c.get(f"/api/meetings/{mid}/invitation").json()
    assert inv["rooms"] == len(invited(mid)) and "475" not in inv["unit_codes"] and "19762" in inv["unit_codes"]
    row = [e for e in c.get(f"/api/meetings/{mid}/timeline").json() if e["kind"] == "invited"][-1]
    assert row["data"]["removed"] == 19 and row["data"]["invited"] == len(rooms_where(parent__code="475"))
    # Details alone leave the invitation as it is.
    before = invited(mid)
    assert send(c, "patch", f"/api/meetings/{mid}", {"test_run_at": None}).status_code == 200
    assert invited(mid) == before


def test_edit_is_refused_once_live_and_shrinking_during_the_test_run(c, host, when):
    m = create(c, when, {"mode": "subtree", "root": "474", "only_level": "commune"})
    mid, before = m["id"], invited(m["id"])
    meetings.change_state(host, mid, "test_run")
    shrink = {"participants": {"mode": "units", "unit_codes": ["19753"]}}
    r = send(c, "patch", f"/api/meetings/{mid}", shrink)
    assert r.status_code == 409 and r.json()["code"] == "invitation_in_test_run"
    assert invited(mid) == before
    grow = {"participants": {"mode": "subtree", "root": "474"}}
    assert send(c, "patch", f"/api/meetings/{mid}", grow).status_code == 200
    assert invited(mid) == before | rooms_where(code="474")
    meetings.change_state(host, mid, "live")
    for change in (grow | {"title": "Khác"}, {"title": "Khác"}, {"participants": {"mode": "subtree"}}):
        r = send(c, "patch", f"/api/meetings/{mid}", change)
        assert r.status_code == 409 and r.json()["code"] == "meeting_locked"
        assert "Đang họp".lower() in r.json()["message"].lower()
    assert Meeting.objects.get(pk=mid).title == "Hội nghị sơ kết"
    assert invited(mid) == before | rooms_where(code="474")


def test_copy_a_past_meeting(c, host, when):
    m = create(c, when, {"mode": "units", "unit_codes": ["474", "19753"]}, place="Hội trường A")
    for state in ("test_run", "live", "ended"):
        meetings.change_state(host, m["id"], state)
    start = when[0] + timedelta(days=7)
    r = send(
        c,
        "post",
        f"/api/meetings/{m['id']}/copy",
        {"scheduled_start": start.isoformat(), "scheduled_end": (start + timedelta(hours=2)).isoformat()},
    )
    assert r.status_code == 201, r.content
    copy = r.json()
    assert copy["id"] != m["id"] and copy["state"] == "scheduled" and copy["title"] == "Hội nghị sơ kết"
    assert copy["place"] == "Hội trường A" and copy["scheduled_start"].startswith(start.strftime("%Y-%m-%dT"))
    assert invited(copy["id"]) == invited(m["id"]) == rooms_where(code__in=["46", "474", "19753"])
    created = c.get(f"/api/meetings/{copy['id']}/timeline").json()[0]
    assert created["kind"] == "created" and created["data"]["copied_from"] == m["id"]
    # The past meeting itself stays as it was.
    assert Meeting.objects.get(pk=m["id"]).state == MeetingState.ENDED


def test_other_provinces_units_are_refused_and_change_nothing(c, when, hanoi, make_user):
    for participants in (
        {"mode": "units", "unit_codes": ["19753", "00001"]},
        {"mode": "subtree", "root": "001"},
        {"mode": "subtree", "root": "01", "only_level": "commune"},
    ):
        r = send(c, "post", "/api/meetings", body(when, participants=participants))
        assert r.status_code == 403 and r.json()["code"] == "outside_subtree", participants
    assert Meeting.objects.count() == 0
    m = create(c, when, {"mode": "units", "unit_codes": ["474"]})
    before = invited(m["id"])
    r = send(
        c,
        "patch",
        f"/api/meetings/{m['id']}",
        {"title": "Đổi", "participants": {"mode": "units", "unit_codes": ["00001"]}},
    )
    assert r.status_code == 403 and r.json()["code"] == "outside_subtree"
    assert invited(m["id"]) == before and Meeting.objects.get(pk=m["id"]).title == "Hội nghị sơ kết"
    assert c.get("/api/units/01/tree").json()["code"] == "outside_subtree"
    # Hà Nội's host cannot copy, edit or read the invitation of Huế's meeting.
    other = make_user("chutri-hn", Role.HOST, unit=hanoi)
    c.force_login(other)
    start = when[0] + timedelta(days=1)
    r = send(
        c,
        "post",
        f"/api/meetings/{m['id']}/copy",
        {"scheduled_start": start.isoformat(), "scheduled_end": (start + timedelta(hours=1)).isoformat()},
    )
    assert r.status_code == 403 and Meeting.objects.count() == 1
    assert send(c, "patch", f"/api/meetings/{m['id']}", {"title": "x"}).status_code == 403
    assert c.get(f"/api/meetings/{m['id']}/invitation").status_code == 403


def test_the_meetings_page_is_for_hosts_and_administrators(c, hue_pre2025, make_user):
    """A host asked for the meetings page lands there; a reviewer, on their own page; the page is served."""
    from confserver.accounts import landing

    host = make_user("chutri-2", Role.HOST, unit=hue_pre2025)
    reviewer = make_user("xemlai-2", Role.REVIEWER, unit=hue_pre2025)
    assert landing.landing_for(host, "/web/meetings.html?new=1") == "/web/meetings.html?new=1"
    assert landing.landing_for(reviewer, "/web/meetings.html") == landing.REVIEW
    assert landing.MEETINGS in landing.who(host)["pages"] and landing.MEETINGS not in landing.who(reviewer)["pages"]
    page = c.get("/web/meetings.html")
    assert (
        page.status_code == 200
        and "Đơn vị được mời" in b"".join(page.streaming_content if page.streaming else [page.content]).decode()
    )

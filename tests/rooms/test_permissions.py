"""Every scope rule, with its refusals."""

import pytest

from confserver.accounts.models import Role
from confserver.errors import Forbidden
from confserver.rooms import meetings, policy
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Meeting, Room


@pytest.fixture
def world(hue_pre2025, make_user, when):
    district = AdminUnit.objects.get(code="474")
    commune_in = AdminUnit.objects.filter(parent=district).first()
    commune_out = AdminUnit.objects.exclude(parent=district).filter(level=3).first()
    users = {
        "host": make_user("host", Role.HOST, unit=hue_pre2025),
        "district_host": make_user("dhost", Role.HOST, unit=district),
        "reviewer": make_user("rev", Role.REVIEWER, unit=district),
        "admin": make_user("adm", Role.ADMIN, unit=AdminUnit.objects.get(code="VN")),
        "term_in": make_user("t_in", Role.TERMINAL, unit=commune_in, room=Room.objects.get(unit=commune_in)),
        "term_out": make_user("t_out", Role.TERMINAL, unit=commune_out, room=Room.objects.get(unit=commune_out)),
    }
    province_meeting = meetings.create_meeting(
        users["host"],
        host_unit_code="46",
        title="Tỉnh",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(mode="units", unit_codes=(commune_in.code,)),
    )
    district_meeting = meetings.create_meeting(
        users["district_host"],
        host_unit_code="474",
        title="Huyện",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(),
    )
    return users, province_meeting, district_meeting


def test_host_creates_only_in_own_subtree(world, when):
    users, *_ = world
    with pytest.raises(Forbidden) as err:
        meetings.create_meeting(
            users["district_host"],
            host_unit_code="46",
            title="x",
            scheduled_start=when[0],
            scheduled_end=when[1],
            selection=Selection(),
        )
    assert err.value.code == "outside_subtree"
    # a province host may host a meeting for one of its districts
    m = meetings.create_meeting(
        users["host"],
        host_unit_code="474",
        title="y",
        scheduled_start=when[0],
        scheduled_end=when[1],
        selection=Selection(),
    )
    assert m.host_unit.code == "474"


@pytest.mark.parametrize("who", ["reviewer", "term_in"])
def test_non_hosts_cannot_create(world, when, who):
    users, *_ = world
    before = Meeting.objects.count()
    with pytest.raises(Forbidden) as err:
        meetings.create_meeting(
            users[who],
            host_unit_code="474",
            title="x",
            scheduled_start=when[0],
            scheduled_end=when[1],
            selection=Selection(),
        )
    assert err.value.code == "not_host"
    assert Meeting.objects.count() == before


def test_only_the_chair_side_runs_a_meeting(world):
    users, pm, dm = world
    for who in ("district_host", "reviewer", "term_in"):
        with pytest.raises(Forbidden):
            meetings.change_state(users[who], pm.id, "test_run")
        with pytest.raises(Forbidden):
            meetings.invite(users[who], pm, Selection())
    pm.refresh_from_db()
    assert pm.state == "scheduled" and pm.participations.count() == 2
    # the province host may run its district's meeting; the admin may run anything
    assert meetings.change_state(users["host"], dm.id, "test_run").state == "test_run"
    assert meetings.change_state(users["admin"], pm.id, "test_run").state == "test_run"


def test_terminal_joins_only_invited_meetings(world):
    users, pm, dm = world
    assert policy.check_terminal_can_join(users["term_in"], pm).room == users["term_in"].room
    with pytest.raises(Forbidden) as err:
        policy.check_terminal_can_join(users["term_out"], pm)
    assert err.value.code == "room_not_invited"
    with pytest.raises(Forbidden) as err:
        policy.check_terminal_can_join(users["host"], pm)
    assert err.value.code == "not_terminal"
    assert meetings.confirm(users["term_in"], pm).status == "confirmed"
    with pytest.raises(Forbidden):
        meetings.confirm(users["term_out"], pm)


def test_who_sees_which_meetings(world):
    users, pm, dm = world
    seen = {k: set(policy.visible_meetings(u).values_list("title", flat=True)) for k, u in users.items()}
    assert seen["host"] == {"Tỉnh", "Huyện"}
    assert seen["district_host"] == {"Huyện"}
    assert seen["reviewer"] == {"Huyện"}  # reviewer of the district: not the province's meeting
    assert seen["admin"] == {"Tỉnh", "Huyện"}
    assert seen["term_in"] == {"Tỉnh", "Huyện"}  # invited to both (the district meeting takes its whole subtree)
    assert seen["term_out"] == set()
    with pytest.raises(Forbidden):
        policy.check_can_view(users["reviewer"], pm)


def test_user_without_unit_sees_nothing(world, make_user):
    users, pm, _ = world
    nobody = make_user("nobody", Role.REVIEWER)
    assert not policy.visible_meetings(nobody).exists()
    assert not policy.in_scope(nobody, pm.host_unit)


def test_roll_call_is_chair_only(world):
    users, pm, _ = world
    pm = meetings.change_state(users["host"], pm.id, "test_run")
    room_id = users["term_in"].room_id
    for who in ("reviewer", "term_in", "district_host"):
        with pytest.raises(Forbidden):
            meetings.mark_roll_call(users[who], pm, room_id, "present_in_person")
    assert pm.participations.get(room_id=room_id).roll_call == "not_marked"

import pytest

from confserver.accounts.models import Role
from confserver.errors import Conflict, DomainError, Forbidden, NotFound
from confserver.rooms import meetings
from confserver.rooms.meetings import Selection
from confserver.rooms.models import AdminUnit, Level, Meeting, MeetingState, Participation, RollCall


@pytest.fixture
def host(hue_pre2025, make_user):
    return make_user("host", Role.HOST, unit=hue_pre2025)


def create(user, when, host_unit="46", selection=Selection()):
    return meetings.create_meeting(
        user, host_unit_code=host_unit, title="Họp", scheduled_start=when[0], scheduled_end=when[1], selection=selection
    )


def invited_codes(m):
    return set(m.participations.values_list("room__unit__code", flat=True))


def test_whole_subtree_is_invited(host, when):
    m = create(host, when)
    assert m.participations.count() == 1 + 9 + 134
    assert m.timeline.filter(kind="created").exists()


def test_subtree_down_to_district(host, when):
    m = create(host, when, selection=Selection(max_level=Level.DISTRICT))
    levels = set(m.participations.values_list("room__unit__level", flat=True))
    assert levels == {Level.PROVINCE, Level.DISTRICT} and m.participations.count() == 10


def test_picked_units_plus_host(host, when):
    m = create(host, when, selection=Selection(mode="units", unit_codes=("474", "19753")))
    assert invited_codes(m) == {"46", "474", "19753"}


def test_picked_unit_outside_host_subtree_is_refused(host, when, db):
    AdminUnit.objects.create(
        code="01",
        name="Thành phố Hà Nội",
        division_type="thanh_pho_trung_uong",
        level=1,
        parent=AdminUnit.objects.get(code="VN"),
        path="VN.01.",
    )
    with pytest.raises(Forbidden) as err:
        create(host, when, selection=Selection(mode="units", unit_codes=("01",)))
    assert err.value.code == "outside_subtree"
    assert Meeting.objects.count() == 0


def test_unknown_unit_and_bad_schedule(host, when):
    with pytest.raises(NotFound):
        create(host, when, selection=Selection(mode="units", unit_codes=("99999",)))
    with pytest.raises(DomainError) as err:
        create(host, (when[1], when[0]))
    assert err.value.code == "bad_schedule"
    assert Meeting.objects.count() == 0


def test_invite_more_is_idempotent(host, when):
    m = create(host, when, selection=Selection(max_level=Level.DISTRICT))
    assert meetings.invite(host, m, Selection(mode="units", unit_codes=("19753",))) == 1
    assert meetings.invite(host, m, Selection(mode="units", unit_codes=("19753",))) == 0
    assert m.participations.count() == 11


def test_state_machine_forward_only(host, when):
    m = create(host, when)
    for bad in ("live", "ended", "scheduled"):
        with pytest.raises(Conflict) as err:
            meetings.change_state(host, m.id, bad)
        assert err.value.code == "bad_transition"
    m.refresh_from_db()
    assert m.state == MeetingState.SCHEDULED
    for step in ("test_run", "live", "ended"):
        m = meetings.change_state(host, m.id, step)
        assert m.state == step
    assert m.started_at and m.ended_at and m.ended_at >= m.started_at
    for bad in ("scheduled", "test_run", "live", "ended"):
        with pytest.raises(Conflict):
            meetings.change_state(host, m.id, bad)
    kinds = list(m.timeline.filter(kind="state").values_list("data__state", flat=True))
    assert kinds == ["test_run", "live", "ended"]


def test_unknown_state_and_meeting(host, when):
    m = create(host, when)
    with pytest.raises(DomainError) as err:
        meetings.change_state(host, m.id, "paused")
    assert err.value.code == "bad_state"
    with pytest.raises(NotFound):
        meetings.change_state(host, 999999, "test_run")


def test_roll_call_marks(host, when):
    m = create(host, when)
    room_id = m.participations.first().room_id
    with pytest.raises(Conflict):  # not before the test run
        meetings.mark_roll_call(host, m, room_id, "present_in_person")
    m = meetings.change_state(host, m.id, "test_run")
    with pytest.raises(DomainError) as err:
        meetings.mark_roll_call(host, m, room_id, "absent", "  ")
    assert err.value.code == "reason_required"
    p = meetings.mark_roll_call(host, m, room_id, "absent", "Mất điện")
    assert p.roll_call == RollCall.ABSENT and p.absence_reason == "Mất điện"
    p = meetings.mark_roll_call(host, m, room_id, "present_in_person")
    assert p.roll_call == RollCall.PRESENT_IN_PERSON and p.absence_reason == ""
    assert Participation.objects.get(pk=p.pk).roll_call == RollCall.PRESENT_IN_PERSON


def test_admin_cannot_move_the_state_around_the_state_machine(host, when, rf):
    from django.contrib import admin

    from confserver.accounts.models import User

    m = create(host, when)
    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("root", password="pw-123456")
    form_class = admin.site._registry[Meeting].get_form(request, m)
    data = {"title": "Đổi tên", "host_unit": m.host_unit_id, "created_by": host.pk, "state": "ended"}
    for name, at in (("scheduled_start", when[0]), ("scheduled_end", when[1])):
        data[f"{name}_0"], data[f"{name}_1"] = at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S")
    form = form_class(data=data, instance=m)
    assert "state" not in form.fields
    assert form.is_valid(), form.errors
    form.save()
    m.refresh_from_db()
    assert (m.title, m.state) == ("Đổi tên", MeetingState.SCHEDULED)

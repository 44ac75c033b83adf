"""Speaker registration (issue 14, item 4): register, refusals that change nothing, the chair's order, calling a hall
delegate and a remote room's delegate (whose room gets the floor through the meeting control), ending; all in the
timeline."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from confserver.errors import DomainError
from confserver.votes import speakers
from confserver.votes.models import Speaker

from .conftest import delegate, post

# The floor's calls run the control's database work on the thread pool (its own connection): committed data only.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def live_isolation(settings):
    from confserver.signaling import control, live

    settings.LIVE_PREFIX = f"test-{uuid.uuid4().hex[:10]}"
    live.reset_store()
    control._rooms_cache.clear()
    yield
    live.reset_store()


def refused(code, fn, *args):
    before = (list(Speaker.objects.values_list("id", "state", "position")),)
    with pytest.raises(DomainError) as e:
        fn(*args)
    assert e.value.code == code
    assert (list(Speaker.objects.values_list("id", "state", "position")),) == before


def kinds(meeting):
    return [k for k in meeting.timeline.values_list("kind", flat=True) if k.startswith("speaker")]


def floor_room(meeting_id):
    from confserver.signaling import control

    return async_to_sync(control.program)(meeting_id)


def online(meeting_id, room_id):
    from confserver.signaling import live

    async def put():
        await live.get_store().presence_put_if_absent(
            meeting_id, room_id, {"conn": "test", "session": "s", "role": "room", "since": 0, "worker": "w"}
        )

    async_to_sync(put)()


def test_register_order_call_end(client, hall):
    h = hall
    second = delegate(h.meeting, "Võ Thị Em")
    a = speakers.register(h.present, None, "Về vốn đầu tư công")
    refused("already_registered", speakers.register, h.present, None, "Lần nữa")
    refused("not_checked_in", speakers.register, h.absent, None, "Chưa điểm danh")
    refused("empty_topic", speakers.register, second, None, "   ")
    b = speakers.register(second, None, "Về giáo dục")
    assert [s["id"] for s in speakers.listing(h.meeting.pk)["waiting"]] == [a.pk, b.pk]
    speakers.reorder(h.host, h.meeting, [b.pk])
    assert [s["id"] for s in speakers.listing(h.meeting.pk)["waiting"]] == [b.pk, a.pk]
    refused("bad_order", speakers.reorder, h.host, h.meeting, [b.pk, b.pk])
    # A hall delegate is called: no room's floor changes.
    speakers.call(h.host, h.meeting, b.pk, 120)
    cur = speakers.listing(h.meeting.pk)["current"]
    assert cur["id"] == b.pk and cur["limit_s"] == 120 and cur["called_at"] is not None
    assert floor_room(h.meeting.pk)["floor_room"] is None
    refused("speaker_not_waiting", speakers.call, h.host, h.meeting, b.pk, 60)
    # Calling the next one ends the first.
    speakers.call(h.host, h.meeting, a.pk, None)
    listing = speakers.listing(h.meeting.pk)
    assert listing["current"]["id"] == a.pk and [s["id"] for s in listing["done"]] == [b.pk]
    speakers.end(h.host, h.meeting, a.pk)
    refused("speaker_not_speaking", speakers.end, h.host, h.meeting, a.pk)
    assert kinds(h.meeting) == [
        "speaker_registered",
        "speaker_registered",
        "speakers_ordered",
        "speaker_called",
        "speaker_ended",
        "speaker_called",
        "speaker_ended",
    ]


def test_a_remote_rooms_delegate_gets_the_rooms_floor(client, hall):
    h = hall
    s = speakers.register(h.remote, None, "Ý kiến của xã")
    # The room is not connected: refused by the meeting control, nothing changed.
    refused("room_offline", speakers.call, h.host, h.meeting, s.pk, 90)
    online(h.meeting.pk, h.room.pk)
    speakers.call(h.host, h.meeting, s.pk, 90)
    prog = floor_room(h.meeting.pk)
    assert prog["floor_room"] == h.room.pk and prog["floor_limit_s"] == 90
    assert "floor_granted" in h.meeting.timeline.values_list("kind", flat=True)
    speakers.set_limit(h.host, h.meeting, s.pk, 30)
    assert floor_room(h.meeting.pk)["floor_limit_s"] == 30
    speakers.end(h.host, h.meeting, s.pk)
    assert floor_room(h.meeting.pk)["floor_room"] is None


def test_delegate_api_register_and_withdraw(client, hall):
    h = hall
    mid = h.meeting.pk
    r = post(client, f"/api/votes/meetings/{mid}/speakers", {"topic": "Về giao thông"}, h.tokens[h.present.pk])
    assert r.status_code == 200, r.content
    sid = r.json()["id"]
    r = client.delete(
        f"/api/votes/meetings/{mid}/speakers/{sid}", HTTP_AUTHORIZATION=f"Delegate {h.tokens[h.remote.pk]}"
    )  # not hers
    assert (r.status_code, r.json()["code"]) == (404, "speaker_not_found")
    r = client.delete(
        f"/api/votes/meetings/{mid}/speakers/{sid}", HTTP_AUTHORIZATION=f"Delegate {h.tokens[h.present.pk]}"
    )
    assert r.status_code == 200 and Speaker.objects.get(pk=sid).state == "withdrawn"
    client.force_login(h.host)
    assert client.get(f"/api/votes/meetings/{mid}/speakers").json()["waiting"] == []


def test_registration_on_the_current_or_a_later_item_and_the_chairs_list_per_item(client, hall):
    """Issue 14 leftover: a delegate registers on any item from the current one on (not only the current one); the
    lists stay per item, the projector's "next" shows the current item's; an earlier item is refused item_passed."""
    from confserver.agenda import sync
    from confserver.agenda.models import AgendaItem
    from confserver.votes import hall as hall_screen

    h = hall
    i1, i2, i3 = (AgendaItem.objects.create(meeting=h.meeting, position=p, title=f"Nội dung số {p}") for p in (1, 2, 3))
    # No current item yet: any item, or none.
    early = speakers.register(h.present, i1.pk, "Về nội dung 1")
    general = speakers.register(h.remote, None, "Ý kiến chung")
    assert (early.agenda_item_id, general.agenda_item_id) == (i1.pk, None)
    sync.set_current_item(h.host, h.meeting, i2.pk)
    refused("item_passed", speakers.register, h.remote, i1.pk, "Nội dung đã qua")
    now = speakers.register(h.remote, None, "Về nội dung 2")  # the current item
    later = speakers.register(h.remote, i3.pk, "Về nội dung 3")
    refused("already_registered", speakers.register, h.remote, i3.pk, "Lần nữa")
    also = speakers.register(h.present, i3.pk, "Tôi cũng về nội dung 3")
    assert (now.agenda_item_id, later.agenda_item_id) == (i2.pk, i3.pk)
    listing = speakers.listing(h.meeting.pk)
    assert listing["current_item_id"] == i2.pk
    per_item = {}
    for s in listing["waiting"]:
        per_item.setdefault((s["agenda_item"] or {}).get("id"), []).append(s["id"])
    assert per_item == {i1.pk: [early.pk], None: [general.pk], i2.pk: [now.pk], i3.pk: [later.pk, also.pk]}
    # The chair orders item 3's list alone: the others keep their order.
    speakers.reorder(h.host, h.meeting, [also.pk, later.pk])
    waiting = [s["id"] for s in speakers.listing(h.meeting.pk)["waiting"]]
    assert waiting == [also.pk, later.pk, early.pk, general.pk, now.pk]
    assert [s["id"] for s in hall_screen.state(h.meeting)["next"]] == [now.pk]
    # The delegate's API takes the item too; a later item of another meeting is not found.
    mid = h.meeting.pk
    body = {"topic": "Qua API", "agenda_item_id": i3.pk}
    second = delegate(h.meeting, "Võ Thị Em")
    from confserver.delegates import tokens

    r = post(client, f"/api/votes/meetings/{mid}/speakers", body, tokens.issue(second))
    assert r.status_code == 200 and r.json()["agenda_item"]["id"] == i3.pk, r.content
    r = post(client, f"/api/votes/meetings/{mid}/speakers", {**body, "agenda_item_id": i1.pk}, tokens.issue(second))
    assert (r.status_code, r.json()["code"]) == (409, "item_passed")
    # A registration on a later item may still be called now (the chair decides).
    speakers.call(h.host, h.meeting, also.pk, 60)
    assert speakers.listing(h.meeting.pk)["current"]["id"] == also.pk

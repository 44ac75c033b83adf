"""Agenda items (CRUD, order, edits refused once ended) and the live side: current
item and synced view, checked by their events and by the stored state."""

import json

import pytest

from confserver.agenda import agenda, events, sync
from confserver.agenda.models import AgendaItem, Document
from confserver.errors import Conflict, DomainError, Forbidden, NotFound
from confserver.rooms import meetings

from .conftest import make_pdf


def post(client, url, body, method="post"):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def host_client(client, world):
    client.force_login(world.users["host"])
    return client


def test_items_crud_and_order_over_http(world, host_client, when):
    base = f"/api/agenda/meetings/{world.meeting.id}/items"
    r = post(host_client, base, {"title": "Khai mạc", "planned_start": when[0].isoformat(), "planned_minutes": 10})
    assert r.status_code == 201, r.content
    a = r.json()
    b = post(host_client, base, {"title": "Báo cáo của Sở Tài chính", "presenter_unit": "19768"}).json()
    c = post(host_client, base, {"title": "Kết luận"}).json()
    assert [a["position"], b["position"], c["position"]] == [1, 2, 3]
    assert b["presenter_unit"] == "19768" and b["presenter_unit_name"] == "Phường Phú Xuân"
    r = post(host_client, f"/api/agenda/items/{b['id']}", {"planned_minutes": 30, "presenter_unit": None}, "patch")
    assert r.status_code == 200 and r.json()["planned_minutes"] == 30 and r.json()["presenter_unit"] is None
    assert r.json()["title"] == "Báo cáo của Sở Tài chính"  # fields not sent are kept
    r = post(host_client, f"{base}/order", {"item_ids": [c["id"], a["id"], b["id"]]}, "put")
    assert [i["title"] for i in r.json()] == ["Kết luận", "Khai mạc", "Báo cáo của Sở Tài chính"]
    r = post(host_client, f"{base}/order", {"item_ids": [c["id"], a["id"]]}, "put")
    assert r.status_code == 409 and r.json()["code"] == "bad_order"
    assert host_client.delete(f"/api/agenda/items/{c['id']}").status_code == 204
    listed = host_client.get(base).json()
    assert [(i["position"], i["title"]) for i in listed] == [(1, "Khai mạc"), (2, "Báo cáo của Sở Tài chính")]
    r = post(host_client, base, {"title": "x", "planned_minutes": 0})
    assert r.status_code == 422 and r.json()["code"] == "invalid"
    r = post(host_client, base, {"title": "x", "presenter_unit": "99999"})
    assert r.status_code == 404 and r.json()["code"] == "unit_not_found"


def test_deleting_an_item_keeps_its_documents(world, item):
    v = world.upload(make_pdf(1), item_id=item.id)
    agenda.delete_item(world.users["host"], item)
    assert Document.objects.get(pk=v.document_id).item is None


@pytest.mark.parametrize("who", ["term_in", "reviewer", "commune_host", "hanoi_host"])
def test_only_the_chair_side_edits(world, item, who):
    u = world.users[who]
    with pytest.raises(Forbidden):
        agenda.create_item(u, world.meeting, title="x")
    with pytest.raises(Forbidden):
        agenda.update_item(u, item, title="y")
    with pytest.raises(Forbidden):
        agenda.reorder(u, world.meeting, [item.id])
    with pytest.raises(Forbidden):
        agenda.delete_item(u, item)
    assert list(AgendaItem.objects.values_list("title", flat=True)) == [item.title]


def run(world, *states):
    for s in states:
        meetings.change_state(world.users["host"], world.meeting.id, s)
    world.meeting.refresh_from_db()


def test_no_edits_once_ended(world, item):
    run(world, "test_run", "live", "ended")
    for call in (
        lambda: agenda.create_item(world.users["host"], world.meeting, title="x"),
        lambda: agenda.update_item(world.users["host"], item, title="y"),
        lambda: agenda.reorder(world.users["host"], world.meeting, [item.id]),
        lambda: agenda.delete_item(world.users["host"], item),
    ):
        with pytest.raises(Conflict) as err:
            call()
        assert err.value.code == "meeting_ended"
    item.refresh_from_db()
    assert item.title == "Báo cáo kinh tế - xã hội"


def test_current_item(world, item):
    second = agenda.create_item(world.users["host"], world.meeting, title="Thảo luận")
    with pytest.raises(Conflict) as err:
        sync.set_current_item(world.users["host"], world.meeting, item.id)
    assert err.value.code == "not_in_session"
    run(world, "test_run", "live")
    with pytest.raises(Forbidden):
        sync.set_current_item(world.users["term_in"], world.meeting, item.id)
    other_item = agenda.create_item(world.users["host"], world.other_meeting, title="Khác")
    with pytest.raises(NotFound) as err:
        sync.set_current_item(world.users["host"], world.meeting, other_item.id)
    assert err.value.code == "item_not_found"

    e1 = sync.set_current_item(world.users["host"], world.meeting, item.id)
    e2 = sync.set_current_item(world.users["host"], world.meeting, second.id)
    for e in (e1, e2):
        events.AgendaItemEvent.model_validate(e)  # the declared shape, nothing extra
    assert e1["event"] == "agenda_item" and e1["item"] == {"id": item.id, "position": 1, "title": item.title}
    assert e2["seq"] == e1["seq"] + 1 and e2["item"]["id"] == second.id
    # the event is what a rejoining client gets back
    assert sync.get_sync_state(world.meeting)["agenda_item"] == e2
    tl = list(world.meeting.timeline.filter(kind="agenda_item").values_list("data", flat=True))
    assert [d["item_id"] for d in tl] == [item.id, second.id]
    cleared = sync.set_current_item(world.users["host"], world.meeting, None)
    assert cleared["item"] is None and sync.get_sync_state(world.meeting)["agenda_item"] is None


def test_synced_view(world, item):
    v = world.upload(make_pdf(4), item_id=item.id)
    with pytest.raises(Conflict):
        sync.present(world.users["host"], world.meeting, v.id, 1)
    run(world, "test_run", "live")
    assert sync.get_sync_state(world.meeting) == {
        "meeting_id": world.meeting.id,
        "seq": 0,
        "agenda_item": None,
        "present": None,
    }
    for page in (0, 5):
        with pytest.raises(DomainError) as err:
            sync.present(world.users["host"], world.meeting, v.id, page)
        assert err.value.code == "bad_page"
    other = world.upload(make_pdf(1), meeting=world.other_meeting)
    with pytest.raises(NotFound) as err:
        sync.present(world.users["host"], world.meeting, other.id, 1)
    assert err.value.code == "version_not_found"

    e = sync.present(world.users["host"], world.meeting, v.id, 3)
    events.PresentEvent.model_validate(e)
    assert (e["event"], e["version_id"], e["document_id"], e["page"], e["page_count"]) == (
        "present",
        v.id,
        v.document_id,
        3,
        4,
    )
    assert e["presenter"] == {"user_id": world.users["host"].id, "room_id": None}
    assert sync.get_sync_state(world.meeting)["present"] == e

    # a room presents only when it holds the floor and the chair allows it
    with pytest.raises(Forbidden) as err:
        sync.present(world.users["term_in"], world.meeting, v.id, 2)
    assert err.value.code == "not_presenter"
    with pytest.raises(Forbidden) as err:
        sync.present(world.users["term_out"], world.meeting, v.id, 2, floor_allowed=True)
    assert err.value.code == "room_not_invited"
    with pytest.raises(Forbidden):
        sync.present(world.users["reviewer"], world.meeting, v.id, 2, floor_allowed=True)
    e2 = sync.present(world.users["term_in"], world.meeting, v.id, 2, floor_allowed=True)
    assert e2["presenter"]["room_id"] == world.room_in.id and e2["seq"] == e["seq"] + 1

    stop = sync.stop_presenting(world.users["host"], world.meeting)
    events.PresentStopEvent.model_validate(stop)
    assert stop["seq"] == e2["seq"] + 1 and sync.get_sync_state(world.meeting)["present"] is None
    kinds = list(world.meeting.timeline.filter(kind__startswith="present").values_list("kind", "data"))
    assert [k for k, _ in kinds] == ["present", "present", "present_stop"]
    assert kinds[0][1]["page"] == 3


def test_sync_state_over_http(world, item, client):
    v = world.upload(make_pdf(2), item_id=item.id)
    run(world, "test_run")
    sync.set_current_item(world.users["host"], world.meeting, item.id)
    e = sync.present(world.users["host"], world.meeting, v.id, 2)
    from confserver.rooms import tokens

    r = client.get(
        f"/api/agenda/meetings/{world.meeting.id}/sync",
        HTTP_AUTHORIZATION=f"Bearer {tokens.make_room_token(world.users['term_in'], world.meeting)}",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["present"] == e and body["agenda_item"]["item"]["id"] == item.id and body["seq"] == e["seq"]
    r = client.get(
        f"/api/agenda/meetings/{world.meeting.id}/sync",
        HTTP_AUTHORIZATION=f"Bearer {tokens.make_room_token(world.users['term_out'], world.meeting)}",
    )
    assert r.status_code == 403 and r.json()["code"] == "room_not_invited"

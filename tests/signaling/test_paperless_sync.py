"""The synced document view and the current agenda item over the real channel layer."""

import io
import random

import pytest

from .test_meeting_control import chair_and_rooms

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paper(world, settings, tmp_path):
    """An agenda item and a 4-page document in the world's meeting."""
    settings.MEDIA_ROOT = tmp_path / "media"
    from confserver.accounts.models import User
    from confserver.agenda import agenda, documents
    from confserver.agenda.testing import pdfgen
    from confserver.rooms.models import Meeting

    host = User.objects.get(username="host")
    meeting = Meeting.objects.get(pk=world.meeting_id)
    item = agenda.create_item(host, meeting, title="Báo cáo kinh tế - xã hội")
    pdf = pdfgen.make_pdf(pdfgen.vietnamese_pages(random.Random(3), 4), title="Báo cáo")
    version = documents.upload(host, meeting, io.BytesIO(pdf), filename="bao-cao.pdf", item_id=item.id)
    return item, version


async def test_presenter_turns_pages_and_rooms_follow(world, paper):
    item, version = paper
    chair, (a, b), _ = await chair_and_rooms(world)
    assert (await chair.request("agenda_item", item_id=item.id))["type"] == "ok"
    for room in (a, b):
        ev = await room.wait_event("agenda_item")
        assert ev["item"]["title"] == "Báo cáo kinh tế - xã hội" and ev["seq"] > 0 and ev["sync_seq"] >= 1
    for page in (1, 2, 3):
        assert (await chair.request("present", version_id=version.id, page=page))["type"] == "ok"
        for room in (a, b):
            ev = await room.wait_event("present", page=page)
            assert ev["version_id"] == version.id and ev["page_count"] == 4
    # room b reads elsewhere (client side), then jumps back: the server says where the view is
    state = (await b.request("sync_state"))["data"]
    assert state["present"]["page"] == 3 and state["agenda_item"]["item"]["id"] == item.id
    # out-of-range page and a room without the floor are refused, and the view stays on page 3
    assert (await chair.request("present", version_id=version.id, page=9))["code"] == "bad_page"
    assert (await a.request("present", version_id=version.id, page=1))["code"] == "not_presenter"
    assert (await a.request("agenda_item", item_id=item.id))["code"] == "chair_only"
    assert (await b.request("sync_state"))["data"]["present"]["page"] == 3


async def test_floor_room_presents_only_when_allowed(world, paper):
    _, version = paper
    chair, (a, b), _ = await chair_and_rooms(world)
    await chair.request("grant_floor", room_id=world.room_a)
    assert (await a.request("present", version_id=version.id, page=2))["code"] == "not_presenter"
    await chair.request("grant_floor", room_id=world.room_a, may_present=True)
    assert (await a.request("present", version_id=version.id, page=2))["type"] == "ok"
    ev = await b.wait_event("present", page=2)
    assert ev["presenter"]["room_id"] == world.room_a
    # the chair mutes the speaker, then takes back its leave to present: that ends the room's
    # presentation for everyone, and the microphone stays muted
    await chair.request("mute_room", room_id=world.room_a, muted=True)
    await chair.request("grant_floor", room_id=world.room_a, may_present=False)
    await b.wait_event("present_stop")
    await b.no_event("muted", room_id=world.room_a, muted=False)
    assert world.room_a in (await b.request("snapshot"))["data"]["snapshot"]["muted"]
    assert (await b.request("sync_state"))["data"]["present"] is None
    assert (await a.request("present", version_id=version.id, page=3))["code"] == "not_presenter"
    # and so does the end of the floor
    await chair.request("grant_floor", room_id=world.room_a, may_present=True)
    assert (await a.request("present", version_id=version.id, page=3))["type"] == "ok"
    await b.wait_event("present", page=3)
    await chair.request("revoke_floor")
    await b.wait_event("present_stop")
    assert (await b.request("sync_state"))["data"]["present"] is None
    assert (await a.request("present", version_id=version.id, page=3))["code"] == "not_presenter"
    # the chair side's own presentation goes on whatever the program does
    assert (await chair.request("present", version_id=version.id, page=4))["type"] == "ok"
    await chair.request("grant_floor", room_id=world.room_b)
    await chair.request("revoke_floor")
    await b.no_event("present_stop")
    assert (await b.request("sync_state"))["data"]["present"]["page"] == 4


async def test_publishing_reaches_connected_rooms(world, paper):
    from django.test import AsyncClient

    chair, (a,), _ = await chair_and_rooms(world, 1)
    http = AsyncClient()
    http.cookies["sessionid"] = world.host_cookie
    r = await http.post(f"/api/agenda/meetings/{world.meeting_id}/publish")
    assert r.status_code == 201, r.content
    ev = await a.wait_event("agenda_published")
    assert ev["items"][0]["title"] == "Báo cáo kinh tế - xã hội" and ev["publication"] == 1

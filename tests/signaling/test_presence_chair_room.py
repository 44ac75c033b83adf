"""Issue 9, finding 7: the host room's own terminal link must not throw the chair out."""

from asgiref.sync import sync_to_async

from .conftest import connect


def _chair_room_terminal_token(world):
    from confserver.accounts.models import Role, User
    from confserver.rooms import tokens
    from confserver.rooms.models import Meeting, Room

    room = Room.objects.get(pk=world.chair_room)
    t = User.objects.create_user("t-chair-room", password="pw-123456", role=Role.TERMINAL, unit=room.unit, room=room)
    return tokens.make_room_token(t, Meeting.objects.get(pk=world.meeting_id))


async def test_terminal_of_the_chairs_room_is_refused_and_the_chair_stays(world):
    token = await sync_to_async(_chair_room_terminal_token)(world)
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    intruder = await connect(world.meeting_id, token=token)
    reply = await intruder.request("join")
    assert reply["type"] == "error" and reply["code"] == "chair_room", reply
    assert "chủ trì" in reply["message"]
    # The chair was not replaced: it is still joined and in charge.
    assert (await chair.request("ping"))["type"] == "ok"
    await chair.no_event("replaced", within=0.3)
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert snap["online"] == [world.chair_room]
    assert (await chair.request("roll_call_start"))["type"] == "ok"
    await intruder.close()
    await chair.close()


def test_room_links_leave_out_the_chairs_room(world):
    from django.test import Client

    _chair_room_terminal_token(world)  # the host room has a terminal account: still no link for it
    c = Client()
    c.cookies["sessionid"] = world.host_cookie
    links = c.get(f"/api/meetings/{world.meeting_id}/room-tokens").json()
    rooms = {row["room_id"] for row in links}
    assert world.chair_room not in rooms
    assert {world.room_a, world.room_b} <= rooms

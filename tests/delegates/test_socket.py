"""The delegate WebSocket ws/delegates/<id>/ through the real ASGI app and channel layer (Redis when
REDIS_URL is set): refusals, what it forwards of the meeting's events, live.send_to_delegates, check-ins."""

import asyncio
import json

import pytest

from confserver.delegates import live, tokens
from confserver.testing.communicator import WebsocketCommunicator
from tests.signaling.conftest import ORIGIN, build_world, connect, db_call, live_isolation  # noqa: F401


@pytest.fixture
def dworld(transactional_db):
    from confserver.accounts.models import User
    from confserver.delegates import roster

    w = build_world()
    host = User.objects.get(username="host")
    from confserver.rooms.models import Meeting

    m = Meeting.objects.get(pk=w.meeting_id)
    other = Meeting.objects.create(
        host_unit=m.host_unit, title="Cuộc họp khác", scheduled_start=m.scheduled_start, scheduled_end=m.scheduled_end
    )
    w.delegates = [roster.create(host, m, {"name": f"Đại biểu {i}", "phone": f"090500000{i}"}) for i in range(3)]
    w.other_delegate = roster.create(host, other, {"name": "Người họp khác"})
    return w


async def open_delegate(meeting_id, token):
    from confserver.asgi import application

    comm = WebsocketCommunicator(
        application,
        f"/ws/delegates/{meeting_id}/",
        headers=[ORIGIN],
        subprotocols=["confserver", f"confserver.token.{token}"],
    )
    connected, proto = await comm.connect(timeout=5)
    assert connected and proto == "confserver"
    return comm


async def frame(comm, timeout=3):
    out = await asyncio.wait_for(comm.output_queue.get(), timeout)
    if out["type"] == "websocket.close":
        return {"event": "closed", "code": out.get("code")}
    return json.loads(out["text"])


async def until(comm, name, timeout=3):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        ev = await frame(comm, max(0.05, end - loop.time()))
        if ev["event"] == name:
            return ev


async def nothing(comm, within=0.4):
    try:
        ev = await frame(comm, within)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {ev}")


async def test_refused_links_close_the_socket(dworld):
    mid = dworld.meeting_id
    good = await db_call(tokens.issue)(dworld.delegates[0])
    bad = ("A" if good[0] != "A" else "B") + good[1:]
    other = await db_call(tokens.issue)(dworld.other_delegate)
    for token, code in ((bad, "delegate_token_invalid"), (other, "delegate_token_invalid")):
        comm = await open_delegate(mid, token)
        ev = await frame(comm)
        assert ev["event"] == "error" and ev["code"] == code, ev
        assert (await frame(comm))["code"] == 4403
        await comm.disconnect()


async def test_events_reach_the_delegates(dworld):
    from channels.layers import get_channel_layer

    from confserver.signaling import consumers, control

    mid = dworld.meeting_id
    t0 = await db_call(tokens.issue)(dworld.delegates[0])
    comm = await open_delegate(mid, t0)
    hello = await frame(comm)
    assert hello["event"] == "hello" and hello["delegate_id"] == dworld.delegates[0].pk
    assert hello["quorum"] == {"present": 0, "expected": 3, "needed": 2, "met": False}
    chair = await connect(mid, cookie=dworld.host_cookie)
    await chair.join()
    await asyncio.sleep(0.2)  # the groups' subscriptions are in place
    # B's events: through live.send_to_delegates, from async code (a task to await) ...
    await live.send_to_delegates(mid, {"event": "vote_opened", "vote_id": 1})
    assert (await until(comm, "vote_opened"))["vote_id"] == 1
    # ... and from synchronous code
    await db_call(live.send_to_delegates)(mid, {"event": "speakers", "speakers": []})
    assert (await until(comm, "speakers"))["speakers"] == []
    # the meeting's events: those a delegate needs, not the chair's own nor the rooms' business
    layer = get_channel_layer()
    await consumers.tell(
        layer,
        mid,
        control.Outcome(
            events=[
                {"event": "presence", "room_id": 1, "online": True, control.TO: control.CHAIR},
                {"event": "queue", "queue": []},
                {"event": "agenda_item", "meeting_id": mid, "seq": 1, "at": None, "item": None},
            ]
        ),
    )
    ev = await frame(comm)
    assert ev["event"] == "agenda_item", ev
    await nothing(comm)
    # a check-in through the API reaches the delegate's socket and the chair's console, with the quorum
    from django.test import Client

    def hall_checkin(delegate):
        return (
            Client()
            .post(
                f"/api/delegates/meetings/{mid}/checkin",
                {"code": tokens.hall_code(delegate.meeting)},
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Delegate {tokens.issue(delegate)}",
            )
            .json()
        )

    out = await db_call(hall_checkin)(dworld.delegates[1])
    assert out["changed"] is True
    ev = await until(comm, "delegate_checkin")
    assert ev["delegate_id"] == dworld.delegates[1].pk and ev["checked_in_by"] == "qr"
    assert ev["quorum"]["present"] == 1
    at_chair = await chair.wait_event("delegate_checkin")
    assert at_chair["delegate_id"] == dworld.delegates[1].pk
    await chair.close()
    await comm.disconnect()


async def test_revoking_a_link_closes_its_socket(dworld):
    from django.test import Client

    mid = dworld.meeting_id
    d = dworld.delegates[2]
    comm = await open_delegate(mid, await db_call(tokens.issue)(d))
    assert (await frame(comm))["event"] == "hello"
    await asyncio.sleep(0.2)

    def revoke():
        c = Client()
        from confserver.accounts.models import User

        c.force_login(User.objects.get(username="host"))
        return c.post(f"/api/delegates/meetings/{mid}/delegates/{d.pk}/revoke").json()

    new = await db_call(revoke)()
    ev = await until(comm, "error")
    assert ev["code"] == tokens.INVALID
    assert (await frame(comm))["code"] == 4403
    await comm.disconnect()
    # the new link opens a socket that stays
    comm = await open_delegate(mid, new["token"])
    assert (await frame(comm))["event"] == "hello"
    await nothing(comm)
    await comm.disconnect()

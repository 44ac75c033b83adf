"""The console's live log (issue 14 leftover): every speakers and vote event reaches the chair's console with the
timeline rows of the change (`log`), in the shape GET /api/meetings/{id}/timeline gives them, so that the console
writes the lines at once, not only after a reload. The delegates' copy of the event carries no `log`. Through the
real ASGI app and channel layer (Redis when REDIS_URL is set)."""

import asyncio

from confserver.delegates import tokens
from tests.delegates.test_socket import dworld, frame, open_delegate  # noqa: F401  (fixture)
from tests.signaling.conftest import connect, db_call, live_isolation  # noqa: F401


async def until(comm, name, timeout=5):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        ev = await frame(comm, max(0.05, end - loop.time()))
        if ev["event"] == name:
            return ev


def _checked_in(delegates):
    from confserver.delegates import checkin

    for d in delegates:
        checkin.check_in(d, "secretary")


async def test_speaker_and_vote_events_carry_their_timeline_rows_to_the_chair_only(dworld):  # noqa: F811
    from confserver.rooms.models import Meeting
    from confserver.votes import speakers, voting

    mid = dworld.meeting_id
    a, b, _ = dworld.delegates
    await db_call(_checked_in)([a, b])
    chair = await connect(mid, cookie=dworld.host_cookie)
    await chair.join()
    comm = await open_delegate(mid, await db_call(tokens.issue)(a))
    assert (await frame(comm))["event"] == "hello"
    await asyncio.sleep(0.2)  # the groups' subscriptions are in place

    def refreshed(d):
        d.refresh_from_db()
        return d

    a, b = await db_call(refreshed)(a), await db_call(refreshed)(b)
    first = await db_call(speakers.register)(a, None, "Về ngân sách")
    ev = await chair.wait_event("speakers", timeout=5)
    assert [(r["kind"], r["data"]["name"], r["data"]["topic"]) for r in ev["log"]] == [
        ("speaker_registered", a.name, "Về ngân sách")
    ]
    assert set(ev["log"][0]) == {"at", "kind", "room_id", "actor", "data"}
    assert [s["id"] for s in ev["waiting"]] == [first.pk]
    mine = await until(comm, "speakers")
    assert "log" not in mine and [s["id"] for s in mine["waiting"]] == [first.pk]

    second = await db_call(speakers.register)(b, None, "Về giáo dục")
    await chair.wait_event("speakers", timeout=5)
    m = await db_call(Meeting.objects.get)(pk=mid)
    from confserver.accounts.models import User

    host = await db_call(User.objects.get)(username="host")
    await db_call(speakers.call)(host, m, first.pk, 120)
    ev = await chair.wait_event("speakers", timeout=5)
    assert [(r["kind"], r["actor"], r["data"]["limit_s"]) for r in ev["log"]] == [("speaker_called", "host", 120)]
    # Calling the next one ends the first: both rows, in order, in one event.
    await db_call(speakers.call)(host, m, second.pk, None)
    ev = await chair.wait_event("speakers", timeout=5)
    assert [(r["kind"], r["data"]["name"]) for r in ev["log"]] == [
        ("speaker_ended", a.name),
        ("speaker_called", b.name),
    ]
    assert ev["log"][0]["data"]["spoke_s"] >= 0

    v = await db_call(voting.open_vote)(
        host, m, question="Thông qua tờ trình", agenda_item_id=None, secret=True, rule="half_all", limit_s=60
    )
    ev = await chair.wait_event("vote_opened", timeout=5)
    assert [(r["kind"], r["data"]["question"], r["data"]["secret"]) for r in ev["log"]] == [
        ("vote_opened", "Thông qua tờ trình", True)
    ]
    assert "log" not in await until(comm, "vote_opened")
    await db_call(voting.close_vote)(v.pk, host)
    ev = await chair.wait_event("vote_closed", timeout=5)
    (row,) = ev["log"]
    assert row["kind"] == "vote_closed" and row["data"]["voters"] == 0 and row["data"]["passed"] is False
    assert "log" not in await until(comm, "vote_closed")
    await chair.close()
    await comm.disconnect()

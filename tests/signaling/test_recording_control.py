"""The chair decides whether the meeting is recorded (issue 10, item 1): on by itself when it goes live,
stopped and restarted from the console, stopped at the end; the relay's failures; the timeline; the
`recording` state in snapshots and events. Against the real relay of this process (confserver/media/local.py)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from confserver.errors import DomainError
from confserver.media import local
from confserver.recording import live as recording
from confserver.rooms.models import TimelineEvent
from confserver.signaling import control
from confserver.signaling.live import get_store, reset_store

from .conftest import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def relays(monkeypatch):
    """The meetings' relays (and their recorders) of this test end with it; an ended meeting is not finalised."""
    monkeypatch.setattr(local, "after_meeting", lambda meeting_id: None)
    yield
    await local.close_all()


def rows(meeting_id):
    return list(
        TimelineEvent.objects.filter(meeting_id=meeting_id, kind__in=recording.KINDS)
        .order_by("at", "id")
        .values("kind", "actor__username", "data")
    )


async def actors(world):
    """The chair (the host's console) and room A, as the consumer would make them."""
    from confserver.accounts.models import User

    def make():
        chair, _ = control.authorize(User.objects.get(username="host"), world.meeting_id)
        room, _ = control.authorize(User.objects.get(username="t0"), world.meeting_id)
        return chair, room

    return await sync_to_async(make)()


def relay_records(meeting_id) -> bool:
    relay = local._relays.get(meeting_id)
    return bool(relay is not None and relay.recording)


def recording_events(outcome):
    return [e for e in outcome.events if e["event"] == "recording"]


# ---- the domain functions ---------------------------------------------------------------


async def test_going_live_records_by_itself_and_the_end_stops_it(world):
    chair, _ = await actors(world)
    out = await control.set_state(chair, "live")
    [ev] = recording_events(out)
    assert ev["on"] is True and ev["by"] == "auto" and ev["since"] and "failure" not in ev
    assert (await recording.state(world.meeting_id))["on"] is True
    assert relay_records(world.meeting_id)  # the relay was created for it and feeds a recorder

    out = await control.set_state(chair, "ended")
    [ev] = recording_events(out)
    assert ev == {"event": "recording", "on": False, "since": None, "by": "meeting_ended"}
    assert not relay_records(world.meeting_id)
    got = await sync_to_async(rows)(world.meeting_id)
    assert [(r["kind"], r["actor__username"], r["data"]["by"]) for r in got] == [
        ("recording_started", None, "auto"),
        ("recording_stopped", None, "meeting_ended"),
    ]
    assert got[0]["data"]["test_run"] is False


async def test_with_the_default_off_going_live_does_not_record(world, settings):
    settings.RECORDING_DEFAULT_ON = False
    chair, _ = await actors(world)
    out = await control.set_state(chair, "live")
    assert recording_events(out) == []
    assert (await recording.state(world.meeting_id))["on"] is False
    assert not relay_records(world.meeting_id)
    assert await sync_to_async(rows)(world.meeting_id) == []


async def test_the_chair_stops_and_restarts_it(world):
    chair, _ = await actors(world)
    # In the test run, if the chair chooses.
    out = await recording.start(chair)
    assert out.reply["recording"]["on"] is True and relay_records(world.meeting_id)
    with pytest.raises(DomainError) as exc:
        await recording.start(chair)
    assert exc.value.code == "already_recording"

    # Going live keeps the recording the chair started: no second start.
    out = await control.set_state(chair, "live")
    assert recording_events(out) == []

    out = await recording.stop(chair)
    assert out.reply["recording"] == {"on": False, "since": None}
    assert recording_events(out)[0]["by"] == "chair"
    assert not relay_records(world.meeting_id)
    with pytest.raises(DomainError) as exc:
        await recording.stop(chair)
    assert exc.value.code == "not_recording"

    out = await recording.start(chair)
    assert out.reply["recording"]["on"] is True and relay_records(world.meeting_id)
    got = await sync_to_async(rows)(world.meeting_id)
    assert [(r["kind"], r["actor__username"], r["data"]["by"]) for r in got] == [
        ("recording_started", "host", "chair"),
        ("recording_stopped", "host", "chair"),
        ("recording_started", "host", "chair"),
    ]
    assert [r["data"].get("test_run") for r in got] == [True, None, False]


async def test_only_the_chair_and_only_during_the_meeting(world):
    chair, room = await actors(world)
    for fn in (recording.start, recording.stop):
        with pytest.raises(DomainError) as exc:
            await fn(room)
        assert exc.value.code == "chair_only"

    from confserver.rooms.models import Meeting

    await sync_to_async(Meeting.objects.filter(pk=world.meeting_id).update)(state="scheduled")
    with pytest.raises(DomainError) as exc:
        await recording.start(chair)
    assert exc.value.code == "bad_state"
    assert (await recording.state(world.meeting_id))["on"] is False
    assert not relay_records(world.meeting_id)
    assert await sync_to_async(rows)(world.meeting_id) == []


async def test_a_failure_the_relay_reports_turns_it_off(world):
    chair, _ = await actors(world)
    await control.set_state(chair, "live")
    await recording.recording_failed(world.meeting_id, "disk_error", "No space left on device: " + "x" * 2000)
    rec = await recording.state(world.meeting_id)
    assert rec["on"] is False and rec["failure"]["code"] == "disk_error"
    assert "ổ đĩa" in rec["failure"]["message"]  # Vietnamese, for the console
    got = await sync_to_async(rows)(world.meeting_id)
    assert got[-1]["kind"] == "recording_failed" and got[-1]["data"]["code"] == "disk_error"
    assert got[-1]["data"]["was_on"] is True and got[-1]["data"]["detail"].startswith("No space left on device")
    assert len(got[-1]["data"]["detail"]) == recording.DETAIL_MAX

    # Another report once it is off: the timeline has it, the state keeps the failure that stopped it.
    await recording.recording_failed(world.meeting_id, "something new", "?")
    got = await sync_to_async(rows)(world.meeting_id)
    assert got[-1]["data"]["code"] == "error" and got[-1]["data"]["was_on"] is False
    assert (await recording.state(world.meeting_id))["failure"]["code"] == "disk_error"

    # The chair starts it again: the failure is gone.
    out = await recording.start(chair)
    assert out.reply["recording"] == {"on": True, "since": out.reply["recording"]["since"]}
    # A report for a meeting that does not exist is logged, never raised to the relay, and not retried as if
    # Redis were down (a retry loop that cannot succeed would keep the relay's task for a minute).
    await asyncio.wait_for(recording.recording_failed(987654321, "queue_full", "gone"), 10)


async def test_a_relay_that_cannot_start_is_an_error_and_a_failure(world, settings, monkeypatch):
    from confserver.media import remote

    settings.MEDIA_RELAY_CHANNELS = ["relay-nobody"]  # a relay process that is down
    monkeypatch.setattr(remote, "CALL_TIMEOUT_S", 0.3)
    chair, _ = await actors(world)
    with pytest.raises(DomainError) as exc:
        await recording.start(chair)
    assert exc.value.code == "recording_start_failed"
    rec = await recording.state(world.meeting_id)
    assert rec["on"] is False and rec["failure"]["code"] == "start_failed"
    [row] = await sync_to_async(rows)(world.meeting_id)
    assert row["kind"] == "recording_failed" and row["data"]["during"] == "start"
    assert row["data"]["detail"].startswith("relay_unavailable")


async def test_a_store_that_lost_it_gets_it_back_from_the_timeline(world, settings):
    chair, _ = await actors(world)
    await control.set_state(chair, "live")
    since = (await recording.state(world.meeting_id))["since"]
    if settings.REDIS_URL:
        # Redis lost its keys; the relays (here, or relay processes) go on recording.
        await get_store().raw.clear(world.meeting_id)
        rec = await recording.state(world.meeting_id)
        assert rec["on"] is True and rec["since"] == since
    else:
        # The embedded default: the store lived in this process, which "restarted" (and its relay with it).
        # The gap goes into the timeline and, since the chair had it recorded, recording starts again.
        await local.close_all()
        reset_store()
        rec = await recording.state(world.meeting_id)
        assert rec["on"] is False and rec["failure"]["code"] == "restarted"
        await asyncio.wait_for(asyncio.gather(*recording._resuming), 30)
        rec = await recording.state(world.meeting_id)
        assert rec["on"] is True and rec["by"] == "restart" and rec["since"] != since
        assert relay_records(world.meeting_id)
        got = await sync_to_async(rows)(world.meeting_id)
        assert [(r["kind"], r["data"].get("by") or r["data"].get("code")) for r in got] == [
            ("recording_started", "auto"),
            ("recording_failed", "restarted"),
            ("recording_started", "restart"),
        ]

        # The chair stops it; the process restarts again: it stays stopped, no new row.
        await recording.stop(chair)
        await local.close_all()
        reset_store()
        assert (await recording.state(world.meeting_id))["on"] is False
        assert not recording._resuming and len(await sync_to_async(rows)(world.meeting_id)) == 4


# ---- through the socket -------------------------------------------------------------------


async def test_rooms_and_the_console_see_every_change(world):
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    snap = (await chair.join())["snapshot"]
    assert snap["recording"] == {"on": False, "since": None}
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()

    assert (await chair.request("set_state", state="live"))["type"] == "ok"
    for c in (chair, a):
        ev = await c.wait_event("recording")
        assert ev["on"] is True and ev["by"] == "auto"

    # A room that joins now sees the mark at once.
    b = await connect(world.meeting_id, token=world.token_b)
    assert (await b.join())["snapshot"]["recording"]["on"] is True

    assert (await a.request("recording_stop"))["code"] == "chair_only"
    assert (await a.request("recording_start"))["code"] == "chair_only"
    reply = await chair.request("recording_stop")
    assert reply["type"] == "ok" and reply["data"]["recording"] == {"on": False, "since": None}
    for c in (chair, a, b):
        ev = await c.wait_event("recording", on=False)
        assert ev["by"] == "chair" and "failure" not in ev
    assert (await chair.request("recording_stop"))["code"] == "not_recording"

    assert (await chair.request("recording_start"))["type"] == "ok"
    for c in (chair, a, b):
        await c.wait_event("recording", on=True)
    assert (await chair.request("recording_start"))["code"] == "already_recording"
    assert (await chair.request("recording_start", extra=1))["code"] == "extra_field"

    # The relay reports that the recorder stopped by itself.
    await recording.recording_failed(world.meeting_id, "queue_full", "3000 packets waiting")
    for c in (chair, a, b):
        ev = await c.wait_event("recording", on=False)
        assert ev["failure"]["code"] == "queue_full" and ev["by"] == "relay"
    snap = (await chair.request("snapshot"))["data"]["snapshot"]
    assert snap["recording"]["on"] is False and snap["recording"]["failure"]["code"] == "queue_full"

    got = await sync_to_async(rows)(world.meeting_id)
    assert [r["kind"] for r in got] == [
        "recording_started",
        "recording_stopped",
        "recording_started",
        "recording_failed",
    ]
    for c in (chair, a, b):
        await c.close()


async def test_two_stops_at_once_stop_it_once(world):
    """Two stops racing (two workers' consoles, a double click): one stops it, the other finds it stopped."""
    chair, _ = await actors(world)
    await recording.start(chair)
    got = await asyncio.gather(recording.stop(chair), recording.stop(chair), return_exceptions=True)
    assert sorted(type(r).__name__ if isinstance(r, Exception) else "ok" for r in got) == ["Conflict", "ok"]
    assert [r.code for r in got if isinstance(r, Exception)] == ["not_recording"]
    assert [r["kind"] for r in await sync_to_async(rows)(world.meeting_id)] == [
        "recording_started",
        "recording_stopped",
    ]
    assert not relay_records(world.meeting_id)


async def test_a_failed_start_is_an_error_to_the_chair_and_an_event_to_all(world, settings, monkeypatch):
    from confserver.media import remote

    settings.MEDIA_RELAY_CHANNELS = ["relay-nobody"]
    monkeypatch.setattr(remote, "CALL_TIMEOUT_S", 0.3)
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    reply = await chair.request("recording_start", timeout=10)
    assert reply["type"] == "error" and reply["code"] == "recording_start_failed"
    assert reply["message"] == recording.FAILURES["start_failed"]
    for c in (chair, a):
        ev = await c.wait_event("recording")
        assert ev["on"] is False and ev["failure"]["code"] == "start_failed" and ev["by"] == "chair"
    await chair.close()
    await a.close()


async def test_a_room_reads_the_recording_rows_without_the_servers_error_text(world):
    from django.test import AsyncClient

    chair, _ = await actors(world)
    await control.set_state(chair, "live")
    await recording.recording_failed(world.meeting_id, "disk_error", "write failed: /srv/recordings/42/00001.webm")
    as_room = await AsyncClient().get(
        f"/api/meetings/{world.meeting_id}/timeline", headers={"Authorization": f"Bearer {world.token_a}"}
    )
    rows = [r for r in as_room.json() if r["kind"].startswith("recording_")]
    assert [r["kind"] for r in rows] == ["recording_started", "recording_failed"]
    assert rows[1]["data"]["code"] == "disk_error" and "detail" not in rows[1]["data"]

    # A reviewer neither (the chair side and administrators do).
    from django.test import AsyncClient as Client

    from confserver.accounts.models import Role, User
    from confserver.rooms.models import AdminUnit

    def users():
        hue = AdminUnit.objects.get(code="46")
        return (
            User.objects.create_user("xemlai", password="pw-123456", role=Role.REVIEWER, unit=hue),
            User.objects.get(username="host"),
        )

    reviewer, host = await sync_to_async(users)()
    for user, sees in ((reviewer, False), (host, True)):
        client = Client()
        await client.aforce_login(user)
        got = (await client.get(f"/api/meetings/{world.meeting_id}/timeline")).json()
        [failed] = [r for r in got if r["kind"] == "recording_failed"]
        assert ("detail" in failed["data"]) is sees and failed["data"]["code"] == "disk_error", (user, failed)
    await sync_to_async(connections.close_all)()  # the request thread's connection, or PostgreSQL waits


RELAY_PROCESS = """
import asyncio, sys
import django
django.setup()
from confserver.recording.live import recording_failed
asyncio.run(recording_failed(int(sys.argv[1]), "queue_full", "3000 packets waiting in the relay process"))
"""


@pytest.mark.redis
async def test_a_relay_process_reports_a_failure_to_the_meeting(world, settings):
    """recording_failed in another process (a relay process: Django and the channel layer, no consumer)
    reaches the meeting's sockets through Redis."""
    import os
    import subprocess
    import sys

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: a relay process shares state through Redis")
    chair = await connect(world.meeting_id, cookie=world.host_cookie)
    await chair.join()
    a = await connect(world.meeting_id, token=world.token_a)
    await a.join()
    assert (await chair.request("recording_start"))["type"] == "ok"
    for c in (chair, a):
        await c.wait_event("recording", on=True)

    db = connections["default"].settings_dict
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="confserver.settings",
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        LIVE_PREFIX=settings.LIVE_PREFIX,
        CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", RELAY_PROCESS, str(world.meeting_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for c in (chair, a):
        ev = await c.wait_event("recording", on=False, timeout=10)
        assert ev["failure"]["code"] == "queue_full" and ev["by"] == "relay"
    assert (await recording.state(world.meeting_id))["failure"]["code"] == "queue_full"
    assert [r["kind"] for r in await sync_to_async(rows)(world.meeting_id)] == ["recording_started", "recording_failed"]
    await chair.close()
    await a.close()


async def test_a_failure_reported_while_the_start_is_under_way_wins(world, monkeypatch):
    """A backend that reports a failure from within start_recording (before it returns) must not leave the
    state 'on' nor wait for the lock its own start holds. (The in-process relay reports from its writer
    thread instead; this pins the ordering for any backend.)"""
    from confserver.media import service

    real = service.start_recording

    async def start_then_fail(meeting_id, program):
        await real(meeting_id, program)
        await recording.recording_failed(meeting_id, "disk_error", "the disk failed as the first segment opened")

    monkeypatch.setattr(service, "start_recording", start_then_fail)
    chair, _ = await actors(world)
    t0 = asyncio.get_running_loop().time()
    with pytest.raises(DomainError) as exc:
        await recording.start(chair)
    assert asyncio.get_running_loop().time() - t0 < recording.LOCK_WAIT_S  # it did not wait for its own lock
    assert exc.value.code == "recording_start_failed"
    rec = await recording.state(world.meeting_id)
    assert rec["on"] is False and rec["failure"]["code"] == "disk_error"
    assert not relay_records(world.meeting_id)  # the recorder that started is stopped again
    [row] = await sync_to_async(rows)(world.meeting_id)
    assert row["kind"] == "recording_failed" and row["data"]["during"] == "start"


@pytest.mark.parametrize("to", ["live", "ended"])
async def test_the_meeting_changes_state_even_while_a_recording_change_holds_the_lock(world, monkeypatch, to):
    """A start or stop stuck on a slow relay holds the recording lock; going live or ending the meeting
    meanwhile must still tell everyone and (at the end) close the relay, not fail with recording_busy after
    the meeting's state has already changed in the database."""
    chair, _ = await actors(world)
    if to == "ended":
        await control.set_state(chair, "live")
        assert relay_records(world.meeting_id)
    monkeypatch.setattr(recording, "LOCK_WAIT_S", 0.3)
    held = await get_store().try_lock(world.meeting_id, recording.FIELD, 60)  # another worker's stuck change
    assert held
    out = await control.set_state(chair, to)
    assert {"event": "state", "state": to} in out.events
    [ev] = recording_events(out)
    if to == "live":
        assert ev["on"] is True and relay_records(world.meeting_id)
    else:
        assert ev["on"] is False and ev["by"] == "meeting_ended"
        assert ("*", {"type": "meeting.ended"}) in out.direct
        assert world.meeting_id not in local._relays  # the relay (and its recorder) closed
    await get_store().unlock(world.meeting_id, recording.FIELD, held)


@pytest.mark.parametrize("comes_back", ["empty", "with_its_data"])
async def test_a_failure_reported_while_redis_is_down_is_not_lost(world, settings, tmp_path, monkeypatch, comes_back):
    """The recorder stops by itself while the live store (Redis) is unreachable: the failure must still end
    up in the timeline and, once Redis answers again (restarted empty, or with its data as after a blip),
    in the live state, so that no room keeps showing "Đang ghi hình" over a recorder that stopped."""
    import shutil

    from confserver.testing import live as live_servers

    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server to start one of its own")
    monkeypatch.setattr(recording, "FAILURE_RETRY_PAUSE_S", 0.2, raising=False)
    redis = live_servers.OwnRedis(workdir=tmp_path)
    redis.start()
    try:
        settings.REDIS_URL = redis.url  # the live store only; the channel layer stays as configured
        reset_store()
        chair, _ = await actors(world)
        await recording.start(chair)
        assert (await recording.state(world.meeting_id))["on"] is True

        await asyncio.to_thread(redis.save_and_kill if comes_back == "with_its_data" else redis.kill)
        report = asyncio.ensure_future(recording.recording_failed(world.meeting_id, "disk_error", "EIO"))
        # It cannot reach the store (each try waits out the client's own retries): the timeline has it meanwhile.
        end = asyncio.get_running_loop().time() + 45  # generous: a loaded 2-core machine
        while (got := await sync_to_async(rows)(world.meeting_id))[-1]["kind"] != "recording_failed":
            assert asyncio.get_running_loop().time() < end, "the failure is not in the timeline"
            await asyncio.sleep(0.1)
        assert got[-1]["data"]["code"] == "disk_error" and not report.done()
        await asyncio.to_thread(redis.start)
        await asyncio.wait_for(report, 60)
        rec = await recording.state(world.meeting_id)
        assert rec["on"] is False and rec["failure"]["code"] == "disk_error", rec
        assert [r["kind"] for r in await sync_to_async(rows)(world.meeting_id)] == [
            "recording_started",
            "recording_failed",
        ]  # one row for one failure
    finally:
        reset_store()
        await asyncio.to_thread(redis.kill)


async def test_a_late_failure_of_the_previous_recorder_leaves_the_new_recording_on(world, monkeypatch):
    """The recorder fails; before its report takes the lock (held by another worker's change, or Redis down),
    the chair has stopped and started recording again. The report is about a recorder that is gone: it goes
    into the timeline at the time it was made, and the new recording stays on."""
    chair, _ = await actors(world)
    monkeypatch.setattr(recording, "STALE_MARGIN_S", 0.1)  # another host's clock may be this far off
    await recording.start(chair)
    held = await get_store().try_lock(world.meeting_id, recording.FIELD, 60)
    report = asyncio.ensure_future(recording.recording_failed(world.meeting_id, "disk_error", "EIO"))
    await asyncio.sleep(0.3)  # the report waits for the lock
    assert not report.done()
    # Meanwhile (as the other holder) the recording was stopped and started again: a new one since now.
    await recording._stop(world.meeting_id, None, "chair")
    newer = await recording._start(world.meeting_id, None, "chair", "test_run")
    await get_store().unlock(world.meeting_id, recording.FIELD, held)
    await asyncio.wait_for(report, 30)
    rec = await recording.state(world.meeting_id)
    assert rec["on"] is True and rec["since"] == newer["since"] and relay_records(world.meeting_id)
    got = await sync_to_async(rows)(world.meeting_id)
    assert [r["kind"] for r in got] == [
        "recording_started",
        "recording_failed",
        "recording_stopped",
        "recording_started",
    ]  # in the order things happened
    assert got[1]["data"]["was_on"] is False

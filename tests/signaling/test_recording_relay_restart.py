"""A relay process that restarts while the live state says the meeting is recorded (issue 10, item 1): the
recorder died with the old process and nobody would report it, so every room's "● Đang ghi hình" mark would
stay on over nothing. The new process finds its meetings that were recording, records the gap in the
timeline, starts recording again and tells every room and console (recording/live.py, relay_started).

The production shape: the test process plays a daphne worker (its consumer, over Redis), `manage.py
run_relay` the relay process, sharing the PostgreSQL test database."""

import os
import select
import signal
import subprocess
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from confserver.recording import live as recording
from confserver.rooms.models import TimelineEvent
from confserver.testing import live

from .conftest import connect

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="relay processes are reached through Redis and share the PostgreSQL database",
    ),
    pytest.mark.django_db(transaction=True),
]


class RelayProcess:
    """`manage.py run_relay` on `channel`, against the test's database, Redis prefixes and recordings folder."""

    def __init__(self, settings, channel, tmp_path):
        db = settings.DATABASES["default"]
        self.env = live.server_env(
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            [0],
            MEDIA_RELAY_CHANNELS=channel,
            RECORDINGS_ROOT=settings.RECORDINGS_ROOT,
            DB_POOL_MIN=1,
            DB_POOL_MAX=4,
            REDIS_URL=settings.REDIS_URL,
            LIVE_PREFIX=settings.LIVE_PREFIX,
            CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        )
        self.channel, self.logs, self.proc = channel, tmp_path, None

    def start(self, n: int):
        log = open(self.logs / f"relay-{n}.log", "w")
        self.proc = subprocess.Popen(
            [live.PYTHON, str(live.ROOT / "manage.py"), "run_relay", "--channel", self.channel],
            env=self.env,
            cwd=live.ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        ready, _, _ = select.select([self.proc.stdout], [], [], 90)
        line = self.proc.stdout.readline() if ready else ""
        assert line.startswith("relay on channel"), (line, self.log(n))

    def log(self, n: int) -> str:
        return (self.logs / f"relay-{n}.log").read_text()[-3000:]

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(20)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def rows(meeting_id):
    try:
        return list(
            TimelineEvent.objects.filter(meeting_id=meeting_id, kind__in=recording.KINDS)
            .order_by("at", "id")
            .values_list("kind", "data")
        )
    finally:
        connection.close()


async def test_a_relay_process_that_restarts_resumes_the_recording_and_says_so(world, settings, tmp_path):
    settings.MEDIA_RELAY_CHANNELS = [f"relay-restart-{uuid.uuid4().hex[:8]}"]
    relay = RelayProcess(settings, settings.MEDIA_RELAY_CHANNELS[0], tmp_path)
    await sync_to_async(relay.start)(1)
    chair = a = None
    try:
        chair = await connect(world.meeting_id, cookie=world.host_cookie)
        await chair.join()
        a = await connect(world.meeting_id, token=world.token_a)
        await a.join()
        reply = await chair.request("recording_start", timeout=20)
        assert reply["type"] == "ok", reply
        for c in (chair, a):
            await c.wait_event("recording", on=True)

        # The relay process dies (OOM, a crash, a deploy) and is started again.
        await sync_to_async(relay.kill)()
        await sync_to_async(relay.start)(2)
        for c in (chair, a):
            ev = await c.wait_event("recording", by="restart", timeout=30)
            assert ev["on"] is True and "failure" not in ev, ev
        assert (await recording.state(world.meeting_id))["on"] is True
        got = await sync_to_async(rows)(world.meeting_id)
        assert [(k, d.get("by") or d.get("code")) for k, d in got] == [
            ("recording_started", "chair"),
            ("recording_failed", "restarted"),
            ("recording_started", "restart"),
        ]
        assert got[1][1]["was_on"] is True and got[1][1]["during"] == "recording"

        # It really records again: stopping reaches the new relay process and its recorder.
        reply = await chair.request("recording_stop", timeout=20)
        assert reply["type"] == "ok" and reply["data"]["recording"] == {"on": False, "since": None}, reply
    finally:
        for c in (chair, a):
            if c is not None:
                await c.close()
        await sync_to_async(relay.stop)()
        print(relay.log(2) if (tmp_path / "relay-2.log").exists() else relay.log(1))

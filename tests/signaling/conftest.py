"""Signaling tests drive the real ASGI app (origin check, auth, consumer) over the
configured channel layer: channels_redis's pub/sub layer on Redis when REDIS_URL is set."""

import asyncio
import json
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from confserver.testing.communicator import WebsocketCommunicator

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(autouse=True)
def live_isolation(settings):
    """Fresh live-state keys, short grace, empty per-process caches for every test."""
    from confserver.signaling import control, live, sessions

    settings.LIVE_PREFIX = f"test-{uuid.uuid4().hex[:10]}"
    settings.SIGNALING_GRACE_S = 0.6
    # In-process tests write joins with the join: a batch written after the test would meet its
    # database being emptied. The real-server tests (two workers, browser) run the batches.
    settings.SIGNALING_JOIN_BATCH_S = 0
    live.reset_store()
    control._rooms_cache.clear()
    sessions._sessions.clear()
    yield
    live.reset_store()


@dataclass
class World:
    meeting_id: int
    host_cookie: str
    chair_room: int
    room_a: int
    room_b: int
    token_a: str
    token_b: str
    token_outsider: str


def build_world(state="test_run") -> World:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from confserver.accounts.models import Role, User
    from confserver.rooms import meetings, tokens
    from confserver.rooms.importer import ensure_default_rooms, import_file
    from confserver.rooms.meetings import Selection
    from confserver.rooms.models import AdminUnit, MeetingState, Room

    from ..conftest import DATA

    import_file(DATA / "hue-2025.jsonl")
    ensure_default_rooms()
    hue = AdminUnit.objects.get(code="46")
    host = User.objects.create_user("host", password="pw-123456", role=Role.HOST, unit=hue)
    communes = list(Room.objects.filter(unit__level=3).order_by("unit__code")[:3])
    terminals = [
        User.objects.create_user(f"t{i}", password="pw-123456", role=Role.TERMINAL, unit=r.unit, room=r)
        for i, r in enumerate(communes)
    ]
    start = timezone.now()
    m = meetings.create_meeting(
        host,
        host_unit_code="46",
        title="Họp thử",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=2),
        selection=Selection(mode="units", unit_codes=(communes[0].unit.code, communes[1].unit.code)),
    )
    if state != MeetingState.SCHEDULED:
        meetings.change_state(host, m.id, "test_run")
    if state == MeetingState.LIVE:
        meetings.change_state(host, m.id, "live")
    c = Client()
    c.force_login(host)
    return World(
        m.id,
        c.cookies["sessionid"].value,
        Room.objects.get(unit=hue).id,
        communes[0].id,
        communes[1].id,
        tokens.make_room_token(terminals[0], m),
        tokens.make_room_token(terminals[1], m),
        tokens.make_room_token(terminals[2], m),
    )


@pytest.fixture
def world(transactional_db):
    return build_world()


class Client:
    """One WebSocket client of the meeting, with helpers to talk the protocol."""

    def __init__(self, comm):
        self.comm = comm
        self.next_id = 0
        self.events: list[dict] = []
        self.session = None
        self.seq = 0

    async def send(self, type, **fields):
        self.next_id += 1
        await self.comm.send_to(text_data=json.dumps({"type": type, "id": self.next_id, **fields}))
        return self.next_id

    async def recv(self, timeout=3):
        """The next frame. (asgiref's receive_output would cancel the app on a timeout.)"""
        if self.comm.output_queue.empty() and self.comm.future.done():
            self.comm.future.result()
        out = await asyncio.wait_for(self.comm.output_queue.get(), timeout)
        if out["type"] == "websocket.close":
            return {"type": "closed", "code": out.get("code")}
        msg = json.loads(out["text"])
        if msg["type"] == "event":
            self.events.append(msg)
            self.seq = msg["seq"]
        return msg

    async def reply(self, timeout=3):
        """The next ok/error frame, keeping events seen meanwhile."""
        while True:
            msg = await self.recv(timeout)
            if msg["type"] != "event":
                return msg

    async def request(self, type, timeout=3, **fields):
        """Send a request and return its reply (ok or error); events seen meanwhile are kept."""
        rid = await self.send(type, **fields)
        while True:
            msg = await self.recv(timeout)
            if msg["type"] in ("ok", "error") and msg.get("id") == rid:
                return msg

    async def join(self, resume=None):
        body = {"resume": resume} if resume else {}
        reply = await self.request("join", **body)
        assert reply["type"] == "ok", reply
        self.session = reply["data"]["session"]
        self.seq = reply["data"]["seq"]
        self.ack_token = reply["data"].get("ack")
        return reply["data"]

    async def ack(self):
        """Acknowledge what came so far (a ping echoing the latest ack token); returns the reply."""
        reply = await self.request("ping", ack=self.ack_token)
        if reply["type"] == "ok":
            self.ack_token = reply["data"].get("ack")
        return reply

    async def wait_event(self, name, timeout=3, **match):
        for ev in self.events:
            if ev["event"] == name and all(ev.get(k) == v for k, v in match.items()):
                self.events.remove(ev)
                return ev
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.05, end - loop.time()))
            if msg["type"] == "event" and msg["event"] == name and all(msg.get(k) == v for k, v in match.items()):
                self.events.remove(msg)
                return msg

    async def no_event(self, name, within=0.3, **match):
        try:
            ev = await self.wait_event(name, timeout=within, **match)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected event: {ev}")

    async def close(self):
        await self.comm.disconnect()


async def connect(meeting_id, *, token=None, cookie=None, origin=ORIGIN) -> Client:
    from confserver.asgi import application
    from confserver.rooms.tokens import ws_subprotocols

    headers = [origin] if origin else []
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    comm = WebsocketCommunicator(
        application, f"/ws/meetings/{meeting_id}/", headers=headers, subprotocols=ws_subprotocols(token)
    )
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return Client(comm)


db_call = sync_to_async

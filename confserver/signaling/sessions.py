"""Per-process signaling sessions: sequence numbers, the outbox for resume, and fan-out.

One hub per meeting per process listens to the meeting's group (one channel,
one decode per event) and hands each event to the process's sessions. A
session, not a connection, is what is numbered: it outlives its connection for
the grace period, keeping every notification in a bounded outbox, so a client
that reconnects to this process gets exactly what it missed. Anywhere else
(another worker, an expired session, a gap wider than the outbox) it gets a
fresh session and a full snapshot instead.

A client that falls SIGNALING_MAX_BACKLOG notifications behind is cut off (it
resumes on reconnect) instead of growing the process's memory. Behind is
measured twice: by the connection's own queue (an ASGI server whose send waits
for the socket) and by the client's acknowledgements: daphne's send never waits,
it buffers in Twisted whatever a client does not read. An acknowledgement is not
a number the client could make up: it echoes the token of a ping reply (or the
join reply), which it can only have read after every frame sent before it.
"""

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from django.conf import settings

from confserver.observability import metrics
from confserver.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHAIR = "chair"
ACK_TOKENS_KEPT = 4  # a client echoes the newest; a few older ones may still be on their way


@dataclass
class Session:
    id: str
    key: tuple  # (meeting_id, role, room_id)
    seq: int = 0
    acked: int = 0  # the last seq the client has provably read (or was given in a snapshot)
    ack_tokens: dict = field(default_factory=dict)  # token -> the last seq sent before the frame carrying it
    outbox: deque = field(default_factory=lambda: deque(maxlen=settings.SIGNALING_OUTBOX))
    detached_at: float | None = None
    queue: asyncio.Queue | None = None  # what the attached connection has yet to send
    on_close: Callable[[dict], Awaitable[None]] | None = None  # meeting-wide closes (ended)
    overflow: Callable[[], None] | None = None
    # The attached connection's writer is idle and this sends a frame in the call (edge.text_sender): a
    # notification with nothing queued before it skips the queue and the writer's task step (issue 11).
    direct: Callable[[str], None] | None = None

    @property
    def is_chair(self) -> bool:
        return self.key[1] == CHAIR

    def stamp(self, body: str) -> str:
        """Number a notification (`body`: its JSON members, serialised once per event) and keep it."""
        self.seq += 1
        text = f'{{"type":"event","seq":{self.seq},{body}}}'
        self.outbox.append((self.seq, text))
        return text

    def stamp_event(self, event: dict) -> str:
        return self.stamp(json.dumps(event, ensure_ascii=False, separators=(",", ":"))[1:-1])

    def deliver(self, text: str) -> bool:
        """Send or queue a numbered notification; True when it went to the socket in the call."""
        if self.queue is None:
            return False  # detached: the outbox keeps it for a resume
        if self.seq - self.acked > settings.SIGNALING_MAX_BACKLOG:
            self._overflow()
            return False
        if self.direct is not None and not self.queue.qsize():
            try:
                self.direct(text)
                return True
            except Exception:  # the writer meets it again and cuts the connection off its way
                log.exception("session %s: sending a notification failed", self.id)
                self.direct = None
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._overflow()
        return False

    def _overflow(self):
        self.queue = None
        if self.overflow is not None:
            self.overflow()

    def ack_token(self, upto: int | None = None) -> str:
        """A token for the reply about to be sent; echoed back, it proves the client read every
        notification sent before that reply: up to `upto`, or all but those still queued here."""
        token = secrets.token_urlsafe(9)
        if upto is None:
            upto = self.seq - (self.queue.qsize() if self.queue is not None else 0)
        self.ack_tokens[token] = upto
        while len(self.ack_tokens) > ACK_TOKENS_KEPT:
            self.ack_tokens.pop(next(iter(self.ack_tokens)))
        return token

    def ack(self, token: str) -> bool:
        """The client echoed `token`: everything up to its seq has been read. False for a token
        this session did not give out (or gave out too long ago)."""
        seq = self.ack_tokens.get(token)
        if seq is None:
            return False
        self.acked = max(self.acked, seq)
        return True

    def missed_since(self, last_seq: int) -> list[str] | None:
        """Notifications after `last_seq`, or None when some are no longer kept."""
        if last_seq > self.seq:
            return None
        first = self.outbox[0][0] if self.outbox else self.seq + 1
        if last_seq + 1 < first:
            return None
        return [text for seq, text in self.outbox if seq > last_seq]

    def attach(self, on_close, overflow, acked: int) -> asyncio.Queue:
        """Feed a connection from now on; the client has (or is about to get) everything up to `acked`."""
        self.detached_at = None
        self.direct = None  # until the connection's writer runs
        self.acked = acked
        self.queue = asyncio.Queue(maxsize=settings.SIGNALING_MAX_BACKLOG)
        self.on_close, self.overflow = on_close, overflow
        return self.queue


class Hub:
    """The process's listener for one meeting."""

    def __init__(self, meeting_id: int, layer, group: str):
        self.meeting_id, self.layer, self.group = meeting_id, layer, group
        self.sessions: dict[str, Session] = {}
        # The chair's sessions apart: a chair-only event (a room's presence, at every join) goes to them without
        # a pass over the meeting's thousands of room sessions (issue 11, item 6: that pass made 5,000 joins
        # quadratic, each one a loop over every session of the worker).
        self.chairs: dict[str, Session] = {}
        self.channel = ""
        self.task: asyncio.Task | None = None
        self._probes: dict[str, asyncio.Future] = {}

    async def start(self):
        self.channel = await self.layer.new_channel("hub.")
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self):
        try:
            while True:
                message = await self.layer.receive(self.channel)
                try:
                    await self._dispatch(message)
                except Exception:
                    log.exception("meeting %s: dispatching %s failed", self.meeting_id, message.get("type"))
        except asyncio.CancelledError:
            pass
        finally:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:
                log.exception("leaving group %s failed", self.group)

    async def probe(self, timeout: float = 1.0) -> bool:
        """Whether a message sent to this hub through the channel layer arrives (the layer's
        subscriptions are back after a Redis restart)."""
        token = secrets.token_hex(8)
        fut = self._probes[token] = asyncio.get_running_loop().create_future()
        try:
            await self.layer.send(self.channel, {"type": "meeting.probe", "token": token})
            await asyncio.wait_for(fut, timeout)
            return True
        except Exception:
            return False
        finally:
            self._probes.pop(token, None)

    def deliver_local(self, event: dict):
        """Hand an event to this process's sessions of the meeting, without the channel layer."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))[1:-1]
        sent = 0
        for s in list(self.sessions.values()):
            sent += s.deliver(s.stamp(body))
        if sent:
            metrics.EVENTS_SENT.inc(sent)

    async def _dispatch(self, message: dict):
        if message.get("type") == "meeting.probe":
            fut = self._probes.get(message.get("token"))
            if fut is not None and not fut.done():
                fut.set_result(True)
            return
        if message.get("type") == "meeting.event":
            body = json.dumps(message["event"], ensure_ascii=False, separators=(",", ":"))[1:-1]
            sent = 0
            for s in list((self.chairs if message.get("to") == CHAIR else self.sessions).values()):
                sent += s.deliver(s.stamp(body))
            if sent:
                metrics.EVENTS_SENT.inc(sent)  # the writers count the ones they send
        else:
            for s in list(self.sessions.values()):
                if s.on_close is not None:
                    try:
                        await s.on_close(message)
                    except Exception:  # one failed close must not keep the others open
                        log.exception("meeting %s: closing session %s failed", self.meeting_id, s.id)


_sessions: dict[str, Session] = {}
_hubs: dict[int, Hub] = {}
_hub_lock = asyncio.Lock()


async def open_session(key: tuple, layer, group: str) -> Session:
    """A new session of the meeting `key[0]`, fed by the process's hub for it."""
    async with _hub_lock:
        hub = _hubs.get(key[0])
        if hub is None or hub.task is None or hub.task.done() or hub.layer is not layer:
            hub = _hubs[key[0]] = Hub(key[0], layer, group)
            await hub.start()
    s = Session(id=secrets.token_urlsafe(16), key=key)
    hub.sessions[s.id] = s
    if s.is_chair:
        hub.chairs[s.id] = s
    _sessions[s.id] = s
    return s


def resume(session_id: str, key: tuple) -> Session | None:
    """The detached session with that id, if it belongs to the same place in the meeting."""
    s = _sessions.get(session_id)
    if s is None or s.key != key or s.detached_at is None:
        return None
    return s


def detach(s: Session):
    s.queue = None
    s.on_close = s.overflow = s.direct = None
    s.detached_at = time.monotonic()


async def close(s: Session):
    _sessions.pop(s.id, None)
    detach(s)
    hub = _hubs.get(s.key[0])
    if hub is not None:
        hub.sessions.pop(s.id, None)
        hub.chairs.pop(s.id, None)
        if not hub.sessions and hub.task is not None:
            _hubs.pop(s.key[0], None)
            # cancelled again until it ends: its Redis reads can take a cancel in (confserver/tasks.py)
            await cancel_and_wait([hub.task])


async def close_all():
    for s in list(_sessions.values()):
        await close(s)

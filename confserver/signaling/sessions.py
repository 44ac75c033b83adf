"""Per-process signaling sessions: sequence numbers and the outbox for resume.

A session, not a connection, is what listens to the meeting: it has its own
channel in the meeting's group and a pump task that numbers every
notification, keeps it in a bounded outbox and hands it to the attached
connection, if any. So a client that drops and reconnects to this process
within the grace period gets exactly what it missed. Anywhere else (another
worker, an expired session, a gap wider than the outbox) it gets a fresh
session and a full snapshot instead.
"""
import asyncio
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass
class Session:
    id: str
    key: tuple  # (meeting_id, role, room_id)
    channel: str = ""
    seq: int = 0
    outbox: deque = field(default_factory=lambda: deque(maxlen=settings.SIGNALING_OUTBOX))
    detached_at: float | None = None
    sink: Callable[[dict], Awaitable[None]] | None = None
    pump: asyncio.Task | None = None

    def stamp(self, event: dict) -> dict:
        """Number a notification for this session and keep it for replay."""
        self.seq += 1
        msg = {"type": "event", "seq": self.seq, **event}
        self.outbox.append(msg)
        return msg

    def missed_since(self, last_seq: int) -> list[dict] | None:
        """Notifications after `last_seq`, or None when some are no longer kept."""
        if last_seq > self.seq:
            return None
        first = self.outbox[0]["seq"] if self.outbox else self.seq + 1
        if last_seq + 1 < first:
            return None
        return [m for m in self.outbox if m["seq"] > last_seq]


_sessions: dict[str, Session] = {}


async def open_session(key: tuple, layer, group: str, sink) -> Session:
    """A new session listening to `group` and delivering to `sink`."""
    s = Session(id=secrets.token_urlsafe(16), key=key, sink=sink)
    s.channel = await layer.new_channel("session.")
    await layer.group_add(group, s.channel)
    s.pump = asyncio.ensure_future(_pump(s, layer, group))
    _sessions[s.id] = s
    return s


async def _pump(s: Session, layer, group: str):
    try:
        while True:
            message = await layer.receive(s.channel)
            if message.get("type") == "meeting.event":
                stamped = s.stamp(message["event"])
                message = {"type": "session.event", "message": stamped, "backlog": backlog(layer, s.channel)}
            if s.sink is not None:
                try:
                    await s.sink(message)
                except Exception:
                    log.exception("delivering to session %s failed", s.id)
    except asyncio.CancelledError:
        pass
    finally:
        try:
            await layer.group_discard(group, s.channel)
        except Exception:
            log.exception("leaving group %s failed", group)


def backlog(layer, channel) -> int:
    """How many messages wait for this channel in this process (both layers keep an asyncio queue)."""
    queue = getattr(layer, "channels", {}).get(channel)
    return queue.qsize() if hasattr(queue, "qsize") else 0


def resume(session_id: str, key: tuple, sink) -> Session | None:
    """The detached session with that id, if it belongs to the same place in the meeting."""
    s = _sessions.get(session_id)
    if s is None or s.key != key or s.pump is None or s.pump.done():
        return None
    s.detached_at = None
    s.sink = sink
    return s


def detach(s: Session):
    s.sink = None
    s.detached_at = time.monotonic()


async def close(s: Session):
    _sessions.pop(s.id, None)
    s.sink = None
    if s.pump is not None and not s.pump.done():
        s.pump.cancel()
        try:
            await s.pump
        except asyncio.CancelledError:
            pass


async def close_all():
    for s in list(_sessions.values()):
        await close(s)

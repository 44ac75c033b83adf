"""Rooms told to reconnect their media at once when their relay process restarts (MEDIA_CASCADE off).

A relay process (`manage.py run_relay --channel …`) that dies takes every peer connection of its meetings with it.
Started again (bin/prod's standby takes the channel over in ~0.3 s), it serves at once, but nothing told the rooms:
each browser noticed only when its ICE consent checks failed and media.js's grace ran out (20-37 s without the
chair's picture). Now the new process, once it serves (relayd.serve's `ready`), sends each of its channel's active
meetings `meeting.relay_restarted` on the meeting's group; every worker's hub hands it to the sockets it holds
(consumers.meeting_closed), and each joined socket is sent `relay_move` with `reason: restarted` and `epoch: 0` (no
plan: the same relay) through its session's ordered writer, unnumbered. The client builds a new peer connection
and offers again as for a cascade move (docs/protocol.md). The new relay asks each publisher for a keyframe as
soon as its media comes in (routing.Feed starts `broken`), and each room's slot starts at one (Slot.restart).

The chair (the publisher) is told at once; a worker holding many rooms of the meeting spreads their offers over
len(rooms) / OFFERS_PER_S seconds so that a relay that just started is not hit by every offer at the same moment.

With MEDIA_CASCADE on the registry sees the new incarnation and the monitor re-plans the relay's rooms
(`relay_move` with the plan's epoch, signaling/relaymoves.py): nothing is sent from here then.
"""

import asyncio
import json
import logging
import random
import secrets

from django.conf import settings

log = logging.getLogger(__name__)

MESSAGE = "meeting.relay_restarted"
OFFERS_PER_S = 100.0  # per worker: a room's delay is random in [0, rooms held here / this)
TEXT = json.dumps({"type": "relay_move", "epoch": 0, "reason": "restarted"}, separators=(",", ":"))

_tasks: set[asyncio.Task] = set()


def _spawn(coro) -> asyncio.Task:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def enabled() -> bool:
    """Relay processes of their own, reached over Redis, and no cascade monitor doing it."""
    from confserver.media import steer

    return bool(settings.MEDIA_RELAY_CHANNELS and settings.REDIS_URL) and not steer.enabled()


# ---- in the relay process ------------------------------------------------------------


def announce_soon(channel: str) -> asyncio.Task | None:
    """The relay process serves `channel` now: tell its meetings' rooms (in the background; never raises)."""
    if not enabled():
        return None
    return _spawn(announce(channel))


async def announce(channel: str, layer=None) -> list[int]:
    """Send `meeting.relay_restarted` to each active meeting carried by `channel`; the meetings told."""
    from channels.layers import get_channel_layer

    from confserver.signaling.control import db, group_name

    layer = layer or get_channel_layer()
    incarnation = secrets.token_hex(6)  # which start this was, for the workers' logs
    try:
        meetings = await db(_meetings)(channel)
    except Exception:
        log.exception("relay %s: listing its meetings to tell their rooms it restarted failed", channel)
        return []
    told = []
    for mid in meetings:
        try:
            await layer.group_send(group_name(mid), {"type": MESSAGE, "channel": channel, "incarnation": incarnation})
            told.append(mid)
        except Exception:
            log.exception("meeting %s: telling its rooms that relay %s restarted failed", mid, channel)
    if told:
        log.warning(
            "relay %s (%s) serves: the rooms of meetings %s told to reconnect their media", channel, incarnation, told
        )
    return told


def _meetings(channel: str) -> list[int]:
    from confserver.media.remote import relay_channel
    from confserver.rooms.models import Meeting
    from confserver.signaling.control import ACTIVE

    ids = Meeting.objects.filter(state__in=ACTIVE).order_by("id").values_list("id", flat=True)
    return [mid for mid in ids if relay_channel(mid) == channel]


# ---- in a worker ------------------------------------------------------------------------


def on_message(consumer, message: dict) -> None:
    """The hub passed `meeting.relay_restarted` to this socket (consumers.meeting_closed)."""
    session = getattr(consumer, "session", None)
    actor = getattr(consumer, "actor", None)
    if consumer.closing or session is None or actor is None:
        return  # not joined: its media, if any, is offered after the join
    delay = 0.0
    if not actor.is_chair:
        from confserver.signaling import sessions

        hub = sessions._hubs.get(actor.meeting_id)
        held = len(hub.sessions) if hub is not None else 1
        delay = random.random() * held / OFFERS_PER_S
    _spawn(_tell(consumer, delay, message.get("channel")))


async def _tell(consumer, delay: float, channel) -> None:
    if delay > 0:
        await asyncio.sleep(delay)
    if consumer.closing:
        return
    try:
        await _send_ordered(consumer, TEXT)
    except Exception:
        log.warning(
            "meeting %s: telling room %s that relay %s restarted failed",
            consumer.actor.meeting_id,
            consumer.actor.room_id,
            channel,
        )


async def _send_ordered(consumer, text: str) -> None:
    """Behind the notifications already queued for the socket (its session's writer), unnumbered; directly when it
    has no writer (or its queue is full: the session is about to be cut off)."""
    session = consumer.session
    queue = session.queue if session is not None else None
    if queue is not None and getattr(consumer, "writer", None) is not None and not consumer.writer.done():
        try:
            queue.put_nowait(text)
            return
        except asyncio.QueueFull:
            pass
    await consumer.send(text_data=text)

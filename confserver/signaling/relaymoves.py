"""Rooms told to move their media to another relay (issue 11, item 4; only with MEDIA_CASCADE on).

Each daphne worker listens to the channel layer group `relay-plan` (media/monitor.py publishes a meeting's new
plan there when a relay dies, restarts or is drained); for each moved room whose socket this worker holds it sends
the socket `relay_move` (protocol.RelayMove): the client builds a new peer connection and offers again, and the
offer goes to the room's new relay (media/steer.py). Sends to one new relay are paced by its joins bucket
(Registry.admit_join). The socket and the session stay. The message goes through the session's ordered writer
(behind the notifications queued before it), unnumbered. A drain moves rooms in batches, make-before-break
(media/handoff.py).
"""

import asyncio
import json
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from confserver.media import steer

log = logging.getLogger(__name__)

# (meeting, room) -> the joined connections of that room in this process
_held: dict[tuple[int, int], set] = {}
_listener: asyncio.Task | None = None
_draining: set[asyncio.Task] = set()


def hold(consumer) -> None:
    """A room joined on this worker: it is told when its relay goes (the worker starts listening, once)."""
    global _listener
    if not steer.enabled() or consumer.actor is None:
        return
    _held.setdefault((consumer.actor.meeting_id, consumer.actor.room_id), set()).add(consumer)
    if _listener is None or _listener.done():
        _listener = asyncio.ensure_future(_listen(get_channel_layer()))


def release(consumer) -> None:
    if consumer.actor is None:
        return
    key = (consumer.actor.meeting_id, consumer.actor.room_id)
    held = _held.get(key)
    if held is not None:
        held.discard(consumer)
        if not held:
            del _held[key]


async def _listen(layer) -> None:
    from confserver.media.monitor import PLAN_GROUP

    channel = await layer.new_channel("relayplan.")
    await layer.group_add(PLAN_GROUP, channel)
    try:
        while True:
            event = await layer.receive(channel)
            if event.get("reason") == "draining":  # batches take a while: a relay dying meanwhile does not wait
                task = asyncio.ensure_future(_on_plan_logged(event))
                _draining.add(task)
                task.add_done_callback(_draining.discard)
            else:
                await _on_plan_logged(event)
    finally:
        try:
            await layer.group_discard(PLAN_GROUP, channel)
        except Exception:
            pass


async def _on_plan_logged(event: dict) -> None:
    try:
        await on_plan(event)
    except Exception:
        log.exception("relay-plan event for meeting %s failed", event.get("meeting_id"))


async def on_plan(event: dict) -> int:
    """Tell this worker's sockets of the moved rooms to reconnect their media; returns how many were told.

    A drain (the old relay lives) goes in batches of RELAY_DRAIN_BATCH rooms, make-before-break: each room keeps its old
    peer until its new one is connected (media/handoff.py closes the old one then)."""
    meeting_id = int(event["meeting_id"])
    mine = [(m, _held.get((meeting_id, int(m["room_id"])), ())) for m in event.get("moves") or ()]
    mine = [(m, conns) for m, conns in mine if conns]
    if not mine:
        return 0
    reason = event.get("reason", "dead")
    batch = max(1, settings.RELAY_DRAIN_BATCH) if reason == "draining" else len(mine)
    # the chair (a publisher) first: the rooms' new peers get its picture there (its old peer goes last: handoff)
    mine.sort(key=lambda mc: not any(c.actor.is_chair for c in mc[1]))
    told = 0
    for at in range(0, len(mine), batch):
        n, leaving = await _tell(meeting_id, int(event["epoch"]), reason, mine[at : at + batch])
        told += n
        if leaving is not None and at + batch < len(mine):  # the next batch once this one has its new peers
            await asyncio.wait({leaving})
    return told


async def _tell(meeting_id: int, epoch: int, reason: str, mine: list) -> tuple[int, asyncio.Task | None]:
    from confserver.media import handoff, plans

    registry = plans.default().registry
    by_relay: dict[str, int] = {}
    for m, _ in mine:
        by_relay[m["to"]] = by_relay.get(m["to"], 0) + 1
    wait = 0.0
    for relay, n in by_relay.items():  # the tokens taken at once; wait for the slowest relay's
        wait = max(wait, await registry.admit_join(relay, n))
    if wait > 0:
        await asyncio.sleep(wait)
    told = 0
    text = json.dumps({"type": "relay_move", "epoch": epoch, "reason": reason}, separators=(",", ":"))
    moved, chairs = [], set()
    for m, conns in mine:
        for consumer in list(conns):
            if consumer.closing:
                continue
            try:
                await _send_ordered(consumer, text)
                told += 1
                moved.append(m)
                if consumer.actor.is_chair:
                    chairs.add(int(m["room_id"]))
            except Exception:
                log.warning("meeting %s: telling room %s to move failed", meeting_id, consumer.actor.room_id)
    leaving = handoff.leave_old_when_new_connected(meeting_id, epoch, moved, chairs) if reason == "draining" else None
    return told, leaving


async def _send_ordered(consumer, text: str) -> None:
    """Through the session's writer, behind the notifications already queued (one writer per socket); unnumbered,
    so never replayed. A socket with no writer yet (or cut off) is sent to directly."""
    session = getattr(consumer, "session", None)
    queue = session.queue if session is not None else None
    if queue is not None and getattr(consumer, "writer", None) is not None and not consumer.writer.done():
        try:
            queue.put_nowait(text)
            return
        except asyncio.QueueFull:
            pass  # the writer is far behind: the session will be cut off; say it now all the same
    await consumer.send(text_data=text)

"""Make-before-break for rooms moved off a live relay (issue 11, item 3: a drain with no visible break).

A drained relay still serves: its rooms are told `relay_move` (signaling/relaymoves.py), build a new peer
connection on their new relay and keep the old one meanwhile. The old peer is closed here only once the new one is
connected and its program slot has been sent a keyframe and the frames since (`quality`'s `program_video`), plus
`SETTLE_S` for the room to decode it, so the room's picture never waits for a connection; a room that is sent
something but no picture (audio only, or a relay that does not say) after `NO_PICTURE_S` is taken as ready; a room
whose new peer is not there within `CONNECT_WAIT_S` keeps its old one (the relay drops it when it goes). A publisher
(`last`: the chair, told first so that the new relay has its picture) leaves its old relay last, once no other room
of the meeting is left there (at most `LAST_WAIT_S`): the rooms still there watch it until they too have moved. A
dead relay has nothing to leave: this is for a drain.
"""

import asyncio
import logging
import time

log = logging.getLogger(__name__)

POLL_S = 0.25  # `quality` is read without an epoch (it changes nothing): a re-plan meanwhile does not stop the polls
SETTLE_S = 1.0  # after the new peer's first keyframe was sent: the room decodes it (the client may leave first)
# Sent something (kbps_out > 0) but no picture: an audio-only room, or a relay without `program_video`. Before
# `program_video`, 2 s after kbps_out > 0 (audio alone makes it so) was taken for the picture.
NO_PICTURE_S = 4.0
CONNECT_WAIT_S = 20.0
LAST_WAIT_S = 60.0

_tasks: set[asyncio.Task] = set()


def leave_old_when_new_connected(
    meeting_id: int, epoch: int, moves: list[dict], last: set[int] = frozenset()
) -> asyncio.Task | None:
    """In the background: close each moved room's peer on its old relay once its peer on the new one is connected
    (`moves`: {"room_id", "from", "to"}; `last`: publishers, closed once their old relay has no other room of the
    meeting). Returns the task, whose result is room -> seconds until its old peer closed."""
    if not moves:
        return None
    task = asyncio.ensure_future(_leave(meeting_id, epoch, moves, set(last)))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def _leave(meeting_id: int, epoch: int, moves: list[dict], last: set[int]) -> dict[int, float]:
    from . import remote

    client = remote._client()
    waiting = {int(m["room_id"]): (m["from"], m["to"]) for m in moves}
    left: dict[int, float] = {}  # room -> seconds until its old peer was closed
    sent: dict[int, float] = {}  # room -> when its new peer was first seen sent something
    start = time.monotonic()
    while waiting and time.monotonic() - start < CONNECT_WAIT_S:
        for target in sorted({to for _, to in waiting.values()}):
            try:
                rooms = await client.call(target, "quality", {"meeting_id": meeting_id})
            except Exception as exc:  # a new relay that does not answer: try again at the next poll
                log.info("meeting %s: asking %s for its peers failed (%s)", meeting_id, target, exc)
                continue
            now = time.monotonic()
            ready = []
            for r, q in (rooms or {}).items():
                room = int(r)
                if waiting.get(room, (None, None))[1] != target:
                    continue
                if _receiving(q):
                    sent.setdefault(room, now)
                if _shows(q, now - sent.get(room, now)) or (room in last and q.get("connected")):
                    ready.append(room)
            if ready:
                await asyncio.sleep(SETTLE_S)
            for room in ready:
                old, _ = waiting.pop(room)
                if room in last:  # in a task of its own: the next batch does not wait for it
                    task = asyncio.ensure_future(_close_when_alone(client, old, meeting_id, room, epoch, last))
                    _tasks.add(task)
                    task.add_done_callback(_tasks.discard)
                    continue
                await _close(client, old, meeting_id, room, epoch)
                left[room] = time.monotonic() - start
        if waiting:
            await asyncio.sleep(POLL_S)
    if waiting:
        log.warning(
            "meeting %s: %d moved rooms did not connect on their new relay within %.0f s; their old peers "
            "stay until the old relay goes",
            meeting_id,
            len(waiting),
            CONNECT_WAIT_S,
        )
    return left


def _receiving(q: dict) -> bool:
    """The room's new peer is connected and is sent something (the program's sound, its picture)."""
    return bool(q.get("connected")) and (q.get("kbps_out") or 0) > 0


def _shows(q: dict, sent_for: float) -> bool:
    """The room's new peer can show the program: sent a keyframe and the frames since; or sent something for
    NO_PICTURE_S without a picture (an audio-only room, or a relay that does not say: see NO_PICTURE_S)."""
    if not q.get("connected"):
        return False
    return bool(q.get("program_video")) or (_receiving(q) and sent_for >= NO_PICTURE_S)


async def _close_when_alone(client, old: str, meeting_id: int, room: int, epoch: int, last: set[int]) -> None:
    end = time.monotonic() + LAST_WAIT_S
    while time.monotonic() < end:
        try:
            there = await client.call(old, "quality", {"meeting_id": meeting_id})
        except Exception:
            break  # the old relay is gone: nothing to wait for
        if not {int(r) for r in there or {}} - last:
            break
        await asyncio.sleep(POLL_S)
    await _close(client, old, meeting_id, room, epoch)


async def _close(client, relay: str, meeting_id: int, room: int, epoch: int) -> None:
    log.warning("meeting %s: room %s connected on its new relay; its peer on %s closes", meeting_id, room, relay)
    await client.call(relay, "close_peer", {"meeting_id": meeting_id, "room_id": room, "epoch": epoch}, wait=False)

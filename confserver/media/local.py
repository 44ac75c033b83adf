"""Relays in this process: one Relay per meeting.

The program decided by meeting control (lecture, floor, broadcast) and the
mutes become routes in the relay; SDP offers and ICE candidates become peers;
a recording is a `Recorder` (confserver/recording/segments.py) the relay feeds
with the program (media/recorder.py).
The embedded default calls this directly; in production a relay process
(`manage.py run_relay`) runs it and service.py reaches it over the channel layer.
"""

import asyncio
import functools
import importlib.util
import logging
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from confserver.errors import NotFound

from .config import IceConfig
from .relay import Relay

log = logging.getLogger(__name__)

MULTIVIEW_MAX = 16

_relays: dict[int, Relay] = {}
_lock = asyncio.Lock()


def peer_id(room_id: int) -> str:
    return f"room-{room_id}"


def room_of(peer: str) -> int:
    return int(peer.split("-", 1)[1])


def ice_config() -> IceConfig:
    return IceConfig(
        host_addresses=tuple(settings.MEDIA_ICE_HOSTS) or None,
        port_range=settings.MEDIA_PORT_RANGE,
        public_address=settings.MEDIA_PUBLIC_ADDRESS or None,
    )


async def relay_for(meeting_id: int, live_program: dict | None = None, muted: set[int] | None = None) -> Relay:
    async with _lock:
        relay = _relays.get(meeting_id)
        if relay is None:
            relay = _relays[meeting_id] = Relay(ice_config())
            relay.on_tier = functools.partial(_tier_moved, meeting_id)
            if live_program:
                apply_program(relay, live_program)
            for room_id in muted or ():
                _mute(relay, room_id, True)
        return relay


def _tier_moved(meeting_id: int, pid: str, tier: str, reason: str) -> None:
    """The relay's loop moved a room to another tier: the room is told (its page says what it receives and why)."""
    if pid.startswith("room-"):
        _spawn(_tell_tier(meeting_id, room_of(pid), tier, reason))


async def _tell_tier(meeting_id: int, room_id: int, tier: str, reason: str) -> None:
    try:
        await on_tier_moved(meeting_id, room_id, tier, reason)
    except Exception:  # the room misses one notice; the next move tells it again
        log.warning("meeting %s: telling room %s its tier failed", meeting_id, room_id, exc_info=True)


async def _tell_room_its_tier(meeting_id: int, room_id: int, tier: str, reason: str) -> None:
    from confserver.signaling import tiernotice

    await tiernotice.tell_room(meeting_id, room_id, tier, reason)


# Replaceable (tests observe it): told on the relay's loop when a room's tier loop moves it.
on_tier_moved: Callable[[int, int, str, str], Awaitable[None]] = _tell_room_its_tier


def apply_program(relay: Relay, program: dict):
    """Video slot 0 carries the source (the chair in lecture mode), and the source room sees the chair;
    audio 0 the chair, audio 1 the source."""
    chair = program.get("chair_room")
    source = program.get("source_room") if program.get("mode") != "lecture" else None
    video = source or chair
    relay.set_program(
        peer_id(video) if video else None,
        [peer_id(chair) if chair else None, peer_id(source) if source else None],
        peer_id(chair) if chair else None,
    )


def _mute(relay: Relay, room_id: int, muted: bool):
    try:
        relay.set_muted(peer_id(room_id), muted)
    except Exception:  # the room has no media peer yet: applied when it opens
        pass


async def on_program(meeting_id: int, program: dict):
    relay = _relays.get(meeting_id)
    if relay is not None:
        apply_program(relay, program)


async def on_mute(meeting_id: int, room_id: int, muted: bool):
    relay = _relays.get(meeting_id)
    if relay is not None:
        _mute(relay, room_id, muted)


async def open_peer(meeting_id: int, room_id: int, offer_sdp: str, program: dict, muted: set[int]) -> str:
    """A room's (or the chair's) offer; a peer it already had is replaced."""
    relay = await relay_for(meeting_id, program, muted)
    pid = peer_id(room_id)
    if pid in relay.stats():
        await relay.close_peer(pid)
    answer = await relay.open_peer(pid, offer_sdp)
    apply_program(relay, program)
    if room_id in muted:
        _mute(relay, room_id, True)
    return answer


async def add_ice_candidate(meeting_id: int, room_id: int, candidate: dict | None):
    relay = _relays.get(meeting_id)
    if relay is not None:
        await relay.add_ice_candidate(peer_id(room_id), candidate)


async def close_peer(meeting_id: int, room_id: int):
    relay = _relays.get(meeting_id)
    if relay is not None and peer_id(room_id) in relay.stats():
        await relay.close_peer(peer_id(room_id))


async def set_multiview(meeting_id: int, chair_room: int, room_ids: list[int]) -> list[int | None]:
    """Route the chair console's extra video slots (1..n) to a page of rooms; returns what each slot shows."""
    relay = _relays.get(meeting_id)
    if relay is None:
        return []
    shown: list[int | None] = []
    chair = peer_id(chair_room)
    for slot in range(1, MULTIVIEW_MAX + 1):
        room = room_ids[slot - 1] if slot - 1 < len(room_ids) else None
        try:
            relay.set_route(chair, "video", slot, peer_id(room) if room else None)
        except Exception:
            break  # the console offered fewer slots
        shown.append(room)
    return shown


async def quality(meeting_id: int) -> dict[int, dict]:
    """Per room: connected, bitrate in/out, loss, RTT, last keyframe (for the host console)."""
    relay = _relays.get(meeting_id)
    if relay is None:
        return {}
    out = {}
    for pid, s in relay.stats().items():
        out[room_of(pid)] = {
            "connected": s.connected,
            "state": s.state,
            "kbps_in": round(s.bitrate_in_kbps),
            "kbps_out": round(s.bitrate_out_kbps),
            "loss_in_pct": round(s.loss_in_pct, 1),
            "loss_out_pct": round(s.loss_out_pct, 1),
            "rtt_ms": round(s.rtt_ms) if s.rtt_ms is not None else None,
            "last_keyframe_s": round(time.time() - s.last_keyframe_in, 1) if s.last_keyframe_in else None,
            "muted": s.muted,
            # the downlink's feedback (media/feedback.py), for a tier loop and the console
            "remb_bps": s.remb_bps,
            "loss_pct": s.loss_pct,
            "jitter_ms": s.jitter_ms,
            "nack_per_s": s.nack_per_s,
            # what of the program's video it is sent (media/tiers.py) and why
            "tier": s.tier,
            "tier_reason": s.tier_reason,
            "tier_pinned": s.tier_pinned,
            "program_video": s.program_video,  # a drain's make-before-break waits for it (media/handoff.py)
        }
    return out


async def pin_tier(meeting_id: int, room_id: int, tier: str | None) -> str:
    relay = _relays.get(meeting_id)
    if relay is None:
        raise NotFound("media.unknown_peer", "Phòng chưa có kết nối hình, tiếng.")
    return relay.pin_tier(peer_id(room_id), tier)


async def end_meeting(meeting_id: int):
    """Stop the meeting's recorder (its segment closed), close its relay, then have its recording
    finalised (mixed and joined) in the background if it was recorded here."""
    await _end(meeting_id)
    if meeting_id in _recorded:
        _recorded.discard(meeting_id)
        after_meeting(meeting_id)


async def _end(meeting_id: int):
    async with _meeting_lock(meeting_id):
        await _stop_recording(meeting_id)
        relay = _relays.pop(meeting_id, None)
        if relay is not None:
            await relay.close()
    _meeting_locks.pop(meeting_id, None)


async def close_all():
    """The process stops: close every recording and relay (the meetings go on elsewhere: nothing is finalised)."""
    for mid in list(_relays):
        await _end(mid)
    _recorded.clear()
    await asyncio.gather(*list(_background), return_exceptions=True)


# --- recording ------------------------------------------------------------------------------------------

_recorders: dict = {}  # meeting id -> confserver.recording.segments.Recorder
_recorded: set[int] = set()  # meetings recorded by this process, finalised when they end here
_meeting_locks: dict[int, asyncio.Lock] = {}  # one start, stop or end of a meeting's recording at a time
_background: set[asyncio.Task] = set()
_recovered = False  # recover_segments ran in this process
_recovery: asyncio.Future | None = None


async def _tell_recording_failed(meeting_id: int, code: str, detail: str) -> None:
    log.error("recording of meeting %s stopped by itself: %s (%s)", meeting_id, code, detail)
    if importlib.util.find_spec("confserver.recording.live") is None:
        return
    from confserver.recording import live

    await live.recording_failed(meeting_id, code, detail)


def _database_sink(meeting_id: int):
    from confserver.recording.store import DatabaseSink

    return DatabaseSink(meeting_id)


def _finalize(meeting_id: int) -> None:
    if importlib.util.find_spec("confserver.recording.finalize") is None:
        return
    from confserver.recording import finalize

    finalize.start_in_background(meeting_id)


# Replaceable (tests observe and vary them): where a meeting's segments go (a segments.SegmentSink); told on
# the relay's loop when a recorder stops by itself (queue_full, disk_error, error); called when a meeting
# recorded here ends.
sink_for: Callable[[int], object] = _database_sink
on_recording_failed: Callable[[int, str, str], Awaitable[None]] = _tell_recording_failed
after_meeting: Callable[[int], None] = _finalize


def _meeting_lock(meeting_id: int) -> asyncio.Lock:
    return _meeting_locks.setdefault(meeting_id, asyncio.Lock())


async def start_recording(meeting_id: int, program: dict):
    """Record the meeting's program from now; nothing if it already records. Creates the meeting's
    relay if it has none yet (it went live before any room connected)."""
    await _recover_once()
    async with _meeting_lock(meeting_id):
        relay = await relay_for(meeting_id, program)
        apply_program(relay, program)
        if meeting_id in _recorders:
            return
        from confserver.recording.segments import Recorder

        loop = asyncio.get_running_loop()
        recorder = None

        def failed(code: str, detail: str) -> None:  # on one of the recorder's threads
            loop.call_soon_threadsafe(_recording_failed, meeting_id, recorder, code, detail)

        recorder = Recorder(sink_for(meeting_id), failed, name=f"recorder-{meeting_id}")
        _recorders[meeting_id] = recorder
        _recorded.add(meeting_id)
        relay.start_recording(recorder.put, settings.RECORDING_KEYFRAME_S)
        log.info("meeting %s: recording", meeting_id)


async def stop_recording(meeting_id: int):
    """Stop recording the meeting: the segment being written is closed properly. Idempotent."""
    async with _meeting_lock(meeting_id):
        await _stop_recording(meeting_id)


async def _stop_recording(meeting_id: int):
    recorder = _recorders.pop(meeting_id, None)
    relay = _relays.get(meeting_id)
    if relay is not None:
        relay.stop_recording()
    if recorder is not None:
        await _close_recorder(meeting_id, recorder)


async def _close_recorder(meeting_id: int, recorder) -> None:
    # stop() joins the writer thread (it finishes the queue and closes the segment): not on the loop
    if not await asyncio.to_thread(recorder.stop):
        log.error("meeting %s: the recorder did not finish within its stop timeout", meeting_id)


def _recording_failed(meeting_id: int, recorder, code: str, detail: str) -> None:
    """On the loop: a recorder stopped by itself. The meeting goes on; its relay stops feeding it."""
    if _recorders.get(meeting_id) is recorder:
        del _recorders[meeting_id]
        relay = _relays.get(meeting_id)
        if relay is not None:
            relay.stop_recording()
    _spawn(_close_recorder(meeting_id, recorder))
    _spawn(on_recording_failed(meeting_id, code, detail))


def _spawn(coro) -> None:
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


def recover_segments(channel: str | None = None) -> list:
    """Remux and mark the segments a killed process left `writing` (confserver.recording.store.recover): all of
    them, or in the relay process serving `channel`, those of the meetings MEDIA_RELAY_CHANNELS gives it (another
    relay process may be writing the others right now). Synchronous (database and disk); logs, never raises."""
    global _recovered
    from django.db import connections

    from confserver.recording import store
    from confserver.recording.models import Segment, SegmentState

    rows = []
    try:
        if channel is None or not settings.MEDIA_RELAY_CHANNELS:
            if channel is not None:
                log.warning(
                    "relay %s: MEDIA_RELAY_CHANNELS is not set here; recovering every meeting's segments", channel
                )
            rows = store.recover()
        else:
            from .remote import relay_channel

            meetings = (
                Segment.objects.filter(state=SegmentState.WRITING)
                .values_list("meeting_id", flat=True)
                .distinct()
                .order_by("meeting_id")
            )
            rows = [row for mid in list(meetings) if relay_channel(mid) == channel for row in store.recover(mid)]
    except Exception:
        log.exception("recovering unfinished recording segments failed")
    finally:
        _recovered = True  # once per process, even when it failed: recordings still start
        connections.close_all()  # this thread's
    if rows:
        log.warning("recovered %d unfinished recording segment(s): %s", len(rows), ", ".join(map(str, rows)))
    return rows


async def _recover_once():
    """The embedded default: once per process, before its first recording starts, recover what a killed
    process left (a relay process does it when it starts). A recording waits for it: recovery must not
    take a segment being written for one left over."""
    global _recovery
    if _recovered:
        return
    if _recovery is None or _recovery.get_loop() is not asyncio.get_running_loop():
        _recovery = asyncio.ensure_future(asyncio.to_thread(recover_segments))
    await asyncio.shield(_recovery)

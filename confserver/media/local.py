"""Relays in this process: one Relay per meeting.

The program decided by meeting control (lecture, floor, broadcast) and the
mutes become routes in the relay; SDP offers and ICE candidates become peers.
The embedded default calls this directly; in production a relay process
(`manage.py run_relay`) runs it and service.py reaches it over the channel layer.
"""
import asyncio
import logging
import time

from django.conf import settings

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
            if live_program:
                apply_program(relay, live_program)
            for room_id in muted or ():
                _mute(relay, room_id, True)
        return relay


def apply_program(relay: Relay, program: dict):
    """Video slot 0 carries the source (the chair in lecture mode); audio 0 the chair, audio 1 the source."""
    chair = program.get("chair_room")
    source = program.get("source_room") if program.get("mode") != "lecture" else None
    video = source or chair
    relay.set_program(peer_id(video) if video else None,
                      [peer_id(chair) if chair else None, peer_id(source) if source else None])


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
            "connected": s.connected, "state": s.state, "kbps_in": round(s.bitrate_in_kbps), "kbps_out": round(s.bitrate_out_kbps),
            "loss_in_pct": round(s.loss_in_pct, 1), "loss_out_pct": round(s.loss_out_pct, 1),
            "rtt_ms": round(s.rtt_ms) if s.rtt_ms is not None else None,
            "last_keyframe_s": round(time.time() - s.last_keyframe_in, 1) if s.last_keyframe_in else None,
            "muted": s.muted,
        }
    return out


async def end_meeting(meeting_id: int):
    relay = _relays.pop(meeting_id, None)
    if relay is not None:
        await relay.close()


async def close_all():
    for mid in list(_relays):
        await end_meeting(mid)

"""The meeting's media as the signaling layer sees it: the same calls whether the
relay runs in this process (embedded default) or in relay processes reached over
the channel layer (MEDIA_RELAY_CHANNELS set; see `manage.py run_relay`).

A meeting's media lives on one relay, chosen by meeting id, so every room of a
meeting meets the others whatever daphne worker its socket reached.
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def _backend():
    if settings.MEDIA_RELAY_CHANNELS:
        from . import remote

        return remote
    from . import local

    return local


def preload():
    """Import the media backend now (the in-process relay pulls in aiortc and PyAV: a few hundred
    ms that would otherwise stall the event loop the first time a meeting needs it)."""
    _backend()


async def open_peer(meeting_id: int, room_id: int, offer_sdp: str, program: dict, muted: set[int]) -> str:
    return await _backend().open_peer(meeting_id, room_id, offer_sdp, program, set(muted))


async def add_ice_candidate(meeting_id: int, room_id: int, candidate: dict | None):
    await _backend().add_ice_candidate(meeting_id, room_id, candidate)


async def close_peer(meeting_id: int, room_id: int):
    await _backend().close_peer(meeting_id, room_id)


async def set_multiview(meeting_id: int, chair_room: int, room_ids: list[int]) -> list[int | None]:
    return await _backend().set_multiview(meeting_id, chair_room, list(room_ids))


async def quality(meeting_id: int) -> dict[int, dict]:
    return await _backend().quality(meeting_id)


async def end_meeting(meeting_id: int):
    await _backend().end_meeting(meeting_id)


async def on_program(meeting_id: int, program: dict):
    await _backend().on_program(meeting_id, program)


async def pin_tier(meeting_id: int, room_id: int, tier: str | None) -> str:
    """Pin a room to a tier (media/tiers.py), None to let its loop decide; returns its tier now."""
    return await _backend().pin_tier(meeting_id, room_id, tier)


async def on_mute(meeting_id: int, room_id: int, muted: bool):
    await _backend().on_mute(meeting_id, room_id, muted)


async def start_recording(meeting_id: int, program: dict) -> None:
    """Record the meeting's program (idempotent); its relay is created if it has none yet. A recorder that
    stops by itself (queue_full, disk_error) is reported to confserver.recording.live.recording_failed."""
    await _backend().start_recording(meeting_id, program)


async def stop_recording(meeting_id: int) -> None:
    """Stop recording the meeting; returns once its last segment is closed (idempotent)."""
    await _backend().stop_recording(meeting_id)


def browser_ice_servers(username: str) -> list[dict]:
    """ICE servers for a browser: TURN with time-limited credentials (the TURN REST scheme) when configured."""
    if not settings.MEDIA_TURN_URLS:
        return []
    expiry = int(time.time()) + settings.MEDIA_TURN_TTL_S
    user = f"{expiry}:{username}"
    secret = settings.MEDIA_TURN_SECRET.encode()
    credential = base64.b64encode(hmac.new(secret, user.encode(), hashlib.sha1).digest()).decode()
    return [{"urls": list(settings.MEDIA_TURN_URLS), "username": user, "credential": credential}]

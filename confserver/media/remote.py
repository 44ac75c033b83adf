"""Calls to relay processes over the channel layer (the client side of `manage.py run_relay`).

Each call is a message {"type": "relay.call", "op", "args", "call", "reply_to"} on the
relay's channel; the relay answers on this process's reply channel. One reply
channel and one reader task per process; calls time out with a coded error.
"""

import asyncio
import itertools
import logging
import zlib

from channels.layers import get_channel_layer
from django.conf import settings

from confserver.errors import DomainError

from . import steer

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 15.0
OPS = (
    "open_peer",
    "add_ice_candidate",
    "close_peer",
    "set_multiview",
    "quality",
    "end_meeting",
    "on_program",
    "on_mute",
    "pin_tier",
    "start_recording",
    "stop_recording",
    "open_link",
    "close_link",
    "link_rooms",
    "link_tier",
    "dial_link",
    "link_stats",
)


class RelayUnavailable(DomainError):
    status = 503


class _Client:
    def __init__(self):
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.pending: dict[int, asyncio.Future] = {}
        self.ids = itertools.count(1)
        self.reader: asyncio.Task | None = None
        self.loop = None

    async def ensure(self):
        if self.reader is None or self.reader.done():
            self.channel = await self.layer.new_channel("relayreply.")
            self.reader = asyncio.ensure_future(self._read())
            self.loop = asyncio.get_running_loop()

    async def _read(self):
        while True:
            msg = await self.layer.receive(self.channel)
            fut = self.pending.pop(msg.get("call"), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def call(self, channel: str, op: str, args: dict, *, wait=True):
        await self.ensure()
        call = next(self.ids)
        message = {
            "type": "relay.call",
            "op": op,
            "args": args,
            "call": call,
            "reply_to": self.channel if wait else None,
        }
        if not wait:
            await self.layer.send(channel, message)
            return None
        fut = asyncio.get_running_loop().create_future()
        self.pending[call] = fut
        await self.layer.send(channel, message)
        try:
            reply = await asyncio.wait_for(fut, CALL_TIMEOUT_S)
        except TimeoutError:
            raise RelayUnavailable("relay_unavailable", "Máy chủ truyền hình không phản hồi; thử lại sau.") from None
        finally:  # also when the caller gives up first (ops_api's link_stats cut): no pending call left behind
            self.pending.pop(call, None)
        if "error" in reply:
            code, message_text = reply["error"]
            raise DomainError(code, message_text)
        return reply.get("result")


_clients: dict[int, _Client] = {}


def _client() -> _Client:
    loop = asyncio.get_running_loop()
    c = _clients.get(id(loop))
    if c is None:
        c = _clients[id(loop)] = _Client()
    return c


def relay_channel(meeting_id: int) -> str:
    """The relay process that carries a meeting (stable: a meeting never moves while it runs)."""
    channels = settings.MEDIA_RELAY_CHANNELS
    return channels[zlib.crc32(str(meeting_id).encode()) % len(channels)]


async def _call(op, meeting_id, wait=True, **args):
    return await _client().call(relay_channel(meeting_id), op, {"meeting_id": meeting_id, **args}, wait=wait)


# MEDIA_CASCADE (issue 11, media/steer.py): a room's calls go to the relay its meeting's plan names, the meeting's
# calls to its plan's root (or to every relay of the plan), each carrying the plan's epoch; no plan: as above.


async def _room_call(op, meeting_id, room_id, wait=True, place=False, **args):
    if steer.enabled():
        got = await steer.room(meeting_id, room_id, place=place)
        if got is not None:
            channel, epoch = got
            return await _client().call(
                channel, op, {"meeting_id": meeting_id, "room_id": room_id, "epoch": epoch, **args}, wait=wait
            )
    return await _call(op, meeting_id, wait=wait, room_id=room_id, **args)


async def _meeting_call(op, meeting_id, wait=True, every=False, **args):
    """To the plan's root, or (`every`) to each relay of the plan, the root's answer returned."""
    got = await steer.meeting(meeting_id) if steer.enabled() else None
    if got is None:
        return await _call(op, meeting_id, wait=wait, **args)
    relays, root, epoch = got
    message = {"meeting_id": meeting_id, "epoch": epoch, **args}
    if every:
        for relay in relays:
            if relay != root:
                await _client().call(relay, op, message, wait=False)
    return await _client().call(root, op, message, wait=wait)


async def open_peer(meeting_id, room_id, offer_sdp, program, muted):
    return await _room_call(
        "open_peer", meeting_id, room_id, place=True, offer_sdp=offer_sdp, program=program, muted=sorted(muted)
    )


async def add_ice_candidate(meeting_id, room_id, candidate):
    await _room_call("add_ice_candidate", meeting_id, room_id, wait=False, candidate=candidate)


async def close_peer(meeting_id, room_id):
    await _room_call("close_peer", meeting_id, room_id, wait=False)


async def set_multiview(meeting_id, chair_room, room_ids):
    return await _meeting_call("set_multiview", meeting_id, chair_room=chair_room, room_ids=room_ids)


async def quality(meeting_id):
    """Every room's media quality: from each relay of the meeting's plan (its rooms sit on the root and the leaves),
    a room found on two (moving) as the one where it is connected; relays that do not answer are left out."""
    got = await steer.meeting(meeting_id) if steer.enabled() else None
    if got is None:
        rooms = await _meeting_call("quality", meeting_id)
        return {int(k): v for k, v in (rooms or {}).items()}
    relays, root, epoch = got
    replies = await asyncio.gather(
        *(_client().call(relay, "quality", {"meeting_id": meeting_id, "epoch": epoch}) for relay in relays),
        return_exceptions=True,
    )
    if all(isinstance(reply, BaseException) for reply in replies):
        raise replies[relays.index(root)]
    out: dict[int, dict] = {}
    for reply in replies:
        if isinstance(reply, BaseException):
            continue
        for room, q in (reply or {}).items():
            if int(room) not in out or (q.get("connected") and not out[int(room)].get("connected")):
                out[int(room)] = q
    return out


async def end_meeting(meeting_id):
    await _meeting_call("end_meeting", meeting_id, wait=False, every=True)
    if steer.enabled():
        await steer.ended(meeting_id)


async def on_program(meeting_id, program):
    await _meeting_call("on_program", meeting_id, wait=False, every=True, program=program)


async def on_mute(meeting_id, room_id, muted):
    await _meeting_call("on_mute", meeting_id, wait=False, every=True, room_id=room_id, muted=muted)


async def pin_tier(meeting_id, room_id, tier):
    return await _meeting_call("pin_tier", meeting_id, room_id=room_id, tier=tier)


async def start_recording(meeting_id, program):
    await _meeting_call("start_recording", meeting_id, program=program)


async def stop_recording(meeting_id):
    # waits: the caller records "stopped" once the relay process closed the segment (well within CALL_TIMEOUT_S)
    await _meeting_call("stop_recording", meeting_id)

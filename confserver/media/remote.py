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

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 15.0
OPS = ("open_peer", "add_ice_candidate", "close_peer", "set_multiview", "quality", "end_meeting", "on_program",
       "on_mute", "start_recording", "stop_recording")


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
        message = {"type": "relay.call", "op": op, "args": args, "call": call, "reply_to": self.channel if wait else None}
        if not wait:
            await self.layer.send(channel, message)
            return None
        fut = asyncio.get_running_loop().create_future()
        self.pending[call] = fut
        await self.layer.send(channel, message)
        try:
            reply = await asyncio.wait_for(fut, CALL_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.pending.pop(call, None)
            raise RelayUnavailable("relay_unavailable", "Máy chủ truyền hình không phản hồi; thử lại sau.") from None
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


async def open_peer(meeting_id, room_id, offer_sdp, program, muted):
    return await _call("open_peer", meeting_id, room_id=room_id, offer_sdp=offer_sdp, program=program,
                       muted=sorted(muted))


async def add_ice_candidate(meeting_id, room_id, candidate):
    await _call("add_ice_candidate", meeting_id, wait=False, room_id=room_id, candidate=candidate)


async def close_peer(meeting_id, room_id):
    await _call("close_peer", meeting_id, wait=False, room_id=room_id)


async def set_multiview(meeting_id, chair_room, room_ids):
    return await _call("set_multiview", meeting_id, chair_room=chair_room, room_ids=room_ids)


async def quality(meeting_id):
    rooms = await _call("quality", meeting_id)
    return {int(k): v for k, v in (rooms or {}).items()}


async def end_meeting(meeting_id):
    await _call("end_meeting", meeting_id, wait=False)


async def on_program(meeting_id, program):
    await _call("on_program", meeting_id, wait=False, program=program)


async def on_mute(meeting_id, room_id, muted):
    await _call("on_mute", meeting_id, wait=False, room_id=room_id, muted=muted)


async def start_recording(meeting_id, program):
    await _call("start_recording", meeting_id, program=program)


async def stop_recording(meeting_id):
    # waits: the caller records "stopped" once the relay process closed the segment (well within CALL_TIMEOUT_S)
    await _call("stop_recording", meeting_id)

"""A small asyncio client of the meeting protocol over a real WebSocket (aiohttp), for tests and benches."""

import asyncio
import itertools
import json
import time

import aiohttp

from confserver.rooms.subprotocol import ws_subprotocols


class MeetingClient:
    def __init__(self, http: aiohttp.ClientSession, base: str, meeting_id: int, *, token=None, cookie=None):
        self.http, self.base, self.meeting_id = http, base, meeting_id
        self.token, self.cookie = token, cookie
        self.ids = itertools.count(1)
        self.pending: dict = {}
        self.events: asyncio.Queue = asyncio.Queue()
        self.ws = None
        self.reader = None
        self.stats: dict = {}
        self.may_join: asyncio.Queue = asyncio.Queue()  # `may_join` pushes to a waiting socket (docs/protocol.md)
        self.relay_moves: asyncio.Queue = asyncio.Queue()  # `relay_move`: reconnect the media (MEDIA_CASCADE)
        self.seq = self.acked = 0
        self.ack_every = 100
        self.ack_token = None

    async def connect(self):
        url = f"{self.base.replace('http', 'ws', 1)}/ws/meetings/{self.meeting_id}/"
        headers = {"Origin": self.base}
        if self.cookie:
            headers["Cookie"] = f"sessionid={self.cookie}"
        self.ws = await self.http.ws_connect(
            url, headers=headers, heartbeat=None, max_msg_size=0, protocols=ws_subprotocols(self.token)
        )
        self.reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            at = time.perf_counter()
            msg = json.loads(frame.data)
            fut = self.pending.pop(msg.get("id"), None) if msg["type"] in ("ok", "error") else None
            if fut is not None and not fut.done():
                data = msg.get("data") or {}
                if "max_unacked" in data:  # the join reply
                    self.seq = self.acked = data["seq"]
                    self.ack_every = max(1, data["max_unacked"] // 4)
                    self.ack_token = data["ack"]
                fut.set_result(msg)
            elif msg.get("id") == "ack" and msg["type"] == "ok":
                self.ack_token = msg["data"]["ack"]
            elif msg["type"] == "event":
                self.events.put_nowait((at, msg))
                self.seq = msg["seq"]
                if self.seq - self.acked >= self.ack_every:  # acknowledge, as docs/protocol.md asks
                    self.acked = self.seq
                    ping = {"type": "ping", "id": "ack", "ack": self.ack_token}
                    asyncio.ensure_future(self.ws.send_str(json.dumps(ping)))
            elif msg["type"] == "stats":
                self.stats = msg["rooms"]
            elif msg["type"] == "may_join":
                self.may_join.put_nowait((at, msg))
            elif msg["type"] == "relay_move":
                self.relay_moves.put_nowait((at, msg))

    async def request(self, type, timeout=10, **fields):
        if self.ws.closed:  # say why, not just "cannot write to closing transport"
            raise ConnectionError(f"{type}: the server closed this socket (code {self.ws.close_code})")
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        await self.ws.send_str(json.dumps({"type": type, "id": rid, **fields}))
        return await asyncio.wait_for(fut, timeout)

    async def wait_event(self, name, timeout=10, **match):
        end = time.monotonic() + timeout
        while True:
            at, msg = await asyncio.wait_for(self.events.get(), max(0.01, end - time.monotonic()))
            if msg["event"] == name and all(msg.get(k) == v for k, v in match.items()):
                return at, msg

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()

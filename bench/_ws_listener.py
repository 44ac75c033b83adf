"""A lean WebSocket client (RFC 6455, text frames only) for fan-out measurements.

Thousands of aiohttp clients in one process cost more CPU than the servers they
measure (a reader task, a frame parser and a JSON decode per message), and on a
small machine that CPU is taken from the daphne workers. A Listener is an
asyncio Protocol: it notes the arrival time of each frame as its bytes come in,
keeps the raw payload, and decodes JSON only when asked.
"""

import asyncio
import base64
import json
import os
import struct
import time
from urllib.parse import urlsplit

from confserver.rooms.subprotocol import ws_subprotocols


class Listener(asyncio.Protocol):
    def __init__(self, host: str, path: str, origin: str, token: str | None = None):
        self.host, self.path, self.origin = host, path, origin
        self.protocols = ", ".join(ws_subprotocols(token))
        self.transport = None
        self.buf = b""
        self.open = asyncio.get_running_loop().create_future()
        self.inbox: list[tuple[float, bytes]] = []  # (arrival, payload) of every text frame
        self.waiter: asyncio.Future | None = None
        self.closed = False

    # ---- protocol --------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {self.origin}\r\nSec-WebSocket-Protocol: {self.protocols}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data):
        at = time.perf_counter()
        self.buf += data
        if not self.open.done():
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.open.set_exception(ConnectionError(head.split(b"\r\n", 1)[0].decode()))
                return
            self.buf = rest
            self.open.set_result(None)
        buf, pos = self.buf, 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < head + n:
                break
            opcode = b0 & 0x0F
            if opcode == 1:
                self.inbox.append((at, buf[pos + head : pos + head + n]))
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)
            elif opcode == 9:  # daphne pings every 20 s and drops a socket that does not answer in 30
                self._frame(0x8A, buf[pos + head : pos + head + n])
            elif opcode == 8:
                self.closed = True
            pos += head + n
        self.buf = buf[pos:]

    def connection_lost(self, exc):
        self.closed = True
        if not self.open.done():
            self.open.set_exception(exc or ConnectionError("closed during the handshake"))
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # ---- use ---------------------------------------------------------------

    def send_json(self, obj):
        self._frame(0x81, json.dumps(obj).encode())

    def _frame(self, first: int, payload: bytes):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([first]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    async def reply(self, rid: int, timeout: float = 30) -> dict:
        """The reply to request `rid` (events before it stay in the inbox)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        seen = 0
        while True:
            for _, payload in self.inbox[seen:]:
                msg = json.loads(payload)
                if msg.get("id") == rid and msg["type"] in ("ok", "error"):
                    return msg
            seen = len(self.inbox)
            if self.closed:
                raise ConnectionError("closed before the reply")
            self.waiter = loop.create_future()
            await asyncio.wait_for(self.waiter, max(0.01, end - loop.time()))

    def events_since(self, index: int):
        """(arrival, decoded event) of the events that came in after inbox position `index`."""
        for at, payload in self.inbox[index:]:
            msg = json.loads(payload)
            if msg.get("type") == "event":
                yield at, msg

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def connect(base: str, meeting_id: int, token: str) -> Listener:
    url = urlsplit(base)
    loop = asyncio.get_running_loop()
    _, listener = await loop.create_connection(
        lambda: Listener(url.netloc, f"/ws/meetings/{meeting_id}/", base, token), url.hostname, url.port
    )
    await asyncio.wait_for(listener.open, 30)
    return listener

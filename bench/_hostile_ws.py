"""A raw WebSocket client for bench/hostile.py: it sends any frame (invalid UTF-8 in a text
frame, binary, floods of pre-built frames), sees every close code, and speaks enough of the
meeting protocol (join, requests, acknowledgements) to take part in a meeting."""

import asyncio
import base64
import itertools
import json
import os
import struct
import time

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One masked client frame."""
    mask = mask or os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    if n:
        key = (mask * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + payload


class Conn(asyncio.Protocol):
    """One client connection. Text frames land in `inbox` as (arrival, raw bytes) unless
    `keep` is False (floods only count them); `close_code`, `close_at` and `lost_at` say how it ended."""

    def __init__(self, host: str, path: str, headers: dict, keep: bool = True):
        self.host, self.path, self.headers, self.keep = host, path, headers, keep
        self.transport = None
        self.buf = bytearray()
        self.opened = asyncio.get_running_loop().create_future()
        self.inbox: list[tuple[float, bytes]] = []
        self.received = 0
        self.close_code: int | None = None
        self.close_at: float | None = None
        self.lost_at: float | None = None
        self.waiter: asyncio.Future | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.status = ""

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"{extra}\r\n"
            ).encode()
        )

    def data_received(self, data):
        at = time.perf_counter()
        self.buf += data
        if not self.opened.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = bytes(self.buf[: self.buf.find(b"\r\n")]).decode("latin-1")
            if not self.status.startswith("HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(self.status))
                return
            del self.buf[: end + 4]
            self.opened.set_result(None)
        buf, pos, n_buf = self.buf, 0, len(self.buf)
        while n_buf - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if n_buf - pos < 4:
                    break
                n, head = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if n_buf - pos < 10:
                    break
                n, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if n_buf - pos < head + n:
                break
            opcode = b0 & 0x0F
            if opcode == TEXT or opcode == BINARY:
                self.received += 1
                if self.keep:
                    self.inbox.append((at, bytes(buf[pos + head : pos + head + n])))
            elif opcode == CLOSE and self.close_code is None:
                body = bytes(buf[pos + head : pos + head + n])
                self.close_code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 1005
                self.close_at = at
                try:
                    self.transport.write(frame(CLOSE, body[:2]))
                except Exception:
                    pass
            elif opcode == PING:
                self.transport.write(frame(PONG, bytes(buf[pos + head : pos + head + n])))
            pos += head + n
        del buf[:pos]
        self._wake()

    def connection_lost(self, exc):
        self.lost_at = time.perf_counter()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        self._can_write.set()
        self._wake()

    def pause_writing(self):
        self._can_write.clear()

    def resume_writing(self):
        self._can_write.set()

    def _wake(self):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    @property
    def closed(self) -> bool:
        return self.lost_at is not None or self.close_code is not None

    def send(self, opcode: int, payload: bytes):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def send_json(self, obj):
        self.send(TEXT, json.dumps(obj).encode())

    async def write_raw(self, data: bytes):
        """Write pre-built frames, waiting while the kernel's buffer is full (a flood)."""
        await self._can_write.wait()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def next_text(self, since: int, timeout: float) -> int:
        """Wait until the inbox holds more than `since` frames (or the connection ends)."""
        end = time.monotonic() + timeout
        while len(self.inbox) <= since and not self.closed:
            self.waiter = asyncio.get_running_loop().create_future()
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            await asyncio.wait_for(self.waiter, left)
        return len(self.inbox)

    def abort(self):
        if self.transport is not None:
            self.transport.abort()

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.transport.write(frame(CLOSE, struct.pack("!H", 1000)))
            finally:
                self.transport.close()


async def open_conn(
    base: str, path: str, *, headers: dict | None = None, keep: bool = True, timeout: float = 15
) -> Conn:
    """Open a WebSocket to http://127.0.0.1:port + path; ConnectionError unless it opens."""
    hostport = base.split("//", 1)[1]
    host, port = hostport.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    h = {"Origin": base, **(headers or {})}
    _, conn = await asyncio.wait_for(
        loop.create_connection(lambda: Conn(hostport, path, h, keep), host, int(port)), timeout
    )
    try:
        await asyncio.wait_for(conn.opened, timeout)
    except BaseException:
        conn.abort()
        raise
    return conn


class Member:
    """A chair or room in a meeting over a Conn: requests with replies, events, acknowledgements."""

    def __init__(self, conn: Conn):
        self.conn = conn
        self.ids = itertools.count(1)
        self.read = 0
        self.seq = self.acked = 0
        self.ack_every = 100
        self.ack_token = None
        self.events: list[dict] = []

    def _take(self, raw: bytes):
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            raise ValueError("not a JSON object")
        if msg.get("type") == "event":
            self.events.append(msg)
            self.seq = msg.get("seq", self.seq)
            if self.ack_token and self.seq - self.acked >= self.ack_every:  # as docs/protocol.md asks
                self.acked = self.seq
                self.conn.send_json({"type": "ping", "id": "ack", "ack": self.ack_token})
            return None
        if msg.get("id") == "ack" and msg.get("type") == "ok":
            self.ack_token = msg["data"]["ack"]
            return None
        return msg

    async def request(self, type: str, timeout: float = 10, **fields) -> dict:
        rid = next(self.ids)
        self.conn.send_json({"type": type, "id": rid, **fields})
        end = time.monotonic() + timeout
        while True:
            while self.read < len(self.conn.inbox):
                raw = self.conn.inbox[self.read][1]
                self.read += 1
                msg = self._take(raw)
                if msg is not None and msg.get("id") == rid and msg.get("type") in ("ok", "error"):
                    if type == "join" and msg["type"] == "ok":
                        data = msg["data"]
                        self.seq = self.acked = data.get("seq", 0)
                        self.ack_every = max(1, data.get("max_unacked", 400) // 4)
                        self.ack_token = data.get("ack")
                    return msg
            if self.conn.closed:
                raise ConnectionError(f"closed ({self.conn.close_code}) before the reply to {type}")
            await self.conn.next_text(self.read, max(0.01, end - time.monotonic()))

    def drain(self):
        """Read (and acknowledge) what came in without waiting."""
        while self.read < len(self.conn.inbox):
            raw = self.conn.inbox[self.read][1]
            self.read += 1
            self._take(raw)

    async def next_reply(self, timeout: float) -> dict:
        """The next frame that is neither an event nor an acknowledgement's reply (a frame that is
        not JSON comes back as {"type": None, "raw": ...}); ConnectionError when the socket ends first."""
        end = time.monotonic() + timeout
        while True:
            while self.read < len(self.conn.inbox):
                raw = self.conn.inbox[self.read][1]
                self.read += 1
                try:
                    msg = self._take(raw)
                except ValueError:
                    return {"type": None, "raw": raw[:200]}
                if msg is not None:
                    return msg
            if self.conn.closed:
                raise ConnectionError(f"closed ({self.conn.close_code})")
            await self.conn.next_text(self.read, max(0.01, end - time.monotonic()))

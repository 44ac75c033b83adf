"""The edge's WebSocket guards against a live daphne (issue 9, findings 5 and 12).

Floods are closed with 4029 as they arrive, whatever the application is doing; a client at the
application's own rate is never touched; messages are bounded in size; sockets per address are capped.
"""

import asyncio
import base64
import json
import os
import secrets
import time

import aiohttp
import pytest

from confserver.testing import live
from tests.test_edge_http import PeakRss

CAP = 5  # WS_MAX_PER_ADDRESS of the capped server


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Two workers on one database: defaults, and one with a per-address cap of CAP."""
    logs = tmp_path_factory.mktemp("daphne")
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # Sockets that have not joined stay open for the test (the consumer's own join timeout
        # and per-room cap are not under test here).
        env = live.server_env(
            db_url,
            ports,
            SECRET_KEY=secrets.token_urlsafe(50),
            SIGNALING_JOIN_TIMEOUT_S=120,
            SIGNALING_MAX_SOCKETS_PER_ROOM=100,
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", "1", "--structure", "2025"))
        capped = dict(env, WS_MAX_PER_ADDRESS=str(CAP))
        with live.daphne(env, ports[0], logs / "w1.log") as w1, live.daphne(capped, ports[1], logs / "w2.log") as w2:
            yield [(f"http://127.0.0.1:{p}", proc.pid) for p, proc in zip(ports, (w1, w2))], seed


async def chair_socket(http: aiohttp.ClientSession, base: str, seed: dict) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(
        f"{base.replace('http', 'ws', 1)}/ws/meetings/{seed['meeting_id']}/",
        headers={"Origin": base, "Cookie": f"sessionid={seed['host_cookie']}"},
        protocols=("confserver",),
        heartbeat=None,
        max_msg_size=0,
        autoclose=False,
    )


class Reader:
    """Reads a socket until it closes: the replies, and when and with which code the server closed it."""

    def __init__(self, ws):
        self.ws, self.replies, self.closed_at, self.code = ws, [], None, None
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.replies.append(msg.data)  # parsed by whoever needs them: this client must keep up
                continue
            self.closed_at = time.monotonic()
            # The code the server sent (aiohttp's own close reply may still fail on a flooded socket).
            self.code = msg.data if msg.type == aiohttp.WSMsgType.CLOSE else 1006
            break
        try:
            await self.ws.close()
        except Exception:
            pass

    async def closed(self, timeout):
        await asyncio.wait_for(asyncio.shield(self.task), timeout)
        return self.code


async def send_until_closed(ws, reader: Reader, frame: str, seconds: float, per_second: float | None = None):
    """Send `frame` as fast as the socket takes it (or `per_second`) until closed or `seconds` pass."""
    start, n = time.monotonic(), 0
    while reader.closed_at is None and time.monotonic() - start < seconds:
        try:
            await ws.send_str(frame)
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            break
        n += 1
        if per_second:
            await asyncio.sleep(max(0.0, start + n / per_second - time.monotonic()))
        elif n % 20 == 0:
            await asyncio.sleep(0)  # let the readers run
    return start


async def raw_socket(base: str, seed: dict):
    """A WebSocket opened by hand on an asyncio stream: a flooding client that costs its own process little."""
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/meetings/{seed['meeting_id']}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: confserver\r\nOrigin: {base}\r\n"
            f"Cookie: sessionid={seed['host_cookie']}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return reader, writer


def text_frame(payload: bytes) -> bytes:
    """One masked client text frame (payload under 126 bytes)."""
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def frames_until_close(reader) -> tuple[int, float, int]:
    """Read server frames until its close frame: (close code, when, text frames before it); 1006 if none came."""
    buf, texts = b"", 0
    while True:
        try:
            data = await reader.read(65536)
        except ConnectionError:
            data = b""
        if not data:
            return 1006, time.monotonic(), texts
        buf += data
        while len(buf) >= 2:
            opcode, size, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if size >= 126 and len(buf) < (4 if size == 126 else 10):
                break  # the extended length is not all here yet
            if size == 126:
                size, at = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                size, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + size:
                break
            payload, buf = buf[at : at + size], buf[at + size :]
            if opcode == 8:
                return int.from_bytes(payload[:2], "big"), time.monotonic(), texts
            texts += opcode == 1


async def test_ping_flood_is_closed_at_once_and_memory_stays_bounded(servers):
    (first, _), seed = servers
    base, pid = first
    ping = text_frame(json.dumps({"type": "ping", "id": 1}).encode())
    sockets = [await raw_socket(base, seed) for _ in range(8)]
    for reader, writer in sockets:  # each consumer is up and answering
        writer.write(ping)
        assert await asyncio.wait_for(reader.read(65536), 10)  # its reply

    async def flood(reader, writer):
        closing = asyncio.ensure_future(frames_until_close(reader))
        start, batch = time.monotonic(), ping * 200
        while not closing.done() and time.monotonic() - start < 6:
            writer.write(batch)
            try:
                await asyncio.wait_for(writer.drain(), 0.2)
            except (TimeoutError, ConnectionError):
                pass
            await asyncio.sleep(0)
        code, at, _ = await asyncio.wait_for(closing, 10)
        writer.close()
        return code, round(at - start, 2)

    with PeakRss(pid) as mem:
        results = await asyncio.gather(*(flood(r, w) for r, w in sockets))
    codes, late = [c for c, _ in results], [t for _, t in results]
    print(f"flood closed after {late} s; worker grew {mem.growth:.0f} MB")
    assert codes == [4029] * 8
    assert max(late) < 2, f"closed after {late} s"
    assert mem.growth < 100, f"worker grew {mem.growth:.0f} MB"


async def test_a_client_at_the_applications_rate_is_left_alone(servers):
    ((base, _), _), seed = servers
    async with aiohttp.ClientSession() as http:
        ws = await chair_socket(http, base, seed)
        reader = Reader(ws)
        for i in range(40):  # the application's burst at once, then (once it has refilled) its rate
            await ws.send_str(json.dumps({"type": "ping", "id": i}))
        await asyncio.sleep(2.5)
        await send_until_closed(ws, reader, json.dumps({"type": "ping", "id": "steady"}), 3, per_second=15)
        await asyncio.sleep(0.5)
        assert reader.closed_at is None
        assert len(reader.replies) >= 40 + 40
        assert not [r for r in map(json.loads, reader.replies) if r.get("code") == "rate_limited"]
        await ws.close()


async def test_a_byte_flood_is_closed(servers):
    """Big frames at a few a second: each answered too_large by the application, so only the edge closes it."""
    ((base, _), _), seed = servers
    big = json.dumps({"type": "ping", "id": 1, "pad": "x" * 100_000})
    async with aiohttp.ClientSession() as http:
        ws = await chair_socket(http, base, seed)
        reader = Reader(ws)
        start = await send_until_closed(ws, reader, big, 6, per_second=8)
        assert await reader.closed(5) == 4029
        assert reader.closed_at - start < 3


async def test_an_oversized_message_closes_the_connection(servers):
    ((base, _), _), seed = servers
    async with aiohttp.ClientSession() as http:
        ws = await chair_socket(http, base, seed)
        reader = Reader(ws)
        await ws.send_str(json.dumps({"type": "ping", "id": 1, "pad": "x" * 300_000}))
        assert await reader.closed(5) == 1009  # message too big, before it is queued for the application


async def test_sockets_per_address_are_capped(servers):
    (_, (base, _)), seed = servers
    async with aiohttp.ClientSession() as http:
        held = [await chair_socket(http, base, seed) for _ in range(CAP)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await chair_socket(http, base, seed)
        assert refused.value.status == 429
        await held.pop().close()
        await asyncio.sleep(0.3)
        again = await chair_socket(http, base, seed)  # a closed socket frees its place
        for ws in [*held, again]:
            await ws.close()

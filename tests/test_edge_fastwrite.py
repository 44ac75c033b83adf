"""WebSocket frames sent at once (confserver/edge/fastwrite.py, WS_SEND_NOW): every frame arrives once, in order,
whole, and the close after them, when the client reads slowly (the kernel takes part of a write, the rest is
buffered and sent first) and when it reads at once; the same with the setting off (Twisted's buffered write).

A real daphne worker serving, through the edge, a bare ASGI application that sends a burst of numbered messages
of mixed sizes (some over the send-at-once size) and closes; a raw socket with a tiny receive buffer reads it.
"""

import base64
import contextlib
import os
import socket
import struct
import time
from pathlib import Path

import pytest

from confserver.testing import live

SIZES = (5, 150, 3000, 40_000, 200_000, 90, 1)  # 200,000: over fastwrite.SEND_NOW_MAX, Twisted's own write
COUNT = 210
CLOSE_CODE = 4000

if os.environ.get("EDGE_TEST_BURST"):  # imported by daphne to serve burst: through the edge
    import django

    django.setup()
    from confserver import edge

    edge.install()


def message(i: int) -> str:
    return f"{i:06d}:" + chr(ord("a") + i % 26) * SIZES[i % len(SIZES)]


async def burst(scope, receive, send):
    """Accept, send COUNT messages without waiting; close with CLOSE_CODE once the client says it has them all
    (closing at once would start autobahn's close handshake timeout while a slow client still reads)."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    for i in range(COUNT):
        await send({"type": "websocket.send", "text": message(i)})
    assert (await receive()).get("text") == "done"
    await send({"type": "websocket.close", "code": CLOSE_CODE})
    while (await receive())["type"] != "websocket.disconnect":
        pass


@contextlib.contextmanager
def daphne_burst(tmp: Path, send_now: bool):
    port = live.free_port()
    env = live.server_env(
        "sqlite:///" + str(tmp / "unused.sqlite3"),
        [port],
        EDGE_TEST_BURST="1",
        WS_SEND_NOW="1" if send_now else "0",
        WS_EXEMPT_LOOPBACK="1",
    )
    with live.daphne(env, port, tmp / f"daphne-{port}.log", app="tests.test_edge_fastwrite:burst"):
        yield port


def frames(s: socket.socket, slow_s: float):
    """(opcode, payload) of every frame until the server closes; `slow_s` seconds of 4 KB reads at first."""
    buf, end = b"", time.monotonic() + slow_s
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, buf = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    while True:
        while len(buf) >= 2:
            n, at = buf[1] & 0x7F, 2
            if n >= 126 and len(buf) < (4 if n == 126 else 10):
                break  # the extended length is not all here yet
            if n == 126:
                n, at = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                n, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < at + n:
                break
            yield buf[0] & 0x0F, buf[at : at + n]
            buf = buf[at + n :]
        slow = time.monotonic() < end
        try:
            piece = s.recv(4096 if slow else 1 << 20)
        except ConnectionResetError:  # autobahn's server aborts the connection once the close handshake is done
            return
        if not piece:
            return
        buf += piece
        if slow:
            time.sleep(0.002)


@pytest.mark.parametrize("send_now", [True, False], ids=["send_now", "twisted"])
@pytest.mark.parametrize("slow_s", [0.0, 1.5], ids=["reads_at_once", "reads_slowly"])
def test_every_frame_arrives_once_in_order_then_the_close(tmp_path, send_now, slow_s):
    with daphne_burst(tmp_path, send_now) as port:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            f"GET /burst HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n"
            f"\r\n".encode()
        )
        texts, close = [], None
        for opcode, payload in frames(s, slow_s):
            if opcode == 1:
                assert close is None, "a message after the close frame"
                texts.append(payload.decode())
                if len(texts) == COUNT:
                    s.sendall(b"\x81\x84" + b"\0\0\0\0" + b"done")  # masked with zeros
            elif opcode == 8:
                close = struct.unpack("!H", payload[:2])[0]
                s.sendall(b"\x88\x82" + b"\0\0\0\0" + payload[:2])  # the client's close (mask of zeros)
        s.close()
    assert len(texts) == COUNT, f"{len(texts)} of {COUNT} messages"
    for i, text in enumerate(texts):
        assert text == message(i), f"message {i} is {text[:12]!r}… ({len(text)} chars)"
    assert close == CLOSE_CODE

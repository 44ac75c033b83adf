"""Text frames sent in the call (confserver/edge/sender.py, the edge's own framing in edge/websocket.py): mixed
with the application's awaited sends, every message arrives once, in order, whole, and the close after them, when
the client reads slowly (partial writes, Twisted's buffer) and when it reads at once; a send after the close is
dropped as daphne drops it.

A real daphne worker serving, through the edge, a bare ASGI application that sends a burst of numbered messages of
mixed sizes (one-byte, 16-bit and 64-bit frame lengths), every other one through the synchronous sender.
"""

import asyncio
import base64
import contextlib
import os
import socket
import struct
from pathlib import Path

import pytest

from confserver.edge.sender import text_sender
from confserver.edge.websocket import frame_head
from confserver.testing import live
from tests.test_edge_fastwrite import COUNT, frames, message

CLOSE_CODE = 4000

if os.environ.get("EDGE_TEST_DIRECT"):  # imported by daphne to serve burst: through the edge
    import django

    django.setup()
    from confserver import edge

    edge.install()


async def burst(scope, receive, send):
    """Accept; send COUNT messages, the odd ones in the call; close once the client says it has them all; then
    one more message in the call (dropped: the connection is closing)."""
    if scope["type"] != "websocket":
        return
    direct = text_sender(send)
    assert direct is not None, "daphne's send, with the edge's protocol behind it"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    for i in range(COUNT):
        if i % 2:
            direct(message(i))
        else:
            await send({"type": "websocket.send", "text": message(i)})
    assert (await receive()).get("text") == "done"
    await send({"type": "websocket.close", "code": CLOSE_CODE})
    direct("after the close")
    while (await receive())["type"] != "websocket.disconnect":
        pass
    direct("after the disconnect")


@contextlib.contextmanager
def daphne_burst(tmp: Path):
    port = live.free_port()
    env = live.server_env(
        "sqlite:///" + str(tmp / "unused.sqlite3"), [port], EDGE_TEST_DIRECT="1", WS_EXEMPT_LOOPBACK="1"
    )
    log_path = tmp / f"daphne-{port}.log"
    with live.daphne(env, port, log_path, app="tests.test_edge_direct_send:burst"):
        yield port, log_path


@pytest.mark.parametrize("slow_s", [0.0, 1.5], ids=["reads_at_once", "reads_slowly"])
def test_direct_and_awaited_sends_arrive_once_in_order_then_the_close(tmp_path, slow_s):
    with daphne_burst(tmp_path) as (port, log_path):
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
                assert close is None, f"a message after the close frame: {payload[:20]!r}"
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
    assert b"Traceback" not in log_path.read_bytes(), log_path.read_text(errors="replace")[-2000:]


def test_frame_head_is_rfc6455s():
    assert frame_head(b"x" * 125) == b"\x81\x7d"
    assert frame_head(b"x" * 126) == b"\x81\x7e\x00\x7e"
    assert frame_head(b"x" * 0xFFFF) == b"\x81\x7e\xff\xff"
    assert frame_head(b"x" * 0x10000) == b"\x81\x7f" + (0x10000).to_bytes(8, "big")
    assert frame_head(b"", binary=True) == b"\x82\x00"


def test_no_sender_for_another_servers_send():
    async def send(message):
        pass

    assert text_sender(send) is None
    assert text_sender(asyncio.Queue().put) is None

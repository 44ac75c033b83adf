"""Response bodies paced by the client (the edge, confserver/edge/http.py): a slow reader of a big file costs the
worker a bounded amount of memory, whatever the file's size; daphne alone buffers all of it as fast as the disk reads.

A real daphne worker serving, through the edge, a bare ASGI application that streams a file 256 KB at a time as
recording/serve.py does (asyncio.to_thread reads); a raw socket with a tiny receive buffer reads it slowly.
"""

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from confserver.testing import live
from tests.test_edge_http import PeakRss

CHUNK = 256 * 1024
SIZE = 128 * 1024 * 1024
STALL_S = 1.0  # HTTP_RESPONSE_STALL_S of the worker that cuts stalled readers

if os.environ.get("EDGE_TEST_STREAM_FILE"):  # imported by daphne to serve file_streamer: through the edge
    import django

    django.setup()
    from confserver import edge

    edge.install()


async def file_streamer(scope, receive, send):
    """Stream EDGE_TEST_STREAM_FILE with more_body chunks, and stop when the client goes."""
    if scope["type"] != "http":
        return
    path = os.environ["EDGE_TEST_STREAM_FILE"]
    size = os.path.getsize(path)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())],
        }
    )
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge_stream")
    path = tmp / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        block = os.urandom(1024 * 1024)
        for i in range(SIZE // len(block)):
            piece = i.to_bytes(8, "big") + block[8:]  # every megabyte different
            digest.update(piece)
            f.write(piece)
    return path, digest.hexdigest()


@contextlib.contextmanager
def daphne_streaming(path: Path, **env):
    port = live.free_port()
    env = live.server_env(
        "sqlite:///" + str(path.parent / "unused.sqlite3"), [port], EDGE_TEST_STREAM_FILE=str(path), **env
    )
    with live.daphne(
        env, port, path.parent / f"daphne-{port}.log", app="tests.test_edge_backpressure:file_streamer"
    ) as proc:
        yield port, proc.pid


@pytest.fixture(scope="module")
def worker(big_file):
    path, digest = big_file
    with daphne_streaming(path) as (port, pid):  # HTTP_RESPONSE_STALL_S: the default (60 s)
        yield port, pid, digest


def slow_socket(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return s


def read_head(s: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_slowly(s: socket.socket, seconds: float, digest, got: int) -> int:
    """64 KB every 100 ms at most, for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        piece = s.recv(64 * 1024)
        assert piece, "closed early"
        digest.update(piece)
        got += len(piece)
        time.sleep(0.1)
    return got


def test_a_slow_reader_of_a_128mb_file_costs_the_worker_little_memory_and_gets_every_byte(worker):
    port, pid, expected = worker
    s = slow_socket(port)
    head, rest = read_head(s)
    assert head.startswith(b"HTTP/1.1 200") and f"content-length: {SIZE}".encode() in head.lower(), head
    digest = hashlib.sha256(rest)
    with PeakRss(pid) as mem:
        got = read_slowly(s, 4.0, digest, len(rest))
    assert got < SIZE // 4  # it was a slow reader
    assert mem.growth < 20, f"worker grew {mem.growth:.0f} MB while {got / 1e6:.1f} MB were read"
    while got < SIZE:  # then it reads fast: the stream goes on to the end
        piece = s.recv(1024 * 1024)
        assert piece, f"closed after {got} bytes"
        digest.update(piece)
        got += len(piece)
    s.close()
    assert got == SIZE and digest.hexdigest() == expected


def test_a_reader_that_goes_away_ends_the_stream(worker):
    port, pid, _ = worker
    with PeakRss(pid) as mem:
        s = slow_socket(port)
        read_head(s)
        read_slowly(s, 1.0, hashlib.sha256(), 0)
        s.close()  # the waiting send returns; the worker takes other requests and holds no file in memory
        time.sleep(1.0)
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, rest = read_head(s)
        got = len(rest)
        while got < SIZE:
            piece = s.recv(1024 * 1024)
            assert piece
            got += len(piece)
        s.close()
    assert head.startswith(b"HTTP/1.1 200") and got == SIZE
    assert mem.growth < 20, f"worker grew {mem.growth:.0f} MB"


def test_a_reader_that_takes_nothing_is_cut_after_the_stall_window(big_file):
    """A zero TCP window would otherwise hold the connection, the open file and the application's task for ever
    (Twisted has no idle timeout while it sends a response)."""
    with daphne_streaming(big_file[0], HTTP_RESPONSE_STALL_S=STALL_S) as (port, _):
        s = slow_socket(port)
        read_head(s)
        time.sleep(STALL_S * 3)  # reads nothing: the worker's buffer stays full
        got, end = 0, time.monotonic() + 20
        try:
            while time.monotonic() < end:
                piece = s.recv(1024 * 1024)
                if not piece:
                    break
                got += len(piece)
        except (ConnectionResetError, TimeoutError):
            pass
        s.close()
    assert got < 8 * 1024 * 1024, f"the stream went on after the stall: {got} bytes"

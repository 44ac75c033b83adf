"""The edge against a live daphne (issue 9, findings 3 and 12): bodies refused before they are read, stalls closed.

Raw sockets on loopback, so that what is sent and when is exactly what the test says.
"""

import json
import os
import secrets
import socket
import threading
import time

import pytest

from confserver.testing import live

TIMEOUT_S = 2  # HTTP_REQUEST_TIMEOUT_S of the server under test

if os.environ.get("EDGE_TEST_BODY_APP"):  # imported by daphne to serve body_counter: through the edge
    import django

    django.setup()
    from confserver import edge

    edge.install()


async def body_counter(scope, receive, send):
    """A bare ASGI application that reads a request's body and answers its size."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    logs = tmp_path_factory.mktemp("daphne")
    port = live.free_port()
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, [port], SECRET_KEY=secrets.token_urlsafe(50), HTTP_REQUEST_TIMEOUT_S=TIMEOUT_S)
        live.manage(env, "migrate", "--no-input", "-v0")
        with live.daphne(env, port, logs / "daphne.log") as proc:
            yield port, proc.pid


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakRss:
    """The highest RSS of a process while the block runs, sampled every 20 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self.base = self.peak = rss_mb(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))

    @property
    def growth(self):
        return self.peak - self.base


def connect(port) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_reply(s: socket.socket, timeout=5.0) -> tuple[int, dict | None]:
    """Status and JSON body of one reply (Content-Length framed)."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a reply: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    is_json = headers.get(b"content-type", b"").startswith(b"application/json")
    return status, json.loads(body[:length]) if is_json and length else None


def closed_within(s: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (whatever it answers first)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            if not s.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def post_head(path: str, length: int | None, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: multipart/form-data; boundary=edge", *extra]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", ["/login/", "/api/agenda/meetings/1/documents"])
def test_anonymous_200mb_body_is_refused_before_it_is_sent(server, path):
    port, pid = server
    with PeakRss(pid) as mem:
        s = connect(port)
        s.sendall(post_head(path, 200 * 1024 * 1024))
        status, body = read_reply(s)  # no body byte sent yet: today the server waits for all 200 MB
        assert status == 413 and body["code"] == "body_too_large" and "giới hạn" in body["message"]
        # A client that sends its body anyway: it is dropped unread, and the connection closed.
        sent, block = 0, b"\0" * (1024 * 1024)
        s.settimeout(5)
        try:
            while sent < 200 * 1024 * 1024:
                s.sendall(block)
                sent += len(block)
        except OSError:
            pass
        s.close()
        time.sleep(0.5)
    print(f"200 MB announced to {path}: refused, {sent >> 20} MB sent anyway, worker grew {mem.growth:.0f} MB")
    assert mem.growth < 50, f"worker grew {mem.growth:.0f} MB"


def test_chunked_anonymous_body_is_cut_at_the_limit(server):
    port, pid = server
    s = connect(port)
    s.sendall(post_head("/login/", None))
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"a" * 64 * 1024)
    sent, reply = 0, None
    s.setblocking(False)
    try:
        while sent < 32 * 1024 * 1024 and reply is None:  # never the final chunk: only the edge can answer
            try:
                s.sendall(chunk)
                sent += 64 * 1024
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
            try:
                reply = s.recv(65536, socket.MSG_PEEK) or None
            except BlockingIOError:
                pass
    finally:
        s.setblocking(True)
    status, body = read_reply(s)
    assert status == 413 and body["code"] == "body_too_large"
    assert sent < 32 * 1024 * 1024
    assert closed_within(s, 5)


def test_signed_in_upload_is_left_to_the_application(server):
    """10 MB to the upload path: over the anonymous (and bearer-only) limit, within the upload limit for a
    signed-in client."""
    port, _ = server
    path = "/api/agenda/meetings/1/documents"
    upload = (
        b'--edge\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + b"%PDF-1.4\n" + b"\0" * (10 * 1024 * 1024) + b"\r\n--edge--\r\n"
    )
    s = connect(port)
    s.sendall(post_head(path, len(upload), "Cookie: csrftoken=x; sessionid=not-checked-by-the-edge"))
    s.sendall(upload)  # the application reads it all and answers (here: not signed in, no CSRF token)
    status, body = read_reply(s, timeout=30)
    assert status in (401, 403) and body["code"] != "body_too_large", (status, body)  # the application refused it
    s.close()
    anonymous = connect(port)
    anonymous.sendall(post_head(path, len(upload)))
    status, body = read_reply(anonymous)
    assert status == 413 and body["code"] == "body_too_large"
    bearer = connect(port)  # a bearer token can never upload: it buys no bigger body
    bearer.sendall(post_head(path, len(upload), "Authorization: Bearer room-token-of-anyone"))
    status, body = read_reply(bearer)
    assert status == 413 and body["code"] == "body_too_large"


@pytest.mark.parametrize(
    "opening",
    [
        b"",  # connected, never a byte
        b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
        b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n",  # body never sent
    ],
    ids=["idle", "headers", "body"],
)
def test_half_open_requests_are_closed_after_the_timeout(server, opening):
    port, _ = server
    socks = [connect(port) for _ in range(20)]
    for s in socks:
        s.sendall(opening)
    time.sleep(TIMEOUT_S)
    assert all(closed_within(s, 3) for s in socks)
    for s in socks:
        s.close()


def test_a_trickled_request_is_closed_though_bytes_keep_coming(server):
    port, _ = server
    s = connect(port)
    start, closed = time.monotonic(), False
    for byte in b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
        try:
            s.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        if closed_within(s, 0.25):
            closed = True
            break
        if time.monotonic() - start > TIMEOUT_S + 4:
            break
    assert closed and time.monotonic() - start < TIMEOUT_S + 3


def test_a_normal_request_and_keep_alive_still_work(server):
    port, _ = server
    s = connect(port)
    for _ in range(2):
        s.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, body = read_reply(s)
        assert status == 200 and "paths" in body
    assert closed_within(s, TIMEOUT_S + 3)  # and the idle connection is let go afterwards


def test_a_big_body_reaches_the_application_as_it_reads_it(tmp_path):
    """daphne alone would queue a 50 MB upload for the application at once (50 MB more in the worker)."""
    port = live.free_port()
    env = live.server_env("sqlite:///" + str(tmp_path / "unused.sqlite3"), [port], EDGE_TEST_BODY_APP=1)
    with live.daphne(env, port, tmp_path / "daphne.log", app="tests.test_edge_http:body_counter") as proc:
        size = 50 * 1024 * 1024
        with PeakRss(proc.pid) as mem:
            s = connect(port)
            s.sendall(post_head("/api/agenda/meetings/1/documents", size, "Cookie: sessionid=x"))
            s.sendall(b"\0" * size)
            status, body = read_reply(s, timeout=30)
            s.close()
        assert status == 200 and body["size"] == size, (status, body)
        assert mem.growth < 20, f"worker grew {mem.growth:.0f} MB"

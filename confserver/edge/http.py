"""HTTP at the edge: request bodies bounded before they are read, requests that stall are closed,
response bodies paced by the client's reading.

Twisted reads a whole body (to a temporary file) before daphne sees the request, and daphne then
queues all of it for the application at once; so a body is refused by its Content-Length as soon
as the headers are in (413, nothing read), and a chunked body is counted as it arrives and cut at
the limit. Headers must arrive within `request_timeout_s`, and a body must keep `min_body_rate`
bytes a second over each such window (Twisted's own timeout is an idle one, which a client sending
one byte now and then never meets).

daphne writes each `http.response.body` into the connection's buffer and returns at once, so an
application streaming a file to a slow reader fills the worker's memory as fast as the disk reads
(a whole one-hour recording). The request registers a push producer with its channel: Twisted pauses
it when the transport's buffer passes RESPONSE_BUFFER (256 KB) and resumes it when the buffer is empty,
and the application's `send` of a body with `more_body` waits while it is paused (`paced_send`), at most
HTTP_RESPONSE_STALL_S: then the connection is cut.
"""

import asyncio
import json

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.web import http

from confserver.edge.limits import Limits, too_large_message

# After a refusal the client may still be sending its body: read and drop it this long, so that it
# can read the reply before the connection closes (a close with unread data resets the connection).
LINGER_S = 2.0


def _reply(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def too_large(limit: int) -> bytes:
    return _reply(413, "Payload Too Large", "body_too_large", too_large_message(limit))


TOO_SLOW = _reply(408, "Request Timeout", "request_timeout", "Yêu cầu gửi đến quá chậm; kết nối đã bị đóng.")


STREAM_CHUNK = 64 * 1024  # bodies bigger than this reach the application in chunks of it, as it reads them


RESPONSE_BUFFER = 256 * 1024  # a streamed response pauses while the connection holds more than this unsent


class _Pacer:
    """An IPushProducer for Twisted's channel: open while the transport takes writes, shut while its buffer
    is full; shut for good (open, and `stopped`) when the connection goes."""

    def __init__(self, paused: bool):
        self.open = asyncio.Event()
        self.stopped = False
        if not paused:
            self.open.set()

    def pauseProducing(self):
        if not self.stopped:
            self.open.clear()

    def resumeProducing(self):
        self.open.set()

    def stopProducing(self):
        self.stopped = True
        self.open.set()


def paced_send(handle_reply):
    """Wrap daphne's Server.handle_reply (the application's `send`) so that a body chunk with more to come
    returns only once the connection's buffer has room (the request's pacer is open)."""

    async def send(server, protocol, message):
        await handle_reply(server, protocol, message)
        if message.get("type") == "http.response.body" and message.get("more_body"):
            wait = getattr(protocol, "edge_writable", None)
            if wait is not None:
                await wait()

    send.edge_paced = True
    return send


class _EmptyBody:
    """Stands in for the body file while daphne queues the request: daphne then queues an empty body."""

    def __init__(self, real):
        self.real = real

    @property
    def closed(self):
        return self.real.closed

    def seek(self, *args):
        return self.real.seek(*args)

    def read(self, size=-1):
        return b""


class EdgeRequest(WebRequest):
    """daphne's request, counting a body without a Content-Length against its limit, and streaming a big
    body to the application as it reads it (daphne queues all of it at once: a 50 MB upload, 50 MB more)."""

    edge_limit = None
    edge_received = 0
    _edge_feeder = None
    _edge_pacer = None

    def process(self):
        body = self.content
        size = body.seek(0, 2) if body is not None else 0
        if body is not None:
            body.seek(0)
        if size <= STREAM_CHUNK:
            return super().process()
        self.content = _EmptyBody(body)
        try:
            done = super().process()  # runs through to queueing the (empty) body: nothing in it waits
        finally:
            self.content = body
        queue = self.application_queue
        if queue is not None and queue.qsize() == 1 and not self.finished:
            queue.get_nowait()  # the empty body daphne queued; the real one follows
            self._edge_feeder = asyncio.ensure_future(self._edge_stream_body(queue, body))
        return done

    async def _edge_stream_body(self, queue, body):
        """Queue the body a chunk at a time, the next one when the application has taken the one before."""
        try:
            while not (self.finished or self._disconnected):
                chunk = body.read(STREAM_CHUNK)
                more = len(chunk) == STREAM_CHUNK
                queue.put_nowait({"type": "http.request", "body": chunk, "more_body": more})
                if not more:
                    return
                pause = 0.0
                while queue.qsize() > 1 and not (self.finished or self._disconnected):
                    await asyncio.sleep(pause)
                    pause = min(0.01, pause + 0.001)
        except ValueError:  # the body file was closed: the connection is gone
            pass

    def handle_reply(self, message):
        streaming = message.get("type") == "http.response.body" and message.get("more_body")
        if streaming and self._edge_pacer is None and not self.finished and self.channel is not None:
            transport = self.channel.transport
            if getattr(transport, "bufferSize", RESPONSE_BUFFER) < RESPONSE_BUFFER:
                transport.bufferSize = RESPONSE_BUFFER  # Twisted's 64 KB pauses and resumes 4 times as often
            self._edge_pacer = _Pacer(paused=self.channel._waitingForTransport)
            self.registerProducer(self._edge_pacer, True)
        elif not streaming and self._edge_pacer is not None:
            self._edge_unpace()
        super().handle_reply(message)

    async def edge_writable(self):
        """Return when the connection's buffer has room again, or the connection is gone. A client that takes
        nothing for `response_stall_s` is cut: Twisted has no idle timeout while a response is being sent, and a
        zero TCP window keeps a connection, the file it reads and the application's task for ever."""
        pacer = self._edge_pacer
        if pacer is None or self.finished or pacer.open.is_set():
            return
        try:
            await asyncio.wait_for(pacer.open.wait(), self.channel.limits.response_stall_s)
        except TimeoutError:
            if self._edge_pacer is pacer and self.channel is not None:
                self.channel.transport.abortConnection()  # connectionLost: the stream ends as for a reader gone

    def _edge_unpace(self):
        pacer, self._edge_pacer = self._edge_pacer, None
        if pacer is None:
            return
        if self.producer is pacer and self.channel is not None:
            self.unregisterProducer()
        pacer.stopProducing()

    def finish(self):
        self._edge_unpace()
        super().finish()

    def connectionLost(self, reason):
        self._edge_unpace()  # a waiting `send` returns; daphne drops what the application still sends
        super().connectionLost(reason)

    def handleContentChunk(self, data):
        channel = self.channel
        if channel is None or channel.edge_refused:
            return
        self.edge_received += len(data)
        channel.edge_window += len(data)
        if self.edge_limit is not None and self.edge_received > self.edge_limit:
            channel.edge_refuse(too_large(self.edge_limit))
            return
        super().handleContentChunk(data)

    def __init__(self, *args, **kwargs):
        # Twisted would parse a POSTed multipart or form body into `args` (unused by daphne) on the
        # reactor, all of it in memory: ~500 MB for a 50 MB upload (issue 9, #3; helper 6).
        super().__init__(*args, **kwargs)
        self._parsePOSTFormSubmission = False


class EdgeHTTPChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel with a deadline per request and a body limit per request."""

    limits: Limits
    edge_refused = False
    edge_window = 0  # body bytes since the last rate check
    _edge_timer = None
    _edge_seen = False  # bytes of the awaited request have arrived

    def connectionMade(self):
        super().connectionMade()
        self._edge_await_request()

    def connectionLost(self, reason):
        self._edge_cancel()
        super().connectionLost(reason)

    def dataReceived(self, data):
        if self.edge_refused:
            return  # lingering: the rest of a refused body is dropped unread
        self._edge_seen = True
        super().dataReceived(data)

    def lineReceived(self, line):
        if not self.edge_refused:
            return super().lineReceived(line)

    def rawDataReceived(self, data):
        if not self.edge_refused:
            super().rawDataReceived(data)

    def allHeadersReceived(self):
        request = self.requests[-1]
        headers = request.requestHeaders
        limit = self.limits.body_limit(self._path, headers.getRawHeaders(b"Cookie"))
        if self.length is not None and self.length > limit:
            self.edge_refuse(too_large(limit))
            return
        request.edge_limit = limit
        super().allHeadersReceived()
        if self.length != 0:
            self.edge_window = 0
            self._edge_arm(self._edge_check_body_rate)

    def allContentReceived(self):
        if self.edge_refused:
            return
        self._edge_cancel()  # the application has the request; daphne's http_timeout is for its answer
        super().allContentReceived()

    def requestDone(self, request):
        self._edge_await_request()
        super().requestDone(request)

    def edge_refuse(self, reply: bytes):
        """Answer `reply`, close, and drop whatever the client still sends meanwhile."""
        self.edge_refused = True
        self._edge_cancel()
        self.transport.write(reply)
        if hasattr(self.transport, "loseWriteConnection"):
            self.transport.loseWriteConnection()
            self._edge_timer = self.callLater(LINGER_S, self.transport.abortConnection)
        else:
            self.transport.loseConnection()

    def _edge_await_request(self):
        self._edge_seen = False
        self._edge_arm(self._edge_headers_late)

    def _edge_headers_late(self):
        self._edge_timer = None
        if self._edge_seen:
            self.edge_refuse(TOO_SLOW)
        else:  # an idle connection, or one between requests: close quietly, as any server does
            self.transport.loseConnection()
            self._edge_timer = self.callLater(LINGER_S, self.transport.abortConnection)

    def _edge_check_body_rate(self):
        self._edge_timer = None
        if self.edge_window < self.limits.min_body_rate * self.limits.request_timeout_s:
            self.edge_refuse(TOO_SLOW)
        else:
            self.edge_window = 0
            self._edge_arm(self._edge_check_body_rate)

    def _edge_arm(self, check):
        self._edge_cancel()
        if self.limits.request_timeout_s > 0:
            self._edge_timer = self.callLater(self.limits.request_timeout_s, check)

    def _edge_cancel(self):
        if self._edge_timer is not None and self._edge_timer.active():
            self._edge_timer.cancel()
        self._edge_timer = None


class EdgeHTTPFactory(HTTPFactory):
    """daphne's HTTP factory building edge channels and requests."""

    limits: Limits

    def protocol(self):
        channel = EdgeHTTPChannel()
        channel.limits = self.limits
        return http._GenericHTTPChannelProtocol(channel)

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = EdgeRequest
        return protocol

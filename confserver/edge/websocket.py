"""WebSockets at the edge: floods closed as frames arrive, reading paused while the application catches up.

daphne puts every frame into the application's unbounded queue as soon as it is read, so a client
writing faster than the consumer handles its messages grew the worker without bound, ahead of the
consumer's own rate limit. Here each connection has a ceiling of frames and bytes a second (above
the application's limit, so a well-behaved client never meets it): past it the connection is closed
with 4029 at once and what it had queued is dropped. Below it, when more than `ws_max_queued`
frames or `ws_max_queued_bytes` wait for the application, the socket is not read until half of them
are consumed (TCP back-pressure). The frame bound is above the ceiling's burst, so that a flood is
seen and closed before reading pauses, however slowly the application drains.
Sockets per client address are capped at the handshake.
"""

import ipaddress
import struct
import time

from autobahn.websocket.types import ConnectionDeny
from daphne.utils import parse_x_forwarded_for
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet import reactor

from confserver.edge.fastwrite import send_now
from confserver.edge.limits import Limits, address_key
from confserver.observability import metrics

CLOSE_FLOOD = 4029  # the application's own flood close code (signaling/consumers.py)
FLOOD_REASON = "Gửi quá nhanh; kết nối bị đóng."
RESUME_POLL_S = 0.02
FLOOD_LINGER_S = 5.0
# What the server itself sends is bounded apart from what it accepts: autobahn applies
# maxMessagePayloadSize to both, and the chair's join snapshot is ~230 bytes a room (2.5 MB for
# the 10,811 rooms of a national meeting), far over the inbound cap. This bound only catches a
# runaway message of our own.
OUTBOUND_MAX_BYTES = 64 << 20


class Bucket:
    """A token bucket: `rate` a second, holding at most `capacity`."""

    __slots__ = ("rate", "capacity", "level", "at")

    def __init__(self, rate: float, capacity: float):
        self.rate, self.capacity, self.level, self.at = rate, capacity, capacity, time.monotonic()

    def take(self, amount: float, now: float) -> bool:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        if self.level < amount:
            return False
        self.level -= amount
        return True


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EdgeWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol with a flood ceiling, back-pressure and a per-address cap."""

    edge_closing = False
    _edge_known = False  # handed to daphne (refused handshakes never are)
    _edge_address = None
    _edge_paused = False
    _edge_poll = None
    _edge_queued_bytes = 0  # at least what waits for the application (recounted when it matters)
    _edge_open = False  # counted in metrics.SOCKETS_OPEN

    def connectionMade(self):
        if self.factory.limits.ws_send_now:
            send_now(self.transport)  # frames to the socket at once, not a loop round per socket
        super().connectionMade()

    def onConnect(self, request):
        limits: Limits = self.factory.limits
        self._edge_frames = Bucket(limits.ws_frames_per_s, max(1.0, limits.ws_frames_per_s * limits.ws_burst_s))
        self._edge_bytes = Bucket(
            limits.ws_bytes_per_s, max(limits.ws_bytes_per_s * limits.ws_burst_s, limits.ws_max_message_bytes)
        )
        address = self._edge_client_address(request)
        if limits.ws_max_per_address and not (limits.ws_exempt_loopback and _is_loopback(address)):
            address = address_key(address)  # an IPv6 client by its /64
            counts = self.factory.per_address
            if counts.get(address, 0) >= limits.ws_max_per_address:
                # Refused before daphne registers the connection or starts an application for it.
                raise ConnectionDeny(429, "Too many connections from this address")
            counts[address] = counts.get(address, 0) + 1
            self._edge_address = address
        self._edge_known = True
        return super().onConnect(request)

    def onOpen(self):
        self._edge_open = True
        metrics.SOCKETS_OPEN.inc()
        metrics.SOCKETS_OPENED.inc()
        super().onOpen()

    def onClose(self, wasClean, code, reason):
        self._edge_release()
        if not self._edge_known:
            return  # daphne never knew this connection
        super().onClose(wasClean, code, reason)

    def connectionLost(self, reason):
        self._edge_release()
        super().connectionLost(reason)

    def onMessage(self, payload, isBinary):
        if self.edge_closing:
            return
        if not self._edge_admit(len(payload)):
            return
        super().onMessage(payload, isBinary)
        self._edge_queued_bytes += len(payload)
        if not self._edge_paused and self._edge_backlogged():
            self._edge_paused = True
            self.transport.pauseProducing()
            self._edge_poll = reactor.callLater(RESUME_POLL_S, self._edge_resume_when_drained)

    def onPing(self, payload):
        if not self.edge_closing and self._edge_admit(len(payload)):
            super().onPing(payload)

    def sendMessage(self, payload, isBinary=False, fragmentSize=None, sync=False, doNotCompress=False):
        """Send under the outbound bound: the inbound cap (maxMessagePayloadSize) is lifted for the call.

        autobahn reads the attribute only while it runs, synchronously, so received frames are
        never judged by the outbound bound. A plain message (one unmasked, uncompressed frame, nothing
        queued before it) is framed here: the same bytes as autobahn's, without its per-call checks,
        counters and debug-log arguments (a third of a fan-out's cost per delivery, issue 11)."""
        if (
            self.state == self.STATE_OPEN
            and not sync
            and fragmentSize is None
            and self._perMessageCompress is None
            and not self.autoFragmentSize
            and not self.send_queue
            and not self.maskServerFrames
            and not self.logFrames
            and not self.logOctets
            and self.trackedTimings is None
            and type(payload) is bytes
            and len(payload) <= OUTBOUND_MAX_BYTES
        ):
            self.transport.write(frame_head(payload, isBinary) + payload)
            return
        inbound, self.maxMessagePayloadSize = self.maxMessagePayloadSize, OUTBOUND_MAX_BYTES
        try:
            super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress)
        finally:
            self.maxMessagePayloadSize = inbound

    def serverSend(self, content, binary=False):
        if self.state == self.STATE_OPEN or self.state == self.STATE_CONNECTING:
            super().serverSend(content, binary)
        # else: closing; what the application still says is dropped (autobahn raises on it)

    def edge_send_text(self, text: str):
        """What the application's `await send({"type": "websocket.send", "text": text})` does, in the call."""
        if self.state == self.STATE_OPEN and text:
            self.sendMessage(text.encode("utf8"))
        else:
            self.handle_reply({"type": "websocket.send", "text": text})  # daphne's own refusals and drops

    def _edge_admit(self, size: int) -> bool:
        now = time.monotonic()
        if self._edge_frames.take(1, now) and self._edge_bytes.take(size, now):
            return True
        self._edge_flood()
        return False

    def _edge_flood(self):
        self.edge_closing = True
        queue = getattr(self, "application_queue", None)
        if queue is not None:  # drop the frames it queued; the application hears of the close at once
            kept = [m for m in (queue.get_nowait() for _ in range(queue.qsize())) if m["type"] != "websocket.receive"]
            for message in kept:
                queue.put_nowait(message)
            queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_FLOOD})
            self.muted = True  # daphne: no second disconnect when the connection is gone
        # Nothing more is read: the client gets FLOOD_LINGER_S to read the close frame, then the
        # connection is aborted (autobahn's closing handshake timeout), its reply never awaited.
        if self._edge_poll is not None and self._edge_poll.active():
            self._edge_poll.cancel()
        self._edge_poll = None
        if not self._edge_paused:
            self._edge_paused = True
            self.transport.pauseProducing()
        self.closeHandshakeTimeout = FLOOD_LINGER_S
        self.sendClose(code=CLOSE_FLOOD, reason=FLOOD_REASON)

    def _edge_backlogged(self, slack: int = 1) -> bool:
        """More than the limits' frames or bytes wait for the application (`slack` divides the limits)."""
        queue = getattr(self, "application_queue", None)
        if queue is None:
            return False
        limits = self.factory.limits
        if queue.qsize() > limits.ws_max_queued // slack:
            return True
        if self._edge_queued_bytes > limits.ws_max_queued_bytes // slack:
            # The running sum only grows; count what is really still queued.
            self._edge_queued_bytes = sum(len(m.get("text") or m.get("bytes") or "") for m in queue._queue)
            return self._edge_queued_bytes > limits.ws_max_queued_bytes // slack
        return False

    def _edge_resume_when_drained(self):
        self._edge_poll = None
        if self._edge_backlogged(slack=2):
            self._edge_poll = reactor.callLater(RESUME_POLL_S, self._edge_resume_when_drained)
        else:
            self._edge_resume()

    def _edge_resume(self):
        if self._edge_poll is not None and self._edge_poll.active():
            self._edge_poll.cancel()
        self._edge_poll = None
        if self._edge_paused:
            self._edge_paused = False
            if self.transport is not None:
                self.transport.resumeProducing()

    def _edge_release(self):
        if self._edge_open:
            self._edge_open = False
            metrics.SOCKETS_OPEN.dec()
        if self._edge_poll is not None and self._edge_poll.active():
            self._edge_poll.cancel()
        self._edge_poll = None
        address, self._edge_address = self._edge_address, None
        if address is not None:
            counts = self.factory.per_address
            counts[address] -= 1
            if counts[address] <= 0:
                del counts[address]

    def _edge_client_address(self, request):
        """The client's address as daphne will report it (the proxy's header when daphne trusts one)."""
        peer = self.transport.getPeer()
        address = [str(getattr(peer, "host", "")), getattr(peer, "port", 0)]
        server = self.factory.server_class
        if server.proxy_forwarded_address_header:
            headers = {name.lower().encode("ascii"): value.encode("latin1") for name, value in request.headers.items()}
            address, _ = parse_x_forwarded_for(
                headers, server.proxy_forwarded_address_header, server.proxy_forwarded_port_header, None, address
            )
        return address[0]


def frame_head(payload: bytes, binary: bool = False) -> bytes:
    """The header of one final, unmasked server frame (RFC 6455 5.2) carrying `payload`."""
    first, n = 0x82 if binary else 0x81, len(payload)
    if n <= 125:
        return bytes((first, n))
    if n <= 0xFFFF:
        return _HEAD16.pack(first, 126, n)
    return _HEAD64.pack(first, 127, n)


_HEAD16, _HEAD64 = struct.Struct("!BBH"), struct.Struct("!BBQ")


class EdgeWebSocketFactory(WebSocketFactory):
    """daphne's WebSocket factory building edge protocols, with autobahn's frame and message sizes bounded
    (what clients send: the protocol sends up to OUTBOUND_MAX_BYTES)."""

    protocol = EdgeWebSocketProtocol
    limits: Limits

    def __init__(self, *args, **kwargs):
        self.per_address: dict[str, int] = {}
        super().__init__(*args, **kwargs)

    def setProtocolOptions(self, **options):
        cap = self.limits.ws_max_message_bytes
        for key in ("maxFramePayloadSize", "maxMessagePayloadSize"):
            if key in options:
                options[key] = min(options[key] or cap, cap)
        # A failed connection (too big, invalid UTF-8, bad framing) gets a close frame with its code
        # (1009, 1007, 1002) rather than a bare TCP reset.
        options.setdefault("failByDrop", False)
        super().setProtocolOptions(**options)

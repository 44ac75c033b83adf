"""WebSocket writes sent at once: a frame goes to the socket when nothing waits before it.

Twisted's write only buffers and registers the socket for writability; on the asyncio reactor that is an
epoll_ctl to register, one loop round with a handle per socket, the send, and an epoll_ctl to unregister:
most of a fan-out's cost per delivery (one event to thousands of room sockets). Here, when the transport's
buffer is empty, the frame is sent in the call; only what the kernel does not take is buffered the usual way
(writability registered, a streaming producer paused past the buffer size). Anything else (data already
buffered, a close, abort or half-close under way, TLS, an error from the socket) takes Twisted's own path, so bytes
keep their order and a broken socket is found and closed by the reactor as before.
"""

from twisted.internet import tcp

SEND_NOW_MAX = tcp.Server.SEND_LIMIT  # larger writes (a chair's snapshot) go the usual way


class SendNowServer(tcp.Server):
    """A plain-TCP server transport whose write tries the socket first."""

    def write(self, data: bytes) -> None:
        if (
            self._tempDataLen
            or self.dataBuffer
            or self.TLS
            or self.disconnecting
            or self._aborting
            or not self.connected
            or self._writeDisconnecting
            or self._writeDisconnected
            or type(data) is not bytes
            or not 0 < len(data) <= SEND_NOW_MAX
        ):
            return super().write(data)
        try:
            sent = self.socket.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the reactor's write meets the error again and closes the connection its way
            return super().write(data)
        if sent < len(data):
            super().write(data[sent:])


def send_now(transport) -> None:
    """Give a connection's plain-TCP transport the write above (anything else, e.g. TLS, is left alone)."""
    if type(transport) is tcp.Server:
        transport.__class__ = SendNowServer

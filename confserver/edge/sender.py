"""A synchronous text `send` for the application, where daphne's own path has no wait in it (issue 11, item 6).

Kept apart from websocket.py so that the application can import it without importing Twisted's reactor.
"""

from collections.abc import Callable


def text_sender(send) -> Callable[[str], None] | None:
    """For the ASGI `send` daphne gave a WebSocket application (partial(Server.handle_reply, protocol)) with an
    edge protocol behind it: a function doing what `await send({"type": "websocket.send", "text": text})` does,
    in the call. None for anything else (another server, a test's communicator). Skipping the coroutines around
    daphne's path saves a task step per socket and event in a fan-out."""
    args = getattr(send, "args", None)
    server = getattr(getattr(send, "func", None), "__self__", None)
    protocol = args[0] if args else None
    if getattr(protocol, "edge_send_text", None) is None or getattr(server, "connections", None) is None:
        return None
    connections = server.connections

    def send_text(text: str) -> None:
        details = connections.get(protocol)
        if details is None or details.get("disconnected"):
            return  # daphne drops what is sent to a connection it no longer holds
        protocol.edge_send_text(text)

    return send_text

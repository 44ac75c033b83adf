"""The edge: guards inside daphne's protocol objects, for attacks that cost memory before application code runs.

The only package that touches daphne, Twisted and autobahn internals (as media/transport.py alone touches aiortc):
request bodies refused by size and cut when chunked (http.py), half-open requests timed out (http.py),
response bodies paced by the client's reading (http.py), WebSocket floods closed, frames bounded and reading
paused while the application catches up (websocket.py).
"""


def install() -> None:
    """Make daphne build its connections from the edge's factories (idempotent).

    daphne imports the application before it builds its factories, so calling this from
    confserver/asgi.py covers `daphne confserver.asgi:application`, bin/run and `manage.py runserver`.
    """
    import daphne.server

    from confserver.edge.http import EdgeHTTPFactory, paced_send
    from confserver.edge.limits import Limits
    from confserver.edge.websocket import EdgeWebSocketFactory

    EdgeHTTPFactory.limits = EdgeWebSocketFactory.limits = Limits.from_settings()
    daphne.server.HTTPFactory = EdgeHTTPFactory
    daphne.server.WebSocketFactory = EdgeWebSocketFactory
    server = daphne.server.Server
    if not getattr(server.handle_reply, "edge_paced", False):  # the application's `send` waits for the client
        server.handle_reply = paced_send(server.handle_reply)

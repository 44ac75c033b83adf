"""The edge: guards inside daphne's protocol objects, for attacks that cost memory before application code runs.

The only package that touches daphne, Twisted and autobahn internals (as media/transport.py alone touches aiortc):
request bodies refused by size and cut when chunked (http.py), half-open requests timed out (http.py),
WebSocket floods closed, frames bounded and reading paused while the application catches up (websocket.py).
"""


def install() -> None:
    """Make daphne build its connections from the edge's factories (idempotent).

    daphne imports the application before it builds its factories, so calling this from
    confserver/asgi.py covers `daphne confserver.asgi:application`, bin/run and `manage.py runserver`.
    """
    import daphne.server

    from confserver.edge.http import EdgeHTTPFactory
    from confserver.edge.limits import Limits
    from confserver.edge.websocket import EdgeWebSocketFactory

    EdgeHTTPFactory.limits = EdgeWebSocketFactory.limits = Limits.from_settings()
    daphne.server.HTTPFactory = EdgeHTTPFactory
    daphne.server.WebSocketFactory = EdgeWebSocketFactory

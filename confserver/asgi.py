"""ASGI entry point for daphne: HTTP through Django, WebSockets through Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from confserver import edge  # noqa: E402
from confserver.media import service as media_service  # noqa: E402
from confserver.observability.endpoint import metrics_app  # noqa: E402
from confserver.signaling.routing import websocket_application  # noqa: E402
from confserver.staticfiles import StaticFiles  # noqa: E402

media_service.preload()
edge.install()  # daphne builds its factories after importing this module

from confserver.runtime import tune_gc  # noqa: E402

tune_gc()  # last: after everything the app loads at startup

http_app = StaticFiles(django_asgi) if settings.SERVE_STATIC else django_asgi
http_app = metrics_app(http_app)  # GET /metrics, before Django (confserver/observability/endpoint.py)
application = ProtocolTypeRouter({"http": http_app, "websocket": websocket_application()})

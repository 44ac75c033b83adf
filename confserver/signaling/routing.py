from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from .consumers import MeetingConsumer

websocket_urlpatterns = [path("ws/meetings/<int:meeting_id>/", MeetingConsumer.as_asgi())]


def websocket_application():
    from channels.routing import URLRouter

    return OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), settings.WS_ALLOWED_ORIGINS)

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from confserver.delegates.consumers import DelegateConsumer
from confserver.rooms import tokens
from confserver.twofactor.middleware import SecondFactorScope

from .consumers import MeetingConsumer

websocket_urlpatterns = [
    path("ws/meetings/<int:meeting_id>/", MeetingConsumer.as_asgi()),
    path("ws/delegates/<int:meeting_id>/", DelegateConsumer.as_asgi()),  # issue 14: delegates' tablets
]


class SessionUnlessToken:
    """Room terminals bring a signed token (in Sec-WebSocket-Protocol) and need no cookie session:
    they skip the session and auth middleware (two hops to Django's single sync thread per
    connection, which serialised a burst of rooms connecting at once). Logged-in operators
    go through AuthMiddlewareStack as usual."""

    def __init__(self, inner):
        # An operator's session that has not passed a required second factor counts as none (twofactor/).
        self.plain, self.with_session = inner, AuthMiddlewareStack(SecondFactorScope(inner))

    async def __call__(self, scope, receive, send):
        has_token = tokens.token_from_subprotocols(scope.get("subprotocols")) is not None
        return await (self.plain if has_token else self.with_session)(scope, receive, send)


def websocket_application():
    from channels.routing import URLRouter

    return OriginValidator(SessionUnlessToken(URLRouter(websocket_urlpatterns)), settings.WS_ALLOWED_ORIGINS)

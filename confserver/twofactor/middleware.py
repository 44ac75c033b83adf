"""A signed-in session of an account that must pass the second factor, and has not (signed in before the setting
was turned on, or by a path that skipped it), counts as no session: the API answers it `otp_required` (401), the
pages and the admin see an anonymous visitor (so they send it to /login/), the meeting socket an anonymous one."""

from asgiref.sync import iscoroutinefunction
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse

from confserver.security.middleware import Middleware

from . import factor

OTP_REQUIRED_MESSAGE = "Tài khoản này phải xác thực hai lớp: hãy đăng nhập lại và nhập mã từ ứng dụng xác thực."


def _active() -> bool:
    return bool(settings.OTP_REQUIRED_ROLES or settings.OTP_REQUIRED)


def _refused(user, session) -> bool:
    return user is not None and user.is_authenticated and not factor.session_allowed(user, session)


class SecondFactorRequired(Middleware):
    """After AuthenticationMiddleware; one query, only for accounts that must pass the factor."""

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        refusal = self._check(request) if _active() else None
        return refusal if refusal is not None else self.get_response(request)

    async def _acall(self, request):
        refusal = await database_sync_to_async(self._check)(request) if _active() else None
        return refusal if refusal is not None else await self.get_response(request)

    def _check(self, request):
        if not _refused(request.user, request.session):
            return None
        bearer = request.META.get("HTTP_AUTHORIZATION", "").startswith("Bearer ")
        if request.path.startswith("/api/") and not bearer:  # a room link's bearer token goes on as usual
            return JsonResponse({"code": "otp_required", "message": OTP_REQUIRED_MESSAGE}, status=401)
        request.user = AnonymousUser()
        return None


class SecondFactorScope:
    """ASGI middleware inside channels' AuthMiddlewareStack: the same rule for the meeting socket."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if _active():
            user = scope.get("user")
            if user is not None and await database_sync_to_async(_refused)(user, scope.get("session")):
                scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)

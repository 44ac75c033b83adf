"""The one NinjaAPI of the product (OpenAPI at /api/openapi.json, docs at /api/docs).

Each app contributes a Router; errors leave as `{"code", "message"}` JSON.
"""

from django.db import DataError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from confserver.agenda.api import router as agenda_router
from confserver.delegates.access import DelegateAuth
from confserver.errors import DomainError
from confserver.fields import nul_message
from confserver.rooms import tokens
from confserver.rooms.api import rooms_api, units


class RoomToken(HttpBearer):
    """Room terminals call the API with `Authorization: Bearer <room token>`, and only for the meeting the
    token was issued for: a path that names no meeting, or another one, is refused (issue 9)."""

    def authenticate(self, request, token):
        user = tokens.user_from_room_token(token)  # BadToken: a coded 401
        if _meeting_of(request) != user.room_token.meeting_id:
            raise tokens.wrong_meeting()
        return user


def _meeting_of(request) -> int | None:
    """The meeting a request's path is about, from its meeting, document, version or agenda item id."""
    from confserver.agenda.models import AgendaItem, Document, DocumentVersion

    kwargs = request.resolver_match.kwargs if request.resolver_match else {}
    for name, lookup in (
        ("meeting_id", None),
        ("document_id", (Document, "meeting_id")),
        ("version_id", (DocumentVersion, "document__meeting_id")),
        ("item_id", (AgendaItem, "meeting_id")),
    ):
        raw = str(kwargs.get(name, ""))
        if raw:
            if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**63:
                return None
            if lookup is None:
                return int(raw)
            model, field = lookup
            return model.objects.filter(pk=int(raw)).values_list(field, flat=True).first()
    return None


class CookieSession(SessionAuth):
    """The signed-in account's session cookie, CSRF-checked only when the request carries that cookie: ninja's
    SessionAuth checked CSRF on every unsafe request, so a room's terminal POSTing with its Bearer link from a
    browser (no CSRF cookie) was refused csrf_failed before its token was read (Django's test client hides it)."""

    def _get_key(self, request):
        from django.conf import settings

        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return None  # no session to authenticate with, so nothing a forged request could ride on
        return super()._get_key(request)


# Explicit tokens first (a header a page sends on purpose, never attached by the browser on its own, so no CSRF):
# a room's link, then a delegate's (confserver/delegates/access.py: reads the papers); then the session cookie.
api = NinjaAPI(
    title="confserver", version="1", auth=[RoomToken(), DelegateAuth(), CookieSession()], urls_namespace="api"
)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return api.create_response(request, {"code": exc.code, "message": exc.message}, status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    for e in exc.errors:
        if e.get("type") == "invalid_field":  # confserver/fields.py: text with NUL
            return api.create_response(request, {"code": "invalid_field", "message": e["msg"]}, status=422)
    return api.create_response(
        request, {"code": "invalid", "message": "Dữ liệu gửi lên không hợp lệ.", "details": exc.errors}, status=422
    )


@api.exception_handler(DataError)
def _nul_in_text(request, exc: DataError):
    """Last line for text no schema checked (a form field, a file name): PostgreSQL refuses NUL."""
    if "NUL" not in str(exc):
        raise exc
    return api.create_response(request, {"code": "invalid_field", "message": nul_message("text")}, status=400)


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return api.create_response(request, {"code": "unauthenticated", "message": "Cần đăng nhập."}, status=401)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code = "csrf_failed" if "CSRF" in str(exc) else "http_error"
    return api.create_response(request, {"code": code, "message": str(exc)}, status=exc.status_code)


api.add_router("/units", units)
api.add_router("/meetings", rooms_api)
api.add_router("/meetings", "confserver.signaling.lobby_api.router")
api.add_router("/agenda", agenda_router)
api.add_router("/recordings", "confserver.recording.api.router")
api.add_router("/minutes", "confserver.recording.minutes_api.router")
api.add_router("/accounts", "confserver.accounts.api.router")
api.add_router("/votes", "confserver.votes.api.router")  # speakers and votes (issue 14)
api.add_router("/delegates", "confserver.delegates.api.router")  # issue 14
api.add_router("", "confserver.media.ops_api.router")  # GET /api/relays, /api/meetings/{id}/relays (issue 11)

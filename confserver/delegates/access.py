"""Who is the delegate behind a request: a personal link (`Authorization: Delegate <token>`), or the
signed-in account's delegate seat in that meeting."""

from ninja.security import APIKeyHeader

from confserver.errors import DomainError, Forbidden

from . import tokens
from .models import Delegate

SCHEME = "delegate"
READ_PREFIX = "/api/agenda/"  # where DelegateAuth reads the papers


def token_of(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == SCHEME and value.strip():
        return value.strip()
    return None


def delegate_for_request(request, meeting_id: int) -> Delegate:
    """The delegate calling about `meeting_id`; DomainError 401 (no or bad link) or 403 (a signed-in account
    that is no delegate of this meeting). A signed-in account's unsafe request passes Django's CSRF check."""
    token = token_of(request)
    if token is not None:
        return tokens.verify(token, meeting_id)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise DomainError("delegate_required", "Cần mở bằng liên kết đại biểu hoặc đăng nhập.", status=401)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        from ninja.utils import check_csrf

        if check_csrf(request) is not None:
            raise Forbidden("csrf_failed", "Phiên làm việc không hợp lệ; hãy tải lại trang.")
    delegate = Delegate.objects.select_related("meeting", "room").filter(meeting_id=meeting_id, user=user).first()
    if delegate is None:
        raise Forbidden("not_delegate", "Tài khoản này không phải đại biểu của cuộc họp.")
    return delegate


def reader_for(delegate: Delegate):
    """The account a delegate reads the papers as: their remote room's terminal, or, in the hall, the chair's
    room (delegates read what the invited rooms read: released papers, confidential ones included). An
    unsaved User carrying `.delegate`, so the agenda's read receipts record the person."""
    from confserver.accounts.models import Role, User
    from confserver.signaling.control import chair_rooms

    room = delegate.room
    if room is None:
        part = chair_rooms(delegate.meeting_id).select_related("room").first()
        if part is None:
            raise Forbidden("no_chair_room", "Cuộc họp chưa có phòng của đơn vị chủ trì.")
        room = part.room
    user = User(
        username=f"delegate-{delegate.pk}", role=Role.TERMINAL, room_id=room.pk, unit_id=room.unit_id, is_active=True
    )
    user.room = room
    user.delegate = delegate  # type: ignore[attr-defined]  # read by agenda/receipts.py
    return user


class DelegateAuth(APIKeyHeader):
    """django-ninja auth: `Authorization: Delegate <token>` on a path about the token's meeting gives the
    delegate's reader (reader_for); other requests are left to the other auths (None)."""

    param_name = "Authorization"

    def authenticate(self, request, key):
        token = token_of(request)
        if token is None:
            return None
        # A delegate reads as a room terminal (reader_for): only the agenda's reading endpoints take it, never
        # what a room's terminal may do (confirm, answer the roll call, upload, publish...).
        if request.method not in ("GET", "HEAD") or not request.path.startswith(READ_PREFIX):
            raise Forbidden("delegate_read_only", "Liên kết đại biểu chỉ dùng để đọc chương trình, tài liệu.")
        from confserver.api import _meeting_of

        meeting_id = _meeting_of(request)
        if meeting_id is None:
            raise tokens.invalid("Liên kết đại biểu này dành cho cuộc họp khác.", status=403)
        return reader_for(tokens.verify(token, meeting_id))


def is_chair_side(user, meeting) -> bool:
    from confserver.agenda.access import is_chair

    return getattr(user, "role", None) in ("host", "admin") and is_chair(user, meeting)

"""Signed, expiring room tokens: the link a room terminal signs in with."""
from django.conf import settings
from django.core import signing

from confserver.accounts.models import Role, User
from confserver.errors import DomainError

SALT = "confserver.room-token"


class BadToken(DomainError):
    status = 401


def make_room_token(terminal: User) -> str:
    if terminal.role != Role.TERMINAL or terminal.room_id is None:
        raise DomainError("not_terminal", "Chỉ tài khoản máy trạm phòng họp mới có mã phòng.")
    return signing.dumps({"u": terminal.pk, "r": terminal.room_id}, salt=SALT, compress=True)


def read_room_token(token: str, *, max_age: int | None = None) -> tuple[int, int]:
    """(terminal user id, room id) of a genuine, unexpired token, without asking the database;
    BadToken otherwise."""
    max_age = settings.ROOM_TOKEN_MAX_AGE_S if max_age is None else max_age
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise BadToken("token_expired", "Mã đăng nhập phòng đã hết hạn.") from None
    except signing.BadSignature:
        raise BadToken("bad_token", "Mã đăng nhập phòng không hợp lệ.") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("r"), int):
        raise BadToken("bad_token", "Mã đăng nhập phòng không hợp lệ.")
    return data["u"], data["r"]


STALE = ("bad_token", "Mã đăng nhập phòng không còn hiệu lực.")


def user_from_room_token(token: str, *, max_age: int | None = None) -> User:
    """The terminal account a token was made for; BadToken when forged, expired or stale."""
    user_id, room_id = read_room_token(token, max_age=max_age)
    user = User.objects.select_related("room__unit", "unit").filter(
        pk=user_id, room_id=room_id, role=Role.TERMINAL, is_active=True
    ).first()
    if user is None:
        raise BadToken(*STALE)
    return user

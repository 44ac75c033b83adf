"""Personal links of delegates: a signed token per delegate, bound to one meeting, expiring like room links,
revocable by raising the delegate's token_version.

The token signs {"d": delegate, "m": meeting, "v": token_version, "e": expiry (epoch s)} the way room links
are signed (rooms/tokens.py: a plain Signer with "." as separator, so the token is base64url and "." only and
rides a URL fragment, an Authorization header and a WebSocket subprotocol as is); expiry follows the room
links' rule (rooms.tokens.expiry_for). The Delegate row is the authority on revocation.
"""

from django.core import signing
from django.utils import timezone

from confserver.errors import DomainError
from confserver.rooms.tokens import MAX_LENGTH, expiry_for

from .models import Delegate

SALT = "confserver.delegate-token.v1"

INVALID = "delegate_token_invalid"
EXPIRED = "delegate_token_expired"


def invalid(message: str = "Liên kết đại biểu không hợp lệ.", status: int = 401) -> DomainError:
    return DomainError(INVALID, message, status=status)


def expired() -> DomainError:
    return DomainError(EXPIRED, "Liên kết đại biểu đã hết hạn; xin ban tổ chức gửi liên kết mới.", status=401)


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=".")


def issue(delegate: Delegate) -> str:
    """A personal link token for `delegate`, valid until its meeting's links expire."""
    expires = expiry_for(delegate.meeting, timezone.now())
    payload = {"d": delegate.pk, "m": delegate.meeting_id, "v": delegate.token_version, "e": int(expires.timestamp())}
    return _signer().sign_object(payload, compress=True)


def read(token: str) -> dict:
    """The claims of a genuine token not past its expiry, without the database."""
    if not isinstance(token, str) or not token or len(token) > MAX_LENGTH:
        raise invalid()
    try:
        data = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError):
        raise invalid() from None
    if not isinstance(data, dict) or not all(type(data.get(k)) is int for k in "dmve"):
        raise invalid()
    if data["e"] <= timezone.now().timestamp():
        raise expired()
    return data


def verify(token: str, meeting_id: int) -> Delegate:
    """The delegate of a live link to `meeting_id`; DomainError delegate_token_invalid (tampered, another
    meeting's, revoked, delegate removed) or delegate_token_expired."""
    claims = read(token)
    if claims["m"] != meeting_id:
        raise invalid("Liên kết đại biểu này dành cho cuộc họp khác.", status=403)
    delegate = Delegate.objects.select_related("meeting", "room").filter(pk=claims["d"], meeting_id=meeting_id).first()
    if delegate is None or delegate.token_version != claims["v"]:
        raise invalid("Liên kết đại biểu đã bị thu hồi; xin ban tổ chức gửi liên kết mới.")
    return delegate


def revoke(delegate: Delegate) -> None:
    """Every link handed out to `delegate` so far stops working."""
    from django.db.models import F

    Delegate.objects.filter(pk=delegate.pk).update(token_version=F("token_version") + 1)
    delegate.refresh_from_db(fields=["token_version"])


HALL_SALT = "confserver.delegate-hall.v1"


def hall_code(meeting) -> str:
    """The code in the hall's QR link (delegate.html?meeting=M&hall=CODE): opened on a delegate's tablet
    with their own link, it checks them in. Signed per meeting, expiring like the links."""
    expires = expiry_for(meeting, timezone.now())
    return signing.Signer(salt=HALL_SALT, sep=".").sign_object({"h": meeting.pk, "e": int(expires.timestamp())})


def check_hall_code(code: str, meeting_id: int) -> None:
    """DomainError hall_code_invalid unless `code` is a live hall code of `meeting_id`."""
    bad = DomainError("hall_code_invalid", "Mã QR điểm danh không đúng của cuộc họp này hoặc đã hết hạn.")
    if not isinstance(code, str) or not code or len(code) > MAX_LENGTH:
        raise bad
    try:
        data = signing.Signer(salt=HALL_SALT, sep=".").unsign_object(code)
    except (signing.BadSignature, ValueError):
        raise bad from None
    if (
        not isinstance(data, dict)
        or data.get("h") != meeting_id
        or type(data.get("e")) is not int
        or data["e"] <= timezone.now().timestamp()
    ):
        raise bad

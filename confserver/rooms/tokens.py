"""Room links: the signed token a room terminal signs in with, bound to one meeting, expiring, revocable.

A token signs {"j": link id, "u": terminal, "r": room, "m": meeting, "e": expiry (epoch s)} with a plain
Signer and "." as separator: the same link row always gives the same token, and the token is made of
base64url characters and "." only, so it travels as is in a URL fragment, a Bearer header and a
WebSocket subprotocol. The RoomToken row is the authority: revoked or expired there, refused everywhere.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from confserver.accounts.models import Role, User
from confserver.errors import DomainError, Forbidden

from .models import Meeting, RoomToken
from .subprotocol import SUBPROTOCOL, TOKEN_PROTOCOL, token_from_subprotocols, ws_subprotocols  # noqa: F401

SALT = "confserver.room-token.v2"
# A link handed out again is the one already issued, unless it expires within this time.
REUSE_MIN_S = 3600
MAX_LENGTH = 1000  # real tokens are ~150 characters


class BadToken(DomainError):
    status = 401


BAD = ("bad_token", "Mã đăng nhập phòng không hợp lệ.")
STALE = ("bad_token", "Mã đăng nhập phòng không còn hiệu lực.")
EXPIRED = ("token_expired", "Liên kết phòng đã hết hạn; xin bên chủ trì liên kết mới.")
REVOKED = ("token_revoked", "Liên kết phòng đã bị bên chủ trì thu hồi.")


def wrong_meeting() -> Forbidden:
    return Forbidden("token_wrong_meeting", "Liên kết phòng này chỉ dùng được cho cuộc họp đã cấp nó.")


@dataclass(frozen=True)
class Claims:
    jti: str
    user_id: int
    room_id: int
    meeting_id: int
    expires: int  # epoch seconds


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=".")


def expiry_for(meeting: Meeting, now: datetime) -> datetime:
    """Until ROOM_TOKEN_AFTER_END_S past the scheduled end (or past now, for a meeting running late), and
    never more than ROOM_TOKEN_MAX_AGE_S past the later of the scheduled start and now."""
    end = max(meeting.scheduled_end, now) + timedelta(seconds=settings.ROOM_TOKEN_AFTER_END_S)
    cap = max(meeting.scheduled_start, now) + timedelta(seconds=settings.ROOM_TOKEN_MAX_AGE_S)
    return min(end, cap)


def sign(row: RoomToken) -> str:
    """The token of a link row (the same row, the same token)."""
    payload = {
        "j": row.jti,
        "u": row.terminal_id,
        "r": row.room_id,
        "m": row.meeting_id,
        "e": int(row.expires_at.timestamp()),
    }
    return _signer().sign_object(payload, compress=True)


def _new_row(terminal: User, meeting: Meeting, now: datetime, by: User | None, expires_at=None) -> RoomToken:
    if terminal.role != Role.TERMINAL or terminal.room_id is None:
        raise DomainError("not_terminal", "Chỉ tài khoản máy trạm phòng họp mới có mã phòng.")
    return RoomToken(
        jti=secrets.token_urlsafe(16),
        terminal=terminal,
        room_id=terminal.room_id,
        meeting=meeting,
        issued_at=now,
        expires_at=expires_at or expiry_for(meeting, now),
        issued_by=by,
    )


def make_room_token(terminal: User, meeting: Meeting, *, by: User | None = None, expires_at=None) -> str:
    """A new link for `terminal` to `meeting` (invitation is checked when it is used, not here)."""
    row = _new_row(terminal, meeting, timezone.now(), by, expires_at)
    row.save()
    return sign(row)


def links_for(meeting: Meeting, terminals, *, by: User | None = None) -> dict[int, RoomToken]:
    """Terminal id -> its link to `meeting` (`sign` gives the token): the one already issued while it has
    REUSE_MIN_S left, else a new one."""
    now = timezone.now()
    terminals = list(terminals)
    room_of = {t.pk: t.room_id for t in terminals}
    have = {}
    for row in RoomToken.objects.filter(
        meeting=meeting, terminal__in=terminals, revoked_at=None, expires_at__gt=now + timedelta(seconds=REUSE_MIN_S)
    ).order_by("expires_at"):
        if row.room_id == room_of[row.terminal_id]:  # not a link from before the terminal moved rooms
            have[row.terminal_id] = row  # the longest-lived last
    new = [_new_row(t, meeting, now, by) for t in terminals if t.pk not in have]
    RoomToken.objects.bulk_create(new)
    have.update({row.terminal_id: row for row in new})
    return have


def read_room_token(token: str) -> Claims:
    """The claims of a genuine token not past its expiry, without asking the database; BadToken otherwise."""
    if not isinstance(token, str) or len(token) > MAX_LENGTH:
        raise BadToken(*BAD)
    try:
        data = _signer().unsign_object(token)
    except (signing.BadSignature, ValueError):
        raise BadToken(*BAD) from None
    if (
        not isinstance(data, dict)
        or not all(type(data.get(k)) is int for k in "urme")
        or not isinstance(data.get("j"), str)
    ):
        raise BadToken(*BAD)
    claims = Claims(data["j"], data["u"], data["r"], data["m"], data["e"])
    if claims.expires <= timezone.now().timestamp():
        raise BadToken(*EXPIRED)
    return claims


def check_row(revoked_at, expires_at, now: datetime) -> None:
    """The database's word on a link: revoked or expired there is refused."""
    if revoked_at is not None:
        raise BadToken(*REVOKED)
    if expires_at <= now:
        raise BadToken(*EXPIRED)


def user_from_room_token(token: str) -> User:
    """The terminal account of a live link, in one query; `user.room_token` is the link row.
    BadToken when forged, expired, revoked or stale."""
    c = read_room_token(token)
    row = (
        RoomToken.objects.select_related("terminal__room__unit", "terminal__unit")
        .filter(jti=c.jti, terminal_id=c.user_id, room_id=c.room_id, meeting_id=c.meeting_id)
        .first()
    )
    if row is None:
        raise BadToken(*STALE)
    check_row(row.revoked_at, row.expires_at, timezone.now())
    user = row.terminal
    if not user.is_active or user.role != Role.TERMINAL or user.room_id != c.room_id:
        raise BadToken(*STALE)
    user.room_token = row  # type: ignore[attr-defined]  # the link it signed in with, for the caller
    return user


def revoke(meeting: Meeting, *, room_id: int | None = None) -> list[int]:
    """Revoke the live links of one room of `meeting` (or of all its rooms); the rooms they were for."""
    qs = RoomToken.objects.filter(meeting=meeting, revoked_at=None)
    if room_id is not None:
        qs = qs.filter(room_id=room_id)
    rooms = sorted(set(qs.values_list("room_id", flat=True)))
    qs.update(revoked_at=timezone.now())
    return rooms

"""Calling a room back (issue 12, item 5): its sign-in link again, through the notification webhook, or as a
QR code the console shows for a phone to read.

The link is the one the "Liên kết phòng" dialog hands out (tokens.links_for: the same link while it has time
left), so calling a room back never invalidates the link it already has. The webhook (agenda/webhook.py,
AGENDA_WEBHOOK_URL) gets `{"type": "room.link", meeting, room, url, expires_at}`; the receiver (the province's
messaging system) sends it on to the room's people.
"""

import io

from django.db import transaction

from confserver.accounts.models import Role, User
from confserver.errors import Conflict

from . import policy, tokens
from .models import Meeting, Room, RoomToken


def _terminal(meeting: Meeting, room_id: int) -> User:
    """The invited room's terminal account (the chair checked first); refused for the chair's own room."""
    from confserver.signaling.presence import chair_room_sync

    room = Room.objects.filter(pk=room_id).first()
    if room is None or not meeting.participations.filter(room_id=room_id).exists():
        raise policy.not_invited(room.name if room else str(room_id))
    if room_id == chair_room_sync(meeting.id, fresh=True):
        raise Conflict("is_chair", "Phòng chủ trì dùng bảng điều khiển, không cần liên kết phòng.")
    terminal = User.objects.filter(role=Role.TERMINAL, room_id=room_id, is_active=True).order_by("pk").first()
    if terminal is None:
        raise Conflict("room_no_terminal", f"{room.name} chưa có tài khoản máy trạm nên chưa có liên kết phòng.")
    return terminal


def room_link(user, meeting: Meeting, room_id: int, base_url: str) -> tuple[str, RoomToken]:
    """(absolute url, its RoomToken row) of `room_id`'s link to `meeting`, for the chair side only."""
    policy.check_chair(user, meeting)
    terminal = _terminal(meeting, room_id)
    row = tokens.links_for(meeting, [terminal], by=user)[terminal.pk]
    # In the fragment: browsers do not send it, so no access log records it.
    return f"{base_url.rstrip('/')}/web/room.html?meeting={meeting.id}#token={tokens.sign(row)}", row


@transaction.atomic
def resend_link(user, meeting: Meeting, room_id: int, base_url: str):
    """Send `room_id` its link again through the notification webhook; the delivery row (sent after commit)."""
    from confserver.agenda import webhook

    policy.check_chair(user, meeting)
    if not webhook.url():
        raise Conflict(
            "webhook_not_configured",
            "Chưa cấu hình địa chỉ nhận thông báo (AGENDA_WEBHOOK_URL) nên chưa gửi lại được liên kết; "
            "hãy sao chép liên kết hoặc cho phòng quét mã QR.",
        )
    url, row = room_link(user, meeting, room_id, base_url)
    room = Room.objects.select_related("unit").get(pk=room_id)
    return webhook.enqueue(
        {
            "type": "room.link",
            "meeting": {
                "id": meeting.id,
                "title": meeting.title,
                "host_unit": meeting.host_unit.code,
                "scheduled_start": meeting.scheduled_start.isoformat(),
            },
            "room": {"id": room.id, "name": room.name, "unit_code": room.unit.code, "unit_name": room.unit.name},
            "url": url,
            "expires_at": row.expires_at.isoformat(),
            "sent_by": user.username,
        }
    )


def qr_svg(text: str) -> str:
    """`text` as a QR code, an SVG document (black on white with its quiet zone: phones read it off a screen)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(
        out,
        kind="svg",
        scale=1,
        border=4,
        xmldecl=False,
        svgns=True,
        omitsize=True,
        dark="#000",
        light="#fff",
        title="Mã QR liên kết phòng",
        encoding="utf-8",
    )
    return out.getvalue().decode()

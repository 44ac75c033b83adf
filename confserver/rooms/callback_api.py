"""HTTP API for calling a room back (rooms/callback.py), mounted under /api/meetings by rooms/api.py."""

from datetime import datetime

from ninja import Router, Schema

from . import callback, meetings
from .schemas import ErrorOut

router = Router(tags=["meetings"])
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


class RoomLinkOut(Schema):
    room_id: int
    url: str
    expires_at: datetime
    qr_svg: str  # the link as a QR code (SVG), for a phone to read off the console's screen


class ResentOut(Schema):
    room_id: int
    delivery_id: int
    expires_at: datetime


def _base(request) -> str:
    """The address rooms open: the one this request came to when it is one of WS_ALLOWED_ORIGINS (the browsers'
    origins), else the first of them (behind a proxy that hands daphne its own host name)."""
    from django.conf import settings

    here = request.build_absolute_uri("/").rstrip("/")
    allowed = [o.rstrip("/") for o in settings.WS_ALLOWED_ORIGINS]
    return here if here in allowed or not allowed else allowed[0]


@router.get("/{meeting_id}/rooms/{room_id}/link", response={200: RoomLinkOut, **ERRORS})
def room_link(request, meeting_id: int, room_id: int):
    """One room's sign-in link (the one the links dialog hands out) with its QR code; chair side only."""
    url, row = callback.room_link(request.auth, meetings.get_meeting(meeting_id), room_id, _base(request))
    return RoomLinkOut(room_id=room_id, url=url, expires_at=row.expires_at, qr_svg=callback.qr_svg(url))


@router.post("/{meeting_id}/rooms/{room_id}/resend-link", response={202: ResentOut, **ERRORS})
def resend_link(request, meeting_id: int, room_id: int):
    """Send one room its link again through the notification webhook (delivered in the background)."""
    d = callback.resend_link(request.auth, meetings.get_meeting(meeting_id), room_id, _base(request))
    return 202, ResentOut(room_id=room_id, delivery_id=d.id, expires_at=d.payload["expires_at"])

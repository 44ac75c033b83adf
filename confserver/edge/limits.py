"""The edge's limits, read once from settings, and which body a request may send."""

import ipaddress
import re
from dataclasses import dataclass

# Document uploads (confserver/agenda/api.py); matched on the raw path, so any other spelling of
# these paths only gets the small limit. Multipart framing and the title field fit in the margin.
# The one definition: confserver/agenda/uploads.py uses these too (the application's own upload guard).
UPLOAD_PATH_PATTERN = r"/api/agenda/(?:meetings/\d+/documents|documents/\d+/versions)/?"
UPLOAD_PATH = re.compile(UPLOAD_PATH_PATTERN.encode("ascii"))
UPLOAD_MARGIN_BYTES = 1024 * 1024


def too_large_message(limit: int, subject: str = "Nội dung gửi lên") -> str:
    """The one "too large" text (the edge's 413 body_too_large, the application's 413 file_too_large)."""
    size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"
    return f"{subject} vượt quá giới hạn {size}."


def address_key(address: str) -> str:
    """The client an address stands for, for per-address limits: an IPv6 address by its /64 (one
    subscriber holds a whole /64, endless addresses), an IPv4-mapped one as IPv4, anything else as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    upload_body_bytes: int
    session_cookie: bytes
    request_timeout_s: float
    min_body_rate: int
    response_stall_s: float
    ws_frames_per_s: float
    ws_bytes_per_s: int
    ws_burst_s: float
    ws_max_message_bytes: int
    ws_max_queued: int
    ws_max_queued_bytes: int
    ws_max_per_address: int
    ws_exempt_loopback: bool
    ws_send_now: bool = True

    @classmethod
    def from_settings(cls) -> "Limits":
        from django.conf import settings as s

        return cls(
            max_body_bytes=s.HTTP_MAX_BODY_BYTES,
            upload_body_bytes=max(s.HTTP_MAX_BODY_BYTES, s.AGENDA_MAX_UPLOAD_BYTES + UPLOAD_MARGIN_BYTES),
            session_cookie=s.SESSION_COOKIE_NAME.encode("ascii"),
            request_timeout_s=s.HTTP_REQUEST_TIMEOUT_S,
            min_body_rate=s.HTTP_MIN_BODY_RATE,
            response_stall_s=s.HTTP_RESPONSE_STALL_S,
            ws_frames_per_s=s.WS_MAX_FRAMES_PER_S,
            ws_bytes_per_s=s.WS_MAX_BYTES_PER_S,
            ws_burst_s=s.WS_BURST_S,
            ws_max_message_bytes=s.WS_MAX_MESSAGE_BYTES,
            ws_max_queued=s.WS_MAX_QUEUED,
            ws_max_queued_bytes=s.WS_MAX_QUEUED_BYTES,
            ws_max_per_address=s.WS_MAX_PER_ADDRESS,
            ws_exempt_loopback=s.WS_EXEMPT_LOOPBACK,
            ws_send_now=s.WS_SEND_NOW,
        )

    def body_limit(self, target: bytes, cookies: list | None) -> int:
        """The most bytes a request to `target` may send: uploads only from a client with a session
        cookie (only signed-in users upload: uploads.UploadGuard; a bearer token never can).

        The session is not checked here (no database on the reactor); the application refuses a
        forged one, and a forged one only buys the upload limit on the upload paths.
        """
        path = target.split(b"?", 1)[0]
        if UPLOAD_PATH.fullmatch(path) and self._has_session(cookies):
            return self.upload_body_bytes
        return self.max_body_bytes

    def _has_session(self, cookies: list | None) -> bool:
        for header in cookies or ():
            for part in header.split(b";"):
                name, _, value = part.strip().partition(b"=")
                if name == self.session_cookie and value:
                    return True
        return False

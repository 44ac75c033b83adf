"""Content-Security-Policy and Permissions-Policy on every response (issue 13, item 2).

The pages in web/ are static files with no inline script or style attribute, so the policy can be strict:
everything from the page's own origin, the meeting socket on the same host (ws: or wss:), pictures and media
also from data:/blob: (snapshots, MediaStreams). Only the room page and the chair's console may ask for the
camera and microphone; every other powerful feature is off, except the few the pages use on their own origin
(fullscreen, autoplay of the floor's audio, copying a room link to the clipboard).
"""

from django.conf import settings

from .middleware import Middleware

MEDIA_PAGES = ("/web/room.html", "/web/host.html")
# Features the pages use themselves: allowed for their own origin only.
SELF_FEATURES = ("fullscreen", "autoplay", "clipboard-write", "picture-in-picture")
# Everything else a page could ask a browser for: off (names Chromium knows, so it logs no warning).
OFF_FEATURES = (
    "geolocation",
    "payment",
    "usb",
    "serial",
    "hid",
    "midi",
    "display-capture",
    "accelerometer",
    "gyroscope",
    "magnetometer",
    "clipboard-read",
    "encrypted-media",
    "publickey-credentials-get",
    "screen-wake-lock",
    "idle-detection",
    "xr-spatial-tracking",
)


def content_security_policy(host: str | None) -> str:
    """The policy for a request to `host` (host[:port], as the browser wrote it; None: not an allowed host)."""
    sockets = [f"ws://{host}", f"wss://{host}"] if host else []
    connect = ["'self'", *sockets, *settings.CSP_EXTRA_CONNECT_SRC.split()]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def permissions_policy(path: str) -> str:
    media = "(self)" if path in MEDIA_PAGES else "()"
    parts = [f"camera={media}", f"microphone={media}"]
    parts += [f"{name}=(self)" for name in SELF_FEATURES]
    parts += [f"{name}=()" for name in OFF_FEATURES]
    return ", ".join(parts)


def _host(request) -> str | None:
    try:
        return request.get_host()
    except Exception:  # DisallowedHost: the response is an error page, its socket allowance is 'self' alone
        return None


def apply(request, response):
    response.headers.setdefault("Content-Security-Policy", content_security_policy(_host(request)))
    response.headers.setdefault("Permissions-Policy", permissions_policy(request.path))
    return response


class SecurityHeaders(Middleware):
    """Middleware: sets both headers unless a view set its own."""

    def after(self, request, response):
        return apply(request, response)

"""GET /metrics on each daphne worker, answered before Django (no host check, no TLS redirect, no session), and
only to the addresses in METRICS_ALLOWED_ADDRESSES or a request bearing METRICS_TOKEN; others get 403
`metrics_forbidden`. Relay processes serve theirs on their own port (`serve`)."""

import hmac
import ipaddress
import json

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from . import metrics  # noqa: F401  (defines the metrics and registers the relay collector)

PATH = "/metrics"
FORBIDDEN = {
    "code": "metrics_forbidden",
    "message": "Không được phép đọc số đo (metrics) từ địa chỉ này. / Metrics are not served to this client.",
}


def _networks(entries) -> list:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def allowed(client: str | None, authorization: str) -> bool:
    """The client's address is in METRICS_ALLOWED_ADDRESSES (addresses or networks), or it sent METRICS_TOKEN."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks(getattr(settings, "METRICS_ALLOWED_ADDRESSES", [])))


def metrics_app(app):
    """Wrap the HTTP application: /metrics here, everything else to `app`."""

    async def application(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH:
            return await app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        client = (scope.get("client") or (None,))[0]
        if allowed(client, headers.get(b"authorization", b"").decode("latin1")):
            status, content_type, body = 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        else:
            status, content_type = 403, "application/json; charset=utf-8"
            body = json.dumps(FORBIDDEN, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    return application


def serve(port: int, address: str = "127.0.0.1"):
    """A relay process's own metrics port (a thread of prometheus-client's; no token: bind it where only the
    scraper reaches)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=address)

"""The request being served, so that `audit.record` called anywhere below a view knows its address and agent."""

import contextlib
import contextvars
import ipaddress

from confserver.security.middleware import Middleware

# Holds a one-item list while the request is served, emptied when it has been: a task started during the request
# copies the context (asyncio does, and so does asgiref for a sync view's thread) and may outlive it, and what it
# records afterwards must not be put on that request's account, address and agent.
_serving: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


def current_request():
    """The request being served in this context, or None (none, or its response has been returned)."""
    held = _serving.get()
    return held[0] if held else None


def client_address(request) -> str | None:
    """REMOTE_ADDR: the client's behind a proxy when daphne runs with --proxy-headers and the proxy overwrites
    X-Forwarded-For (README, "Production shape"), the same address the sign-in throttle counts."""
    raw = (request.META.get("REMOTE_ADDR") or "").strip() if request is not None else ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def user_agent(request) -> str:
    return (request.META.get("HTTP_USER_AGENT") or "")[:300] if request is not None else ""


class RequestContext(Middleware):
    """Middleware: the request is current while it is served (threads of sync views copy the context)."""

    @contextlib.contextmanager
    def serving(self, request):
        held = [request]
        token = _serving.set(held)
        try:
            yield
        finally:
            held.clear()
            _serving.reset(token)

"""Sign-in throttling: failed password checks counted per (account, client address), per account and per address.

Counters live in Django's cache (Redis when REDIS_URL is set), so every worker sees them; a
refused attempt is refused before any password is hashed. Issue 9, finding 10.
"""

import hashlib
import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from confserver.edge.limits import address_key

log = logging.getLogger("confserver.auth")

THROTTLED_MESSAGE = "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."
BUSY_MESSAGE = "Máy chủ đang bận xử lý đăng nhập. Vui lòng thử lại sau giây lát."

_hashing = threading.BoundedSemaphore(max(1, settings.LOGIN_HASH_CONCURRENCY))


def client_address(request) -> str:
    """The client as the throttle counts it: REMOTE_ADDR, an IPv6 one by its /64 (edge.limits.address_key)."""
    return address_key((request.META.get("REMOTE_ADDR") or "unknown")[:64]) if request is not None else "unknown"


def _key(kind: str, value: str) -> str:
    # Usernames are user input of any length and alphabet: keys hold a digest.
    return f"signin-fail:{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:32]}"


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    # An account is limited per address (so one address cannot lock it for everyone) and, higher, as a whole.
    account = username.casefold()
    return [
        (_key("account-address", f"{account}\n{address}"), settings.LOGIN_FAILURES_PER_ACCOUNT),
        (_key("account", account), settings.LOGIN_FAILURES_PER_ACCOUNT_TOTAL),
        (_key("address", address), settings.LOGIN_FAILURES_PER_ADDRESS),
    ]


def reserve(username: str, address: str) -> bool:
    """Count this attempt as a failure before its password is checked (atomically, so parallel
    guesses cannot all pass one check); False, and nothing counted, when a limit is used up."""
    counted = []
    for key, limit in _keys(username, address):
        cache.add(key, 0, timeout=settings.LOGIN_THROTTLE_WINDOW_S)
        try:
            n = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_THROTTLE_WINDOW_S)
            n = 1
        counted.append(key)
        if n > limit:
            _uncount(counted)
            return False
    return True


def _uncount(keys) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # the window ended meanwhile
            pass


def release(username: str, address: str) -> None:
    """The reserved attempt was not a failed password (no slot, or the right password)."""
    _uncount([k for k, _ in _keys(username, address)])


def note_failure(username: str, address: str) -> None:
    """The reserved attempt was a wrong password: it stays counted."""
    log.warning("sign-in failed: username=%r address=%s", username[:150], address)


def note_success(username: str, address: str) -> None:
    release(username, address)
    account = username.casefold()
    cache.delete_many([_key("account-address", f"{account}\n{address}"), _key("account", account)])


def refusal_message() -> str:
    return THROTTLED_MESSAGE.format(minutes=max(1, round(settings.LOGIN_THROTTLE_WINDOW_S / 60)))


@contextmanager
def hashing_slot():
    """At most LOGIN_HASH_CONCURRENCY password hashes at once per process, so parallel
    guessers cannot take every thread's CPU; yields False when no slot came in time."""
    got = _hashing.acquire(timeout=settings.LOGIN_HASH_WAIT_S)
    try:
        yield got
    finally:
        if got:
            _hashing.release()

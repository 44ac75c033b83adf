"""Outgoing webhook (settings.AGENDA_WEBHOOK_URL; optional AGENDA_WEBHOOK_SECRET signs
the body as X-Confserver-Signature: sha256=<hmac>): POST JSON, never on the request's
time. A delivery row is written with the publication; after commit one background
worker tries it; failures are recorded and retried by `deliver_due()` (run by
`manage.py agenda_webhooks`) with growing delays, up to MAX_ATTEMPTS.
"""

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from .models import WebhookDelivery

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
TIMEOUT_S = 5
BACKOFF_S = (30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)

# The worker is owned here: at most two deliveries in flight, the rest wait.
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agenda-webhook")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


def url() -> str:
    return getattr(settings, "AGENDA_WEBHOOK_URL", "") or ""


def enqueue(payload: dict, *, publication=None) -> WebhookDelivery | None:
    """Record a delivery of `payload` and send it in the background after commit."""
    target = url()
    if not target:
        return None
    d = WebhookDelivery.objects.create(
        publication=publication, url=target, payload=payload, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: _submit(d.id))
    return d


def _submit(delivery_id: int) -> None:
    fut = _executor.submit(_run_in_thread, delivery_id)
    with _pending_lock:
        _pending.add(fut)
    fut.add_done_callback(_forget)


def _forget(fut: Future) -> None:
    with _pending_lock:
        _pending.discard(fut)


def wait_idle(timeout: float = 10) -> bool:
    """Wait for background deliveries (tests, shutdown); True if all finished."""
    with _pending_lock:
        futs = list(_pending)
    for f in futs:
        try:
            f.result(timeout=timeout)
        except Exception:
            return False
    return True


def _run_in_thread(delivery_id: int) -> None:
    close_old_connections()
    try:
        deliver(delivery_id)
    except Exception:
        log.exception("webhook delivery %s crashed", delivery_id)
    finally:
        connection.close()


def _post(target: str, payload: dict) -> int:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "confserver-agenda-webhook/1"}
    secret = getattr(settings, "AGENDA_WEBHOOK_SECRET", "") or ""
    if secret:  # lets the receiver check the call came from us
        headers["X-Confserver-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(target, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
        return resp.status


def deliver(delivery_id: int) -> bool:
    """One attempt at a delivery; True when the receiver answered 2xx."""
    d = WebhookDelivery.objects.filter(pk=delivery_id, delivered_at__isnull=True).first()
    if d is None:
        return False
    status, error = None, ""
    try:
        status = _post(d.url, d.payload)
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))
    ok = status is not None and 200 <= status < 300
    d.attempts += 1
    d.last_status = status
    now = timezone.now()
    if ok:
        d.delivered_at, d.next_attempt_at, d.last_error = now, None, ""
    else:
        d.last_error = error[:500] or f"HTTP {status}"
        more = d.attempts < MAX_ATTEMPTS
        d.next_attempt_at = now + timedelta(seconds=BACKOFF_S[min(d.attempts, len(BACKOFF_S)) - 1]) if more else None
        log.warning("webhook delivery %s to %s failed (attempt %s): %s", d.id, d.url, d.attempts, d.last_error)
    d.save(update_fields=["attempts", "last_status", "delivered_at", "next_attempt_at", "last_error"])
    return ok


def deliver_due(now=None) -> int:
    """Retry every delivery whose time has come; returns how many succeeded."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(delivered_at__isnull=True, next_attempt_at__lte=now).values_list(
        "id", flat=True
    )
    return sum(1 for i in list(due) if deliver(i))

"""Telling a meeting what changed in its speakers and votes: every delegate's socket (confserver/delegates/live.py)
and the chair's consoles (the meeting socket, chair side only), once the change is committed."""

import logging

from django.db import transaction

log = logging.getLogger(__name__)


def log_row(e) -> dict:
    """A timeline row as the console's log reads it (the shape of GET /api/meetings/{id}/timeline's rows)."""
    return {
        "at": e.at.isoformat(),
        "kind": e.kind,
        "room_id": e.room_id,
        "actor": e.actor.username if e.actor_id else None,
        "data": e.data,
    }


def push(meeting_id: int, event: dict, rows=()) -> None:
    """Send `event` after the current transaction commits (at once outside one); the chair's copy carries the
    timeline `rows` of the change as `log` (the console's live log: the delegates' copy does not). A failure to
    deliver is logged: what happened is in the database, and the pages read it again (the hall and the console
    poll)."""
    chair = {**event, "log": [log_row(e) for e in rows]}
    transaction.on_commit(lambda: _push_now(meeting_id, event, chair))


def _push_now(meeting_id: int, event: dict, chair: dict) -> None:
    from confserver.delegates.live import send_to_delegates
    from confserver.signaling import control
    from confserver.signaling.consumers import notify_sync

    try:
        send_to_delegates(meeting_id, dict(event))
        notify_sync(meeting_id, {**chair, control.TO: control.CHAIR})
    except Exception:
        log.exception("meeting %s: pushing %s failed", meeting_id, event.get("event"))

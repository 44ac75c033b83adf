"""The live store written through to the database, and put back from it when the store lost it.

Every change of a meeting's program, queue, mutes or roll call is copied to its
LiveState row; a store that has no state for a meeting (a Redis restart, expired
keys) gets the row back before it is read or changed (issue 9, #9).
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .control import db
from .live import LECTURE, dropped_of

log = logging.getLogger(__name__)

CTL_FIELDS = (
    "mode",
    "source_room",
    "floor_room",
    "floor_may_present",
    "floor_since",
    "floor_limit_s",
    "chair_room",
    "roll_call",
    "dropped",
)


def _load_sync(mid: int, restarted: bool = False):
    from confserver.recording import live as recording
    from confserver.rooms.models import Meeting

    from .models import LiveState

    state = Meeting.objects.filter(pk=mid).values_list("state", flat=True).first()
    if state is None:
        return None
    row = LiveState.objects.filter(meeting_id=mid).first()
    ctl = {"state": state, "rev": row.rev if row else 0}
    if row is not None:
        ctl |= {f: getattr(row, f) for f in CTL_FIELDS}
    # Whether it records: kept in the timeline (recording/live.py); a store in this process's memory lost
    # it with the process, and the in-process relay its recorder.
    ctl[recording.FIELD] = recording.kept_sync(mid, restarted=restarted)
    return ctl, (row.muted if row else []), (row.queue if row else [])


def _save_sync(mid: int, rev: int, fields: dict):
    from .models import LiveState

    fields = fields | {"updated_at": timezone.now()}
    for _ in range(2):
        if LiveState.objects.filter(meeting_id=mid, rev__lt=rev).update(rev=rev, **fields):
            return
        if LiveState.objects.filter(meeting_id=mid).exists():
            return  # a newer change is written already
        try:
            with transaction.atomic():
                LiveState.objects.create(meeting_id=mid, rev=rev, **fields)
            return
        except IntegrityError:  # created meanwhile by another worker (or the meeting is gone)
            continue


async def restore(mid: int, raw) -> bool:
    """Put the meeting's kept state into the store `raw` unless it has it; True if it was put."""
    from confserver.recording import live as recording

    from .live import MemoryStore

    restarted = isinstance(raw, MemoryStore)
    got = await db(_load_sync)(mid, restarted)
    if got is None:
        return False
    put = await raw.restore(mid, *got)
    if put:
        log.info("meeting %s: live state restored from the database", mid)
        if restarted and ((got[0].get(recording.FIELD) or {}).get("failure") or {}).get("code") == "restarted":
            recording.resume_soon(mid)  # it was recording when the process stopped: it records again
    return put


async def save(mid: int, raw):
    """Copy the meeting's durable live state to the database (newest `rev` wins)."""
    view = await raw.view(mid, presence=False)
    ctl = view["ctl"]
    fields = {f: ctl.get(f) for f in CTL_FIELDS}
    fields["mode"] = fields["mode"] or LECTURE
    fields["floor_may_present"] = bool(fields["floor_may_present"])
    fields["roll_call"] = bool(fields["roll_call"])
    fields["dropped"] = sorted(dropped_of(ctl))
    fields["queue"], fields["muted"] = view["queue"], sorted(view["muted"])
    try:
        await db(_save_sync)(mid, int(ctl.get("rev") or 0), fields)
    except Exception:
        log.exception("meeting %s: writing the live state through failed", mid)


class DurableStore:
    """A live store whose durable part is written through and restored on demand."""

    def __init__(self, raw):
        self.raw = raw

    def __getattr__(self, name):
        return getattr(self.raw, name)

    async def ctl_get(self, mid) -> dict:
        ctl = await self.raw.ctl_get(mid)
        if "state" not in ctl and await restore(mid, self.raw):
            ctl = await self.raw.ctl_get(mid)
        return ctl

    async def view(self, mid, *, presence: bool) -> dict:
        v = await self.raw.view(mid, presence=presence)
        if "state" not in v["ctl"] and await restore(mid, self.raw):
            v = await self.raw.view(mid, presence=presence)
        return v

    async def _change(self, name, mid, *args, **kwargs):
        if not await self.raw.has_state(mid):
            await restore(mid, self.raw)  # change the meeting as it was, not an empty one
        out = await getattr(self.raw, name)(mid, *args, **kwargs)
        if out is not False:  # queue_add/queue_remove that changed nothing: no row to write
            await save(mid, self.raw)
        return out

    async def ctl_set(self, mid, **fields):
        return await self._change("ctl_set", mid, **fields)

    async def queue_add(self, mid, room_id):
        return await self._change("queue_add", mid, room_id)

    async def queue_remove(self, mid, room_id):
        return await self._change("queue_remove", mid, room_id)

    async def muted_set(self, mid, room_id, muted):
        return await self._change("muted_set", mid, room_id, muted)

    async def dropped_change(self, mid, room_id, dropped):
        return await self._change("dropped_change", mid, room_id, dropped)

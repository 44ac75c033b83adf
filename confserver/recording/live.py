"""Whether a meeting is being recorded, as the chair decides it (issue 10, item 1).

Under Decision 45/2018/QĐ-TTg the chair decides whether a meeting is recorded: a meeting that goes
live starts recording by itself (RECORDING_DEFAULT_ON), the console stops and restarts it (also in the
test run, if the chair chooses), and it stops when the meeting ends. The relay reports a recorder that
stopped by itself through `recording_failed`. Every start, stop and failure goes into the timeline. A
process that held a running recorder and restarts (a relay process: `relay_started`; the embedded default:
`resume_soon`) records the gap and starts it again.

The live state is the `recording` field of the meeting's ctl hash in the live store:
{on, since, by, failure}; clients read it as `recording {on, since, failure?}` in the snapshot and in the
`recording` event. The timeline is its durable copy (`kept_sync` reads it back after the store lost it).
"""

import asyncio
import contextvars
import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from confserver.errors import Conflict
from confserver.media import service
from confserver.rooms import timeline
from confserver.rooms.models import Meeting, MeetingState, TimelineEvent
from confserver.signaling.control import ACTIVE, Actor, Outcome, _chair_only, current_state, db, program
from confserver.signaling.live import get_store

log = logging.getLogger("confserver.recording")

FIELD = "recording"
STARTED, STOPPED, FAILED = "recording_started", "recording_stopped", "recording_failed"
KINDS = (STARTED, STOPPED, FAILED)

# What the relay reports when the recorder stops by itself, and what the console says about it.
FAILURES = {
    "queue_full": "Ghi hình đã dừng: máy ghi không theo kịp (hàng đợi đầy). Cuộc họp vẫn tiếp tục; "
    "bấm “Ghi hình lại” để ghi tiếp.",
    "disk_error": "Ghi hình đã dừng: lỗi ổ đĩa hoặc hết chỗ lưu bản ghi. Cuộc họp vẫn tiếp tục; "
    "hãy giải phóng ổ đĩa rồi bấm “Ghi hình lại”.",
    "error": "Ghi hình đã dừng do lỗi máy ghi. Cuộc họp vẫn tiếp tục; bấm “Ghi hình lại” để ghi tiếp.",
    "start_failed": "Không bắt đầu ghi hình được. Cuộc họp vẫn tiếp tục; hãy thử “Ghi hình lại”.",
    "stop_failed": "Máy ghi không trả lời khi dừng; ghi hình được coi là đã dừng.",
    "restarted": "Máy chủ vừa khởi động lại nên ghi hình bị gián đoạn; hệ thống đang ghi hình lại. Nếu dấu "
    "“Đang ghi hình” không hiện lại, bấm “Ghi hình lại”.",
}
DETAIL_MAX = 500
RESTART = "restart"  # `by` of a recording started again by a process (relay, or embedded) that restarted
LOCK_TTL_S = 30.0  # longer than a start or stop on a relay takes; a holder that died frees it then
LOCK_WAIT_S = 10.0
# A failure the relay reports while Redis is unreachable is retried this long (a Redis restart takes seconds);
# only errors of reaching Redis or the database are retried (a meeting that does not exist is not).
FAILURE_RETRY_S = 60.0
FAILURE_RETRY_PAUSE_S = 1.0
STALE_MARGIN_S = 2.0
_UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    asyncio.TimeoutError,
    OperationalError,
    InterfaceError,
)

# Inside a start or stop, the change under way: a failure the relay reports from within it (the same
# task, or a task it spawned) is noted here instead of waiting for the lock that change holds.
_changing: contextvars.ContextVar[dict | None] = contextvars.ContextVar("recording_changing", default=None)


# ---- reading ------------------------------------------------------------------

OFF = {"on": False, "since": None, "by": None, "failure": None}


def public(rec: dict | None) -> dict:
    """The recording state as clients read it: {on, since, failure?}."""
    rec = rec or OFF
    out = {"on": bool(rec.get("on")), "since": rec.get("since")}
    if rec.get("failure"):
        out["failure"] = rec["failure"]
    return out


async def state(meeting_id: int) -> dict:
    """The meeting's recording state as kept in the live store."""
    return dict((await get_store().ctl_get(meeting_id)).get(FIELD) or OFF)


def kept_sync(meeting_id: int, *, restarted: bool = False) -> dict:
    """The recording state the timeline last recorded, for a live store that lost it. With `restarted`
    (the store lived in a process that restarted, and its relay with it) a recording that was on is
    reported as stopped by the restart, which nobody recorded (durable.restore then has it resumed)."""
    row = (
        TimelineEvent.objects.filter(meeting_id=meeting_id, kind__in=KINDS)
        .order_by("-at", "-id")
        .values("kind", "at", "data")
        .first()
    )
    if row is None or row["kind"] != STARTED:
        failure = None
        if row is not None and row["kind"] == FAILED:
            failure = _failure(row["data"].get("code", "error"), row["at"])
        return dict(OFF, failure=failure)
    if restarted:
        now = timezone.now()
        with transaction.atomic():  # one row, however many requests restore the meeting at once
            Meeting.objects.select_for_update().filter(pk=meeting_id).first()
            last = TimelineEvent.objects.filter(meeting_id=meeting_id, kind__in=KINDS).order_by("-at", "-id").first()
            if last is not None and last.kind == STARTED:
                timeline.record(
                    Meeting(pk=meeting_id),
                    FAILED,
                    at=now,
                    code="restarted",
                    during="recording",
                    was_on=True,
                    detail="the server process restarted; its relay and recorder with it",
                )
        return dict(OFF, failure=_failure("restarted", now))
    return {"on": True, "since": row["at"].isoformat(), "by": row["data"].get("by"), "failure": None}


def _failure(code: str, at) -> dict:
    return {"code": code, "message": FAILURES.get(code, FAILURES["error"]), "at": at.isoformat()}


def _event(rec: dict, **extra) -> dict:
    return {"event": "recording", **public(rec), **extra}


# ---- the chair's requests ------------------------------------------------------------


async def start(actor: Actor) -> Outcome:
    """The chair starts (or restarts) recording, in the test run or while live."""
    _chair_only(actor)
    async with _locked(actor.meeting_id):
        meeting_state = await current_state(actor.meeting_id)
        if meeting_state not in ACTIVE:
            raise Conflict("bad_state", "Chỉ ghi hình được khi cuộc họp đang chạy thử hoặc đang họp.")
        if (await state(actor.meeting_id))["on"]:
            raise Conflict("already_recording", "Cuộc họp đang được ghi hình.")
        rec = await _start(actor.meeting_id, actor.user, "chair", meeting_state)
    ev = _event(rec, by="chair")
    if not rec["on"]:
        # An error reply to the request; every console still sees the failure.
        await _tell(actor.meeting_id, Outcome(events=[ev]))
        raise Conflict("recording_start_failed", FAILURES["start_failed"])
    return Outcome(reply={"recording": public(rec)}, events=[ev])


async def stop(actor: Actor) -> Outcome:
    """The chair stops recording (the console asks for confirmation first)."""
    _chair_only(actor)
    async with _locked(actor.meeting_id):
        if await current_state(actor.meeting_id) not in ACTIVE:
            raise Conflict("bad_state", "Chỉ dừng ghi hình được khi cuộc họp đang chạy thử hoặc đang họp.")
        if not (await state(actor.meeting_id))["on"]:
            raise Conflict("not_recording", "Cuộc họp đang không được ghi hình.")
        rec = await _stop(actor.meeting_id, actor.user, "chair")
    return Outcome(reply={"recording": public(rec)}, events=[_event(rec, by="chair")])


# ---- the meeting's state ----------------------------------------------------------------


async def state_changed(meeting_id: int, new_state: str) -> list[dict]:
    """Recording follows the meeting: on by itself when it goes live (RECORDING_DEFAULT_ON), off when
    it ends. Returns the events to tell. Never raises: the meeting's state has changed already, and what
    follows it (the `state` event, the end of the relay) must happen whatever recording does; a start or
    stop still under way (a relay slow to answer) is waited for LOCK_WAIT_S, then this goes on without it."""
    try:
        if new_state == MeetingState.LIVE and settings.RECORDING_DEFAULT_ON:
            async with _locked(meeting_id, strict=False):
                if (await state(meeting_id))["on"]:
                    return []  # the chair started it in the test run: it goes on
                rec = await _start(meeting_id, None, "auto", new_state)
            return [_event(rec, by="auto")]
        if new_state == MeetingState.ENDED:
            async with _locked(meeting_id, strict=False):
                if not (await state(meeting_id))["on"]:
                    return []
                rec = await _stop(meeting_id, None, "meeting_ended")
            return [_event(rec, by="meeting_ended")]
    except Exception:
        log.exception("meeting %s: recording did not follow the meeting's state (%s)", meeting_id, new_state)
    return []


# ---- the relay's report -----------------------------------------------------------------


async def recording_failed(meeting_id: int, code: str, detail: str) -> None:
    """The recorder stopped by itself (`queue_full`, `disk_error`, `error`): the meeting's recording
    is off with the failure, the timeline has it, and every room and console hears it. Called by the
    relay, in this process or a relay process (Django and the channel layer, no consumer); never raises."""
    try:
        code = code if code in ("queue_full", "disk_error", "error") else "error"
        detail = str(detail)[:DETAIL_MAX]
        log.warning("meeting %s: recording failed (%s): %s", meeting_id, code, detail)
        inside = _changing.get()
        if inside is not None and inside["meeting_id"] == meeting_id and not inside["done"]:
            # Reported from within a start (or stop) under way, which holds the lock: it applies this.
            inside["failure"] = (code, detail)
            return
        # The live store or the channel layer (Redis) may be unreachable right now: the failure is kept in the
        # timeline at once (a store rebuilt from the database reads it back: off), and the live state and the
        # event are retried until Redis answers (it may come back with its data, still saying "on").
        recorded = False
        reported = timezone.now()  # the timeline's time for it, whenever it can be applied
        give_up = time.monotonic() + FAILURE_RETRY_S
        while True:
            try:
                async with _locked(meeting_id, strict=False):
                    ev = await _fail(meeting_id, code, detail, reported, recorded=recorded)
                recorded = True
                if ev is not None:
                    await _tell(meeting_id, Outcome(events=[ev]))
                return
            except _UNREACHABLE:
                if time.monotonic() >= give_up:
                    raise
                log.warning("meeting %s: recording failure not applied yet (retrying)", meeting_id, exc_info=True)
            if not recorded:
                try:
                    await db(timeline.record)(
                        Meeting(pk=meeting_id),
                        FAILED,
                        at=reported,
                        code=code,
                        detail=detail,
                        during="recording",
                        was_on=None,
                    )
                    recorded = True
                except _UNREACHABLE:
                    log.warning("meeting %s: recording failure not in the timeline yet", meeting_id, exc_info=True)
            await asyncio.sleep(FAILURE_RETRY_PAUSE_S)
    except Exception:
        log.exception("meeting %s: handling a recording failure (%s) failed", meeting_id, code)


# ---- a relay process that restarted ----------------------------------------------------------


async def relay_started(channel: str | None, start=None) -> list[int]:
    """A relay process (`manage.py run_relay --channel …`) started, perhaps after one died: a recording the
    live state says is on for one of its meetings ran in a process that is gone, and nothing would report
    it (the mark would stay on). Each one is recorded as stopped by the restart (the gap is in the
    timeline) and started again, since the chair decided it is recorded; every room and console is told.
    `start`: the relay process's own start_recording (its channel may not be listened to yet). Returns the
    meetings resumed; never raises."""
    if not settings.REDIS_URL:
        return []  # no live state shared with the workers: nothing here to trust or resume
    try:
        meetings = await db(_active_meetings)(channel)
    except Exception:
        log.exception("relay %s: listing its meetings to resume their recording failed", channel)
        return []
    resumed = []
    for mid in meetings:
        try:
            if await _resume(mid, channel, start):
                resumed.append(mid)
        except Exception:
            log.exception("meeting %s: resuming its recording after the relay restarted failed", mid)
    return resumed


def _active_meetings(channel: str | None) -> list[int]:
    from confserver.media.remote import relay_channel

    ids = list(Meeting.objects.filter(state__in=ACTIVE).order_by("id").values_list("id", flat=True))
    if channel and settings.MEDIA_RELAY_CHANNELS:
        ids = [mid for mid in ids if relay_channel(mid) == channel]
    return ids


_resuming: set[asyncio.Task] = set()


def resume_soon(meeting_id: int) -> None:
    """The embedded default: this process restarted (its live store and relay with it) while the meeting was
    recorded; `kept_sync` has put the gap in the timeline. Start recording again in the background, as a
    relay process that restarts does (the store calls this while it is being restored: it cannot wait)."""
    task = asyncio.ensure_future(_resume_restarted(meeting_id))
    _resuming.add(task)
    task.add_done_callback(_resuming.discard)


async def _resume_restarted(meeting_id: int) -> None:
    try:
        async with _locked(meeting_id, strict=False):
            rec = await state(meeting_id)
            if rec["on"] or (rec.get("failure") or {}).get("code") != "restarted":
                return  # the chair acted meanwhile
            meeting_state = await current_state(meeting_id)
            if meeting_state not in ACTIVE:
                return
            rec = await _start(meeting_id, None, RESTART, meeting_state)
        await _tell(meeting_id, Outcome(events=[_event(rec, by=RESTART)]))
    except Exception:
        log.exception("meeting %s: resuming its recording after a restart failed", meeting_id)


async def _resume(meeting_id: int, channel: str | None, start=None) -> bool:
    async with _locked(meeting_id, strict=False):
        if not (await state(meeting_id))["on"]:
            return False
        meeting_state = await current_state(meeting_id)
        if meeting_state not in ACTIVE:
            return False
        await db(timeline.record)(
            Meeting(pk=meeting_id),
            FAILED,
            at=timezone.now(),
            code="restarted",
            during="recording",
            was_on=True,
            detail=f"relay process {channel or ''} restarted; its recorder with it",
        )
        rec = await _start(meeting_id, None, RESTART, meeting_state, start=start)
    await _tell(meeting_id, Outcome(events=[_event(rec, by=RESTART)]))
    log.warning("meeting %s: recording %s after the relay restarted", meeting_id, "resumed" if rec["on"] else "failed")
    return True


# ---- changing it ----------------------------------------------------------------------


async def _start(meeting_id: int, user, by: str, meeting_state: str, start=None) -> dict:
    """Ask the relay (`start`: another way to reach it) to record the program; the new state (off with a
    failure if it could not)."""
    change = {"meeting_id": meeting_id, "failure": None, "done": False}
    token = _changing.set(change)
    try:
        await (start or service.start_recording)(meeting_id, await program(meeting_id))
    except Exception as exc:
        log.exception("meeting %s: starting the recording failed", meeting_id)
        change["failure"] = ("start_failed", _describe(exc))
    finally:
        change["done"] = True
        _changing.reset(token)
    now = timezone.now()
    if change["failure"] is not None:
        code, detail = change["failure"]
        if code != "start_failed":  # it started, then stopped at once: nothing is recording
            await _stop_quietly(meeting_id)
        rec = dict(OFF, failure=_failure(code, now))
        await _set(meeting_id, rec)
        await db(timeline.record)(
            Meeting(pk=meeting_id), FAILED, actor=user, at=now, code=code, detail=detail, during="start", by=by
        )
        return rec
    rec = {"on": True, "since": now.isoformat(), "by": by, "failure": None}
    await _set(meeting_id, rec)
    await db(timeline.record)(
        Meeting(pk=meeting_id), STARTED, actor=user, at=now, by=by, test_run=meeting_state == MeetingState.TEST_RUN
    )
    return rec


async def _stop(meeting_id: int, user, by: str) -> dict:
    """Ask the relay to stop recording; the state is off whatever it answers (a relay that does not
    answer is not recording anything trustworthy), with the failure if it did not answer."""
    change = {"meeting_id": meeting_id, "failure": None, "done": False}
    token = _changing.set(change)
    try:
        await service.stop_recording(meeting_id)
    except Exception as exc:
        log.exception("meeting %s: stopping the recording failed", meeting_id)
        change["failure"] = ("stop_failed", _describe(exc))
    finally:
        change["done"] = True
        _changing.reset(token)
    now = timezone.now()
    rec = dict(OFF)
    await db(timeline.record)(Meeting(pk=meeting_id), STOPPED, actor=user, at=now, by=by)
    if change["failure"] is not None:
        code, detail = change["failure"]
        rec["failure"] = _failure(code, now)
        await db(timeline.record)(
            Meeting(pk=meeting_id), FAILED, actor=user, at=now, code=code, detail=detail, during="stop", by=by
        )
    await _set(meeting_id, rec)
    return rec


async def _fail(meeting_id: int, code: str, detail: str, reported, *, recorded: bool = False) -> dict | None:
    """Record the relay's failure, `reported` at that time (unless `recorded` already); the event to tell
    when it turned a running recording off."""
    now = timezone.now()
    rec = await state(meeting_id)
    # A recording that began after the report is not the one that failed (the chair stopped and restarted it
    # while the report waited for the lock, or for Redis): it goes on. The margin covers clocks of different
    # hosts (the relay's reports, the worker's `since`); a stop and a restart take the chair longer.
    newer = rec.get("since") and datetime.fromisoformat(rec["since"]) > reported + timedelta(seconds=STALE_MARGIN_S)
    was_on = rec["on"] and not newer
    ended = await current_state(meeting_id) == MeetingState.ENDED
    if not recorded:
        await db(timeline.record)(
            Meeting(pk=meeting_id), FAILED, at=reported, code=code, detail=detail, during="recording", was_on=was_on
        )
    if not was_on or ended:
        return None  # stopped (or ended) meanwhile: the failure is in the timeline, nothing else changes
    rec = dict(OFF, failure=_failure(code, now))
    await _set(meeting_id, rec)
    return _event(rec, by="relay")


async def _stop_quietly(meeting_id: int):
    try:
        await service.stop_recording(meeting_id)
    except Exception:
        log.warning("meeting %s: stopping a recorder that failed at start failed too", meeting_id, exc_info=True)


async def _set(meeting_id: int, rec: dict):
    await get_store().ctl_set(meeting_id, **{FIELD: rec})


def _describe(exc: Exception) -> str:
    text = f"{getattr(exc, 'code', type(exc).__name__)}: {exc}"
    return text[:DETAIL_MAX]


async def _tell(meeting_id: int, outcome: Outcome):
    from channels.layers import get_channel_layer

    from confserver.signaling.consumers import tell

    await tell(get_channel_layer(), meeting_id, outcome)


class _locked:
    """The meeting's recording lock, shared by every process: one start, stop or failure at a time,
    so a failure reported while a start is under way is applied after it. `strict=False`: go on
    without it after `wait` seconds (a failure must be recorded even if a holder is stuck)."""

    def __init__(self, meeting_id: int, *, wait: float | None = None, strict: bool = True):
        self.mid, self.strict, self.token = meeting_id, strict, None
        self.wait = LOCK_WAIT_S if wait is None else wait

    async def __aenter__(self):
        store = get_store()
        end = time.monotonic() + self.wait
        while True:
            self.token = await store.try_lock(self.mid, FIELD, LOCK_TTL_S)
            if self.token is not None:
                return self
            if time.monotonic() >= end:
                if self.strict:
                    raise Conflict("recording_busy", "Đang bật hoặc tắt ghi hình; hãy thử lại sau giây lát.")
                log.warning("meeting %s: recording lock still held after %.0f s; going on", self.mid, self.wait)
                return self
            await asyncio.sleep(0.05)

    async def __aexit__(self, *exc):
        if self.token is not None:
            await get_store().unlock(self.mid, FIELD, self.token)

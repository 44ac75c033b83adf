"""This worker's heartbeat: it says the worker is alive, notices a live store that lost its keys,
and runs the local checks and the sweeper (issue 9, #8 and #9).

Started by the first join in a process; one task per process (per event loop in tests).
"""

import asyncio
import logging
import os
import secrets
import socket

from django.conf import settings

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

_task: asyncio.Task | None = None
_work: asyncio.Task | None = None
_epoch: str | None = None  # the store's epoch as of the last recovery (or the first beat)
_seen: str | None = None  # the store's epoch as of the last beat
# Events may have been lost (a beat or a publish failed): once the store answers again, every
# client of this worker takes a fresh snapshot.
resync_due = False


def ensure_started():
    global _task, _work, _epoch, _seen
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _epoch = _seen = None
        _task = loop.create_task(_run(beat, "heartbeat"))
    if _work is None or _work.done() or _work.get_loop() is not loop:
        _work = loop.create_task(_run(work, "recovery and sweeping"))


def worker_ttl() -> float:
    """How long a worker counts as alive after its last beat."""
    return settings.SIGNALING_WORKER_TTL_S or 3 * settings.SIGNALING_HEARTBEAT_S


async def _run(step, what: str):
    failing = False
    while True:
        try:
            await step()
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Redis down: say so once, keep trying until it is back.
            if not failing:
                log.warning(
                    "%s failed (%s); retrying every %s s",
                    what,
                    exc,
                    settings.SIGNALING_HEARTBEAT_S,
                    exc_info=not isinstance(exc, (ConnectionError, OSError)) and "redis" not in type(exc).__module__,
                )
            failing = True
        await asyncio.sleep(settings.SIGNALING_HEARTBEAT_S)


async def beat():
    """Refresh this worker's key; nothing else, so recovery or a long sweep never delays it."""
    global _seen, resync_due
    from .live import get_store

    try:
        _seen = await get_store().heartbeat(WORKER_ID, worker_ttl())
    except Exception:
        _seen, resync_due = None, True  # no recovery or sweeping until the store answers again
        raise


async def work():
    """Recover if the store lost its keys, re-assert this worker's places, sweep."""
    global _epoch, resync_due
    from . import presence, recovery, sweeper

    seen = _seen
    if seen is None:
        return  # no beat has landed since the last failure
    if _epoch is not None and seen != _epoch:
        resync_due = False
        if await recovery.recover(seen):  # else the meetings not back yet are retried next round
            _epoch = seen
    elif resync_due:
        resync_due = False
        await recovery.resync()
    if _epoch is None:
        _epoch = seen
    await presence.check_local()
    await sweeper.sweep()


async def tick():
    """One beat and one round of the work (tests)."""
    await beat()
    await work()

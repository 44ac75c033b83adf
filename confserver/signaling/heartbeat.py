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
_epoch: str | None = None


def ensure_started():
    global _task, _epoch
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _epoch = None
        _task = loop.create_task(_run())


def worker_ttl() -> float:
    """How long a worker counts as alive after its last beat."""
    return settings.SIGNALING_WORKER_TTL_S or 3 * settings.SIGNALING_HEARTBEAT_S


async def _run():
    failing = False
    while True:
        try:
            await tick()
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Redis down: say so once, keep beating until it is back.
            if not failing:
                log.warning("heartbeat failed (%s); retrying every %s s", exc, settings.SIGNALING_HEARTBEAT_S,
                            exc_info=not isinstance(exc, (ConnectionError, OSError)) and "redis" not in type(exc).__module__)
            failing = True
        await asyncio.sleep(settings.SIGNALING_HEARTBEAT_S)


async def tick():
    """One beat: refresh this worker's key, recover if the store lost its keys, sweep."""
    global _epoch
    from . import presence, recovery, sweeper
    from .live import get_store

    epoch = await get_store().heartbeat(WORKER_ID, worker_ttl())
    if _epoch is not None and epoch != _epoch:
        await recovery.recover()
    _epoch = epoch
    await presence.check_local()
    await sweeper.sweep()

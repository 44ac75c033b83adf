"""Process-wide tuning for the long-running servers (daphne workers, relay processes)."""

import gc
import threading

DEFAULT_GC_THRESHOLDS = (50_000, 20, 100)
DEFAULT_GC_FULL_EVERY_S = 600.0


def tune_gc(thresholds: tuple[int, ...] | None = None, full_every_s: float | None = None) -> threading.Event:
    """Keep the cyclic garbage collector from stalling the event loop.

    A worker holding a thousand connections tracks a few hundred thousand objects;
    with CPython's default thresholds a full collection ran every few seconds under
    fan-out load and stopped the loop for 100-240 ms each time (measured with
    bench/signaling.py: the slow events of a run were exactly those). So: everything
    loaded at startup (Django, the ORM, aiortc, PyAV) is frozen out of collection,
    and the young generations are collected less often, which makes full collections
    rare (with the oldest generation on CPython's own rule of 10 middle passes, the
    full collections came back in the bench: events at 220-350 ms). Cycles that
    long-lived objects leave when they die (a closed connection's) are reclaimed by
    a full collection every `full_every_s` instead: one short stall at a known pace.
    Garbage without cycles is freed at once by reference counting, as always.
    Returns an event that stops the periodic collection when set.
    """
    stop = threading.Event()
    if thresholds is None:
        from django.conf import settings

        thresholds, full_every_s = settings.GC_THRESHOLDS, settings.GC_FULL_EVERY_S
    if not thresholds:
        return stop
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    every = DEFAULT_GC_FULL_EVERY_S if full_every_s is None else full_every_s
    if every > 0:
        threading.Thread(target=_collect_every, args=(every, stop), name="gc-full", daemon=True).start()
    return stop


def _collect_every(seconds: float, stop: threading.Event):
    while not stop.wait(seconds):
        gc.collect()

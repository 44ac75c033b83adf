"""Process-wide tuning for the long-running servers (daphne workers, relay processes)."""
import gc

DEFAULT_GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc(thresholds: tuple[int, ...] | None = None):
    """Keep the cyclic garbage collector from stalling the event loop.

    A worker holding a thousand connections tracks a few hundred thousand objects;
    with CPython's default thresholds a full collection ran every few seconds under
    fan-out load and stopped the loop for 100-240 ms each time (measured with
    bench/signaling.py: the slow events of a run were exactly those). So: everything
    loaded at startup (Django, the ORM, aiortc, PyAV) is frozen out of collection,
    and the young generation is collected less often, which makes full collections
    rarer and, with the startup objects out of them, shorter. The oldest generation
    keeps CPython's own rule (after 10 middle-generation passes), so the cycles a
    closed connection leaves behind are still reclaimed. Garbage without cycles is
    freed at once by reference counting, as always.
    """
    if thresholds is None:
        from django.conf import settings

        thresholds = settings.GC_THRESHOLDS
    if not thresholds:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)

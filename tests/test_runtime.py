"""Server-process GC tuning: startup objects frozen, and cycles still reclaimed by the periodic collection."""

import gc
import time
import weakref


class Node:
    pass


def test_tuned_gc_still_reclaims_cycles_of_long_lived_objects():
    from confserver.runtime import tune_gc

    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    stop = tune_gc((10**9, 10**9, 10**9), full_every_s=0.05)  # no automatic collection at all
    try:
        assert gc.get_threshold() == (10**9, 10**9, 10**9)
        assert gc.get_freeze_count() >= frozen_before
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        dead = weakref.ref(a)
        del a, b
        deadline = time.monotonic() + 5
        while dead() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert dead() is None, "the periodic full collection did not reclaim the cycle"
    finally:
        stop.set()
        gc.set_threshold(*before)

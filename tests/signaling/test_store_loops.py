"""The live store serves callers on different event loops: synchronous code (the HTTP API's tell_sync, management
commands) runs each call on a loop of its own, and a Redis connection belongs to the loop that opened it."""

import os

import pytest
from asgiref.sync import async_to_sync

from confserver.signaling import live

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


def test_calls_from_successive_event_loops_each_get_a_working_connection(settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    live.reset_store()
    try:
        store = live.get_store().raw  # the Redis store itself (the durable layer's writes need a database)
        for n in range(3):  # each async_to_sync call from this thread runs on a new loop, closed after it
            async_to_sync(store.ctl_set)(987654, state="scheduled", round=str(n))
            ctl = async_to_sync(store.ctl_get)(987654)
            assert ctl["state"] == "scheduled" and str(ctl["round"]) == str(n)
        async_to_sync(store.clear)(987654)
    finally:
        live.reset_store()

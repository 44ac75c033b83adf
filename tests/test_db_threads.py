"""Database work the app sends to a thread pool hands the thread's connection back when done.

A thread that used the ORM through a plain sync_to_async kept its connection (checked out of the pool on
PostgreSQL) for as long as the thread lived: the relay monitor's timeline write and the first plan's room list
did, and the connection outlived its test ("database test_... is being accessed by other users")."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import KEPT_OPEN, needs_postgresql

pytestmark = pytest.mark.django_db(transaction=True)


async def _connection_left_in(executor) -> bool:
    from django.db import connections

    return await asyncio.get_running_loop().run_in_executor(
        executor, lambda: connections["default"].connection is not None
    )


@pytest.fixture
async def one_thread():
    """The loop's default executor (where thread_sensitive=False work runs) is one thread we can ask."""
    needs_postgresql(KEPT_OPEN)
    executor = ThreadPoolExecutor(1, thread_name_prefix="probe")
    asyncio.get_running_loop().set_default_executor(executor)
    yield executor
    executor.shutdown(wait=True)


async def test_the_failover_timeline_write_returns_its_connection(one_thread):
    from confserver.media import monitor

    await monitor.record_failover(
        {"meeting_id": 2**40, "moves": [{"room": 1}], "relays": ["relay-0"], "reason": "dead", "epoch": 2}
    )
    assert not await _connection_left_in(one_thread)


async def test_the_first_plans_room_list_returns_its_connection(one_thread):
    from confserver.media import steer
    from confserver.rooms.models import Meeting

    with pytest.raises(Meeting.DoesNotExist):  # it read the database (and found no such meeting)
        await steer._first_plan(None, 2**40)
    assert not await _connection_left_in(one_thread)

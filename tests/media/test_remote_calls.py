"""Calls to relay processes (media/remote.py) over the real channel layer (in memory, or Redis with REDIS_URL):
a call its caller gives up on leaves nothing behind. The relay page asks every relay of a meeting for its links each
second and gives up after ops_api.LINK_TIMEOUT_S; a relay that does not answer must not grow the worker's table of
pending calls by one entry a second."""

import asyncio

import pytest

from confserver.media import ops_api, remote


@pytest.fixture
async def client():
    c = remote._client()
    yield c
    if c.reader is not None:
        c.reader.cancel()
        await asyncio.gather(c.reader, return_exceptions=True)
    remote._clients.pop(id(asyncio.get_running_loop()), None)


async def test_link_stats_cut_short_leaves_no_pending_call(client):
    for _ in range(3):
        assert await ops_api._link_stats("relay-that-nobody-serves", 7) is None
    assert client.pending == {}


async def test_a_call_cancelled_by_its_caller_leaves_no_pending_call(client):
    task = asyncio.ensure_future(client.call("relay-that-nobody-serves", "quality", {"meeting_id": 7}))
    await asyncio.sleep(0.2)
    assert len(client.pending) == 1  # waiting for the reply
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert client.pending == {}

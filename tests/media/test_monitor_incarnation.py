"""The monitor marks dead the process it saw dead, not one that took the relay's id meanwhile (issue 11, known
defect): the relay's incarnation is read in the same script as the heartbeats (Registry.dead). Real Redis."""

import asyncio
import os
import uuid

import pytest

from confserver.media import registry
from confserver.media.monitor import Monitor

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the monitor works on Redis (REDIS_URL)")


class RestartDuringScan(registry.Registry):
    """Right after the monitor's scan, a new process registers the dead relay's id (as `run_relay` does)."""

    restart: tuple[str, str] | None = None

    async def dead(self, dead_after_s):
        seen = await super().dead(dead_after_s)
        if self.restart and self.restart[0] in seen:
            relay_id, incarnation = self.restart
            self.restart = None
            assert await self.register(
                relay_id, incarnation, channel=relay_id, address="127.0.0.1", capacity=10, dead_after_s=dead_after_s
            )
        return seen


async def test_a_relay_restarting_between_the_scan_and_the_mark_is_not_marked_dead():
    r = registry.connect(os.environ["REDIS_URL"])
    p = f"test-cascade-{uuid.uuid4().hex[:10]}"
    try:
        monitor = Monitor(r, None, prefix_=p, dead_after_s=0.5, poll_s=0.1)
        reg = monitor.registry = monitor.plans.registry = RestartDuringScan(r, p)
        assert await reg.register(
            "relay-x", "old", channel="relay-x", address="127.0.0.1", capacity=10, dead_after_s=0.5
        )
        assert await reg.dead(0.5) == {}
        await asyncio.sleep(0.7)  # the old process stops beating: dead
        assert await reg.dead(0.5) == {"relay-x": "old"}
        reg.restart = ("relay-x", "new")
        assert await monitor.hold()
        await monitor.step()
        record = (await reg.records(["relay-x"]))[0]
        assert record.incarnation == "new" and record.state == "live", record
        assert await reg.beat("relay-x", "new", 0, 0)  # the new process keeps its id: it beats
    finally:
        keys = [k async for k in r.scan_iter(f"{p}:*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()

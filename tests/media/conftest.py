"""Real aiortc peers over loopback against a real relay, in one event loop."""

import asyncio
import time

import pytest

from confserver.media.bot import Bot
from confserver.media.config import IceConfig
from confserver.media.relay import Relay


@pytest.fixture
async def relay():
    states: list[tuple[str, str]] = []
    relay = Relay(IceConfig.loopback(), on_state=lambda peer, state: states.append((peer, state)))
    relay.test_states = states
    yield relay
    await asyncio.wait_for(relay.close(), 10)


@pytest.fixture
async def make_bot():
    bots: list[Bot] = []

    def make(*args, **kwargs) -> Bot:
        bot = Bot(*args, **kwargs)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        await asyncio.wait_for(bot.close(), 10)


async def join(relay: Relay, *bots: Bot) -> None:
    """Open each bot on the relay and wait until all are connected."""
    for bot in bots:
        await bot.accept(await relay.open_peer(bot.name, await bot.offer()))
    for bot in bots:
        await bot.wait_connected(10)


async def until(predicate, timeout: float = 5.0, what: str = "condition") -> float:
    """Poll `predicate` until true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start

"""Tiers along the cascade (issue 15, item 4), relays in one process: each link carries the best tier of the rooms
below it, over three levels; the layer rates a leaf keeps for the layers held back. (test_leaf_tiers_process.py:
real relay processes, frame rates and link bytes.)"""

import asyncio

import pytest

from confserver.errors import DomainError, NotFound
from confserver.media import links
from confserver.media.bot import Bot
from confserver.media.config import IceConfig
from confserver.media.relay import Relay
from confserver.media.temporal import NO_VIDEO, LayerRates
from confserver.testing.layered import LayeredPublisher, encode_clip

from .conftest import join, until

PATTERN = (0, 2, 1, 2)
SIZE = (1000, 500, 250)  # bytes a frame of T0, T1, T2


def two_seconds(rates: LayerRates, start: float, layers: int = 3) -> None:
    """20 fps for 2 s of the 0-2-1-2 pattern, the layers above `layers - 1` held back upstream."""
    rates._since = start
    for i in range(40):
        tid = PATTERN[i % 4]
        if tid < layers:
            rates.add(tid, SIZE[tid])


def test_the_layers_held_back_keep_their_rate_and_the_base_layer_is_still_measured():
    rates = LayerRates()
    two_seconds(rates, 0.0)
    full = rates.cumulative(now=2.0)
    assert full == (40000.0, 60000.0, 80000.0)
    rates.hold(0, now=2.0)
    rates._since = 2.0
    for i in range(40):  # only T0 comes, at twice the size
        if PATTERN[i % 4] == 0:
            rates.add(0, 2000)
    t0, t01, every = rates.cumulative(now=4.0)
    assert t0 == 0.5 * (40000 + 80000)  # measured, smoothed
    assert t01 - t0 == 20000 and every - t01 == 20000  # T1 and T2 as they were
    rates.hold(NO_VIDEO, now=4.0)
    assert rates.cumulative(now=6.0) == (t0, t01, every)  # nothing comes: nothing changes


def test_layers_never_seen_are_guessed_from_the_base_layer():
    rates = LayerRates()
    rates.hold(0, now=0.0)
    two_seconds(rates, 0.0, layers=1)
    t0, t01, every = rates.cumulative(now=2.0)
    assert t0 == 40000.0
    assert t01 == pytest.approx(t0 * 0.65 / 0.4) and every == pytest.approx(t0 / 0.4)


@pytest.fixture
async def peers():
    made: list = []
    yield made
    for peer in reversed(made):
        await asyncio.wait_for(peer.close(), 10)


async def link(child: Relay, parent: Relay, name: str) -> links.ParentLink:
    """`child` dials `parent` as the relay processes do (rooms and tiers reported), in one process."""
    pid = links.link_peer(name)

    async def report(rooms: list[str]) -> None:
        parent.set_link_rooms(pid, rooms)

    async def report_tier(tiers: list[str]) -> None:
        parent.set_link_tier(pid, tiers)

    return await links.dial(
        child, name, lambda offer: parent.open_link(pid, offer, child.subtree_rooms()), report, report_tier=report_tier
    )


def tier_of(parent: Relay, name: str) -> str:
    return parent.link_stats()[links.link_peer(name)]["tier"]


async def test_each_link_carries_the_best_tier_below_it_over_three_levels(peers):
    root, middle, leaf = (Relay(IceConfig.loopback()) for _ in range(3))
    peers.extend((root, middle, leaf))
    chair = LayeredPublisher("chair", encode_clip(kbps=350))
    m, l_ = Bot("M", publish=False), Bot("L", publish=False)
    peers.extend((chair, m, l_))
    for relay in (root, middle, leaf):
        relay.set_program("chair", ["chair"])
    await chair.accept(await root.open_peer("chair", await chair.offer()))
    await chair.wait_connected(10)
    await join(middle, m)
    await join(leaf, l_)
    await link(middle, root, "middle")
    await link(leaf, middle, "leaf")
    await until(lambda: l_.video[0].frames >= 10 and m.video[0].frames >= 10, 20, "both rooms to decode the chair")
    assert tier_of(root, "middle") == tier_of(middle, "leaf") == "full"

    # The leaf's only room on T0: the leaf's link carries T0; the middle's still all (its own room is full).
    leaf.pin_tier("L", "t0")
    await until(lambda: leaf.link_stats()["parent"]["tier"] == "t0", 5, "the leaf to have its link carry T0")
    assert tier_of(middle, "leaf") == "t0" and tier_of(root, "middle") == "full"
    # the chair's view for a source below: none; the low layer's track: the leaf's room at T0 may step down to it
    # (the middle looks at what follows its tracks every links.TIER_CHECK_S, so after the leaf's report)
    want = ["full", "audio", "low"]
    await until(lambda: middle.link_stats()["parent"]["tiers"] == want, 5, "the middle to ask for the low layer")

    # The middle's room on audio only, the leaf's on T0: the middle's link carries T0 (the best below it).
    middle.pin_tier("M", "audio")
    await until(lambda: tier_of(root, "middle") == "t0", 5, "the middle's link to carry T0")

    # The leaf's room back to full: both links carry everything again, and it gets every frame.
    leaf.pin_tier("L", "full")
    await until(lambda: tier_of(root, "middle") == "full", 5, "the middle's link to carry everything again")
    await asyncio.sleep(1.0)
    seen = l_.video[0].frames
    await asyncio.sleep(2.0)
    assert (l_.video[0].frames - seen) / 2.0 >= 18


async def test_a_link_tier_that_names_no_tier_or_no_link_is_refused(peers):
    relay = Relay(IceConfig.loopback())
    peers.append(relay)
    for bad in ("bogus", [], ["t0", 2], [["t0"]], None):
        with pytest.raises(DomainError) as refused:
            relay.set_link_tier("link:leaf", bad)
        assert refused.value.code == "media.bad_tier"
    with pytest.raises(NotFound):
        relay.set_link_tier("link:leaf", ["t0", "audio"])


async def test_the_floor_rooms_own_picture_does_not_come_back_down_to_a_leaf_where_nobody_watches_it(peers):
    root, leaf = Relay(IceConfig.loopback()), Relay(IceConfig.loopback())
    peers.extend((root, leaf))
    chair, floor = Bot("chair", (30, 40, 220)), Bot("floor", (220, 30, 30))
    peers.extend((chair, floor))
    for relay in (root, leaf):
        relay.set_program("chair", ["chair", None], "chair")
    await join(root, chair)
    await join(leaf, floor)
    await link(leaf, root, "leaf")
    await until(lambda: floor.video[0].frames >= 5, 20, "the leaf's room to see the chair")

    # The floor to the leaf's only room: it watches the chair (track 1); its own picture (track 0) has nobody to
    # watch it on the leaf, so the root does not send it back down.
    for relay in (root, leaf):
        relay.set_program("floor", ["chair", "floor"], "chair")
    await until(
        lambda: leaf.link_stats()["parent"]["tiers"] == ["audio", "full", "audio"], 5, "track 0 to carry no video"
    )
    seen = chair.video[0].frames
    await until(lambda: chair.video[0].frames >= seen + 10, 10, "the chair to see the floor room")
    await asyncio.sleep(0.5)  # what was on the way
    echo = root.link_stats()[links.link_peer("leaf")]["octets_out"]
    seen = floor.video[0].frames
    await asyncio.sleep(2.0)
    after = root.link_stats()[links.link_peer("leaf")]["octets_out"]
    assert after["video0"] == echo["video0"]  # no echo
    assert after["video1"] > echo["video1"] and floor.video[0].frames >= seen + 10  # it still sees the chair

    # The floor back to the chair: track 0 carries the chair again, the leaf's room sees it.
    for relay in (root, leaf):
        relay.set_program("chair", ["chair", None], "chair")
    await until(
        lambda: leaf.link_stats()["parent"]["tiers"] == ["full", "audio", "audio"], 5, "track 0 to carry video again"
    )
    seen = floor.video[0].frames
    await until(lambda: floor.video[0].frames >= seen + 10, 10, "the leaf's room to see the chair again")

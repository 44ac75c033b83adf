"""Relay-to-relay links (issue 11, item 2) between relays in one process: three levels, loss on a link
answered by that hop, a leaf moving to another parent. (test_links_process.py: real relay processes.)"""

import asyncio
import time

import pytest

from confserver.media import links
from confserver.media.bot import Bot, close_to, decode_errors
from confserver.media.config import IceConfig
from confserver.media.relay import Relay

from .conftest import join, until

CHAIR, ROOT_ROOM, MID_ROOM, LEAF_ROOM, FLOOR = "room-1", "room-2", "room-3", "room-4", "room-5"
COLOURS = {
    CHAIR: (30, 40, 220),
    ROOT_ROOM: (30, 200, 40),
    MID_ROOM: (200, 60, 200),
    LEAF_ROOM: (230, 200, 30),
    FLOOR: (220, 30, 30),
}


@pytest.fixture
async def relays():
    made: list[Relay] = []

    def make() -> Relay:
        made.append(Relay(IceConfig.loopback()))
        return made[-1]

    yield make
    for relay in reversed(made):
        await asyncio.wait_for(relay.close(), 10)


@pytest.fixture
async def bots():
    made: list[Bot] = []

    def make(name: str, **kwargs) -> Bot:
        made.append(Bot(name, COLOURS[name], extra_audio=1, **kwargs))
        return made[-1]

    yield make
    for bot in made:
        await asyncio.wait_for(bot.close(), 10)


def program(source: str | None) -> tuple:
    """As local.apply_program makes it: video (the source, else the chair), audio (chair, source), the source's view."""
    return (source or CHAIR, [CHAIR, source], CHAIR)


async def link(child: Relay, parent: Relay, name: str) -> links.ParentLink:
    """`child` dials `parent` the way the relay processes do, in one process."""
    pid = links.link_peer(name)

    async def report(rooms: list[str]) -> None:
        parent.set_link_rooms(pid, rooms)

    return await links.dial(child, name, lambda offer: parent.open_link(pid, offer, child.subtree_rooms()), report)


def shows(bot: Bot, room: str) -> bool:
    pictures = bot.video[0].pictures
    return bool(pictures) and close_to(pictures[-1].colour, COLOURS[room])


async def keeps_showing(bot: Bot, room: str, what: str, timeout: float = 10.0) -> None:
    await until(lambda: shows(bot, room), timeout, what)
    seen = bot.video[0].frames
    await until(lambda: bot.video[0].frames >= seen + 5, 5, f"{what}: more pictures")
    assert all(close_to(p.colour, COLOURS[room]) for p in bot.video[0].pictures[seen:]), what


async def test_three_levels_the_floor_room_at_the_bottom_becomes_the_program_at_the_top(relays, bots):
    root, middle, leaf = relays(), relays(), relays()
    for relay in (root, middle, leaf):
        relay.set_program(*program(None))
    chair, top, mid, bottom, floor = bots(CHAIR), bots(ROOT_ROOM), bots(MID_ROOM), bots(LEAF_ROOM), bots(FLOOR)
    await join(root, chair, top)
    await join(middle, mid)
    await join(leaf, bottom, floor)
    await link(middle, root, "middle")
    await link(leaf, middle, "leaf")
    await keeps_showing(bottom, CHAIR, "the bottom room to see the chair, two levels up")
    # the middle reported its own room and the leaf's up to the root
    await until(lambda: set(root._via) == {MID_ROOM, LEAF_ROOM, FLOOR}, 5, "the rooms below, at the root")

    for relay in (root, middle, leaf):
        relay.set_program(*program(FLOOR))
    await keeps_showing(top, FLOOR, "the root's room to see the floor room two levels down")
    await keeps_showing(chair, FLOOR, "the chair to see it")
    await keeps_showing(mid, FLOOR, "the middle's room to see it")
    await keeps_showing(bottom, FLOOR, "its neighbour on the leaf to see it")
    await keeps_showing(floor, CHAIR, "the floor room to see the chair")
    heard = top.audio[1].frames
    await until(lambda: top.audio[1].frames > heard + 20, 5, "the floor room's sound at the root")
    assert top.audio[1].loud > 0

    # back to the chair: nothing climbs any more
    for relay in (root, middle, leaf):
        relay.set_program(*program(None))
    await keeps_showing(top, CHAIR, "the root's room back on the chair")
    await keeps_showing(bottom, CHAIR, "the bottom room back on the chair")
    sent = leaf.link_stats()["parent"]["packets_out"]["video0"]
    await asyncio.sleep(0.5)
    assert leaf.link_stats()["parent"]["packets_out"]["video0"] == sent


def drop_every(link: links.ParentLink, nth: int, pt: int) -> list[int]:
    """Lose every nth packet of payload type `pt` arriving on the link's socket (loopback loses none);
    returns the count dropped so far (a one-element list)."""
    dtls = link.pc.getTransceivers()[0].receiver.transport
    protocol = dtls.transport._connection._nominated[1].protocol
    received = protocol.datagram_received
    count, dropped = [0], [0]

    def lossy(data: bytes, addr) -> None:
        if 127 < data[0] < 192 and data[1] & 0x7F == pt:
            count[0] += 1
            if count[0] % nth == 0:
                dropped[0] += 1
                return
        received(data, addr)

    protocol.datagram_received = lossy
    return dropped


async def test_loss_on_a_link_is_repaired_by_that_hop(relays, bots):
    root, leaf = relays(), relays()
    for relay in (root, leaf):
        relay.set_program(*program(None))
    chair = bots(CHAIR)
    room = bots(LEAF_ROOM)
    await join(root, chair)
    await join(leaf, room)
    parent = await link(leaf, root, "leaf")
    await keeps_showing(room, CHAIR, "the leaf's room to see the chair")
    errors = decode_errors()
    down = parent.down["video"][0]
    dropped_frames = down.assembler.frames_dropped
    lost = drop_every(parent, 5, root._peers["link:leaf"].slots["video"][0].pt)
    shown = room.video[0].frames
    await until(lambda: lost[0] >= 10, 20, "packets lost on the link")
    await until(lambda: room.video[0].frames >= shown + 30, 10, "more pictures")
    # the root answered the leaf's NACKs from its own history: no frame went missing below the link
    assert root.link_stats()["link:leaf"]["retransmitted"] >= lost[0] * 0.8
    assert down.assembler.frames_dropped == dropped_frames
    assert decode_errors() == errors
    assert (await room.inbound_stats("video"))["packets_lost"] == 0
    assert all(close_to(p.colour, COLOURS[CHAIR]) for p in room.video[0].pictures[shown:])


async def test_a_leaf_moving_to_another_parent_keeps_the_picture(relays, bots):
    """A backup root the publishers also feed (issue 11, item 4): the leaf dials it, and its rooms
    go over at a keyframe; the old link closes after."""
    root, backup, leaf = relays(), relays(), relays()
    for relay in (root, backup, leaf):
        relay.set_program(*program(None))
    chair, chair_again = bots(CHAIR), Bot(CHAIR, COLOURS[CHAIR], extra_audio=1)
    try:
        room = bots(LEAF_ROOM)
        await join(root, chair)
        await join(backup, chair_again)
        await join(leaf, room)
        first = await link(leaf, root, "leaf")
        await keeps_showing(room, CHAIR, "the leaf's room to see the chair")
        errors = decode_errors()
        moved_at = time.monotonic()
        await link(leaf, backup, "leaf")
        await until(lambda: first.state == "closed", 5, "the old link to close")
        await keeps_showing(room, CHAIR, "the leaf's room to see the chair through the backup")
        assert room.video[0].pictures[-1].at > moved_at + 2
        times = [p.at for p in room.video[0].pictures if p.at > moved_at - 0.5]
        assert max(b - a for a, b in zip(times, times[1:])) < 0.5, "a gap in the picture"
        assert decode_errors() == errors
        assert backup.link_stats()["link:leaf"]["packets_out"]["video0"] > 0
    finally:
        await chair_again.close()

"""The room given the floor, or broadcast, sees the chair (issue 12, item 2), in the relay of this process.

The program dicts are meeting control's; `local.apply_program` turns them into routes, as it does for
every program change. Each bot sends its own colour; what a bot decodes on its video slot 0 is what
its room's screen shows.
"""

import asyncio

from confserver.media import local
from confserver.media.bot import close_to

from .conftest import join, until

CHAIR, A, B, C = 1, 2, 3, 4
COLOURS = {CHAIR: (30, 40, 220), A: (220, 30, 30), B: (30, 200, 40), C: (230, 200, 30)}


def program(mode: str, source: int | None) -> dict:
    return {
        "mode": mode,
        "source_room": source,
        "floor_room": source if mode == "floor" else None,
        "chair_room": CHAIR,
        "floor_may_present": False,
    }


async def sees(bot, room: int, what: str, timeout: float = 5.0) -> None:
    """Wait until `bot` decodes `room`'s colour, then check it keeps decoding it (not a passing frame)."""
    await until(
        lambda: bot.video[0].frames and close_to(bot.video[0].pictures[-1].colour, COLOURS[room]), timeout, what
    )
    seen = bot.video[0].frames
    await until(lambda: bot.video[0].frames >= seen + 5, 3, f"{what}: more pictures")
    assert all(close_to(p.colour, COLOURS[room]) for p in bot.video[0].pictures[seen:]), what


async def test_the_broadcast_room_sees_the_chair_not_the_floor_room_before_it(relay, make_bot):
    bots = {room: make_bot(local.peer_id(room), colour, extra_audio=1) for room, colour in COLOURS.items()}
    await join(relay, *bots.values())
    local.apply_program(relay, program("lecture", None))
    await sees(bots[B], CHAIR, "B to see the chair in lecture mode")

    local.apply_program(relay, program("floor", B))
    await sees(bots[A], B, "A to see B speaking")
    await sees(bots[C], B, "C to see B speaking")
    await sees(bots[B], CHAIR, "B, speaking, to see the chair")

    local.apply_program(relay, program("broadcast", C))
    await sees(bots[C], CHAIR, "C, broadcast, to see the chair (it watched B before)")
    await sees(bots[B], C, "B to see C")
    await sees(bots[A], C, "A to see C")
    await sees(bots[CHAIR], C, "the chair to see C")


async def test_the_floor_room_sees_the_chair_not_the_broadcast_room_before_it(relay, make_bot):
    bots = {room: make_bot(local.peer_id(room), colour, extra_audio=1) for room, colour in COLOURS.items()}
    await join(relay, *bots.values())
    local.apply_program(relay, program("broadcast", C))
    await sees(bots[A], C, "A to see C broadcast")
    await sees(bots[C], CHAIR, "C, broadcast, to see the chair")

    local.apply_program(relay, program("floor", A))
    await sees(bots[A], CHAIR, "A, given the floor, to see the chair (it watched C before)")
    await sees(bots[C], A, "C to see A speaking")
    await sees(bots[B], A, "B to see A speaking")
    # A hears the chair on slot 0 and not itself on slot 1
    heard = bots[A].audio[1].frames
    await asyncio.sleep(0.5)
    assert bots[A].audio[1].frames == heard, "the floor room does not hear itself"
    assert bots[A].audio[0].loud > 0, "the floor room hears the chair"

    local.apply_program(relay, program("lecture", None))
    await sees(bots[A], CHAIR, "A back in lecture mode")
    await sees(bots[C], CHAIR, "C back in lecture mode")


async def test_a_source_that_joins_later_sees_the_chair(relay, make_bot):
    chair, b = make_bot(local.peer_id(CHAIR), COLOURS[CHAIR]), make_bot(local.peer_id(B), COLOURS[B])
    await join(relay, chair, b)
    local.apply_program(relay, program("floor", A))  # A's socket has the floor; its media comes after

    a = make_bot(local.peer_id(A), COLOURS[A])
    await join(relay, a)
    await sees(a, CHAIR, "A, opening its media while it has the floor, to see the chair")
    await sees(b, A, "B to see A")

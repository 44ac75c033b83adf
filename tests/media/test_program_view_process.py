"""The production shape (two daphne workers, a relay process, Redis): the room given the floor, or
broadcast, sees the chair (issue 12, item 2), driven by the chair's console messages over the socket."""

import aiohttp

from confserver.media.bot import Bot, close_to
from confserver.testing.wsclient import MeetingClient

from .test_relay_process import deployment, publish, pytestmark, until  # noqa: F401 (fixture, skip mark)

CHAIR_COLOUR, B_COLOUR, C_COLOUR = (30, 40, 220), (30, 200, 40), (230, 200, 30)


async def watches(bot: Bot, colour, what: str) -> None:
    await until(lambda: bot.video[0].frames and close_to(bot.video[0].pictures[-1].colour, colour), 10, what)
    seen = bot.video[0].frames
    await until(lambda: bot.video[0].frames >= seen + 5, 5, f"{what}: more pictures")
    assert all(close_to(p.colour, colour) for p in bot.video[0].pictures[seen:]), what


async def test_floor_and_broadcast_rooms_see_the_chair_through_the_relay_process(deployment):  # noqa: F811
    (w1, w2), seed = deployment
    room_b, room_c = seed["rooms"][:2]
    chair_bot = Bot("chair", CHAIR_COLOUR, extra_audio=1)
    b_bot = Bot("B", B_COLOUR, extra_audio=1)
    c_bot = Bot("C", C_COLOUR, extra_audio=1)
    async with aiohttp.ClientSession() as http:
        chair = await MeetingClient(http, w1, seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        b = await MeetingClient(http, w2, seed["meeting_id"], token=room_b["token"]).connect()
        c = await MeetingClient(http, w1, seed["meeting_id"], token=room_c["token"]).connect()
        try:
            for client in (chair, b, c):
                assert (await client.request("join"))["type"] == "ok"
            for client, bot in ((chair, chair_bot), (b, b_bot), (c, c_bot)):
                await publish(client, bot)

            assert (await chair.request("grant_floor", room_id=room_b["room_id"]))["type"] == "ok"
            await watches(c_bot, B_COLOUR, "C to see B speaking")
            await watches(b_bot, CHAIR_COLOUR, "B, speaking, to see the chair")

            assert (await chair.request("broadcast_room", room_id=room_c["room_id"]))["type"] == "ok"
            await watches(c_bot, CHAIR_COLOUR, "C, broadcast, to see the chair (it watched B before)")
            await watches(b_bot, C_COLOUR, "B to see C")

            assert (await chair.request("grant_floor", room_id=room_b["room_id"]))["type"] == "ok"
            await watches(b_bot, CHAIR_COLOUR, "B, given the floor while C was broadcast, to see the chair")
            await watches(c_bot, B_COLOUR, "C to see B")
        finally:
            for client in (chair, b, c):
                await client.close()
            for bot in (chair_bot, b_bot, c_bot):
                await bot.close()

"""The relay's figures on /metrics: real aiortc bots through a real relay in this process (issue 13, item 5).

The collector reads the relays of media/local.py when scraped; the test's relay is put there for the test. The
scrape goes through a relay process's own metrics port (`observability.endpoint.serve`, what
`run_relay --metrics-port` starts), read from another thread as Prometheus would.
"""

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from confserver.media import local
from confserver.observability import endpoint
from confserver.testing import live
from tests.media.conftest import join, make_bot, relay, until  # noqa: F401  (fixtures)

RED, BLUE = (220, 30, 30), (30, 200, 40)
MEETING = -9_005  # no real meeting has it


def sample(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                return s.value
    raise AssertionError(f"{name} not in the scrape")


async def test_packets_forwarded_and_keyframe_requests_move_and_survive_the_peer(relay, make_bot):  # noqa: F811
    port = live.free_port()
    server, thread = endpoint.serve(port)
    local._relays[MEETING] = relay
    try:
        async with aiohttp.ClientSession() as http:

            async def scrape() -> str:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    assert r.status == 200
                    return await r.text()

            before = await scrape()
            a, s = make_bot("A", RED), make_bot("S", BLUE)
            await join(relay, a, s)
            relay.set_program("A", ["A"])
            await until(lambda: s.video[0].frames >= 20, 8, "S to decode A")
            await until(lambda: relay.stats()["A"].bitrate_in_kbps > 20, 5, "the relay's rates")
            assert await s.request_keyframe()  # S's PLI: the relay asks A for a keyframe
            await until(lambda: relay.stats()["A"].keyframe_requests_out >= 1, 3, "a keyframe request to A")
            sent = relay.stats()["S"].packets_out  # before the scrape: counts only grow
            during = await scrape()

            forwarded = sample(during, "confserver_relay_packets_forwarded_total") - sample(
                before, "confserver_relay_packets_forwarded_total"
            )
            assert forwarded >= sent > 0
            assert sample(during, "confserver_relay_packets_received_total") > sample(
                before, "confserver_relay_packets_received_total"
            )
            assert (
                sample(during, "confserver_relay_keyframe_requests_total")
                >= sample(before, "confserver_relay_keyframe_requests_total") + 1
            )
            assert sample(during, "confserver_relay_rooms") >= 2 and sample(during, "confserver_relay_meetings") >= 1
            assert sample(during, "confserver_relay_bitrate_in_bps") > 20_000
            assert sample(during, "confserver_relay_packets_lost_total") >= 0

            # A room that leaves takes nothing away: its packets stay in the totals (counters never go back).
            out_of_s = relay.stats()["S"].packets_out
            await relay.close_peer("S")
            after = await scrape()
            assert (
                sample(after, "confserver_relay_packets_forwarded_total")
                >= sample(before, "confserver_relay_packets_forwarded_total") + out_of_s
            )
            assert sample(after, "confserver_relay_rooms") == sample(during, "confserver_relay_rooms") - 1
    finally:
        local._relays.pop(MEETING, None)
        server.shutdown()
        server.server_close()
        thread.join(5)
        await asyncio.sleep(0)

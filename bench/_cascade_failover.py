"""Failover case of bench/cascade.py (issue 11, item 4): a daphne worker pair, two `run_relay`, a
`run_relay_monitor`, Redis (REDIS_URL), MEDIA_CASCADE on; --rooms aiortc bots (colours of their own, publishing) and
the chair on one relay; that relay killed with SIGKILL; each room re-offers when told `relay_move`. The bots run in
--bot-procs processes of their own (tests/media/botproc.py; the chair in one more), this one only signals. Figure:
`failover_max_s`, the worst room's time from the kill until its new connection shows the chair again: the kernel
arrival of the first keyframe of the chair's video given to its decoder; beside it the time its first decoded picture
of the chair came (`failover_picture_max_s`, which a stalled bot process delays). With --priority nice (the default)
this process and all it starts run in a session of their own at autogroup nice -10 (bench/_cascade_drain.py).
Last line: one JSON object."""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")


async def main(n_rooms: int, bot_procs: int) -> dict:
    import aiohttp
    import django

    django.setup()
    from confserver.media import registry
    from confserver.media.plans import Plans
    from confserver.testing import live
    from confserver.testing.wsclient import MeetingClient
    from tests.media.botproc import BotProcess
    from tests.media.test_drain_process import _publish
    from tests.media.test_failover_process import CHAIR_COLOUR, start, stop

    channels = ["relay-bfo-0", "relay-bfo-1"]
    tmp = Path(tempfile.mkdtemp(prefix="cascade-failover-"))
    ports = [live.free_port(), live.free_port()]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        env = live.server_env(db_url, ports, MEDIA_RELAY_CHANNELS=",".join(channels), MEDIA_CASCADE="1")
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(live.run_python(env, "confserver.testing.seed", "--rooms", str(n_rooms)))
        r = registry.connect(os.environ["REDIS_URL"])
        plans = Plans(r, f"{env['LIVE_PREFIX']}:cascade")
        procs = {c: start(env, tmp, "run_relay", "--channel", c) for c in channels}
        monitor = start(env, tmp, "run_relay_monitor")
        hosts: list[BotProcess] = []
        try:
            for n in range(1 + bot_procs):
                hosts.append(await BotProcess.start(tmp / f"bots{n}.log"))
            host = [hosts[0]] + [hosts[1 + i % bot_procs] for i in range(n_rooms)]
            end = time.monotonic() + 90
            while len(await plans.registry.live(1.2)) < 2:
                assert time.monotonic() < end, "relays did not register"
                await asyncio.sleep(0.2)
            with live.daphne(env, ports[0], tmp / "w1.log"), live.daphne(env, ports[1], tmp / "w2.log"):
                w = [f"http://127.0.0.1:{p}" for p in ports]
                async with aiohttp.ClientSession() as http:
                    clients = [
                        await MeetingClient(http, w[0], seed["meeting_id"], cookie=seed["host_cookie"]).connect()
                    ]
                    clients += [
                        await MeetingClient(http, w[i % 2], seed["meeting_id"], token=room["token"]).connect()
                        for i, room in enumerate(seed["rooms"])
                    ]
                    for c in clients:
                        assert (await c.request("join"))["type"] == "ok"
                    colours = [CHAIR_COLOUR] + [(40 + 13 * i % 200, 200 - 11 * i % 150, 60) for i in range(n_rooms)]
                    for i, c in enumerate(clients):
                        await _publish(c, host[i], f"b{i}", colours[i], publish=True)
                    await asyncio.gather(
                        *(
                            host[i].call("wait_picture", timeout=70, name=f"b{i}", colour=CHAIR_COLOUR, wait_s=60)
                            for i in range(1, len(clients))
                        )
                    )
                    victim = (await plans.load(seed["meeting_id"])).root
                    pictured: dict[int, float] = {}

                    async def follow(i):  # a dead relay: the old connection goes, a new one is built
                        await clients[i].relay_moves.get()
                        await host[i].call("close", name=f"b{i}")
                        await _publish(clients[i], host[i], f"b{i}'", colours[i], publish=True)
                        if i:
                            pictured[i] = await host[i].call(
                                "wait_picture", timeout=70, name=f"b{i}'", colour=CHAIR_COLOUR, wait_s=60
                            )

                    followers = [asyncio.ensure_future(follow(i)) for i in range(len(clients))]
                    procs[victim].kill()
                    killed = time.monotonic()
                    await asyncio.wait_for(asyncio.gather(*followers), 90)
                    shown = {}  # the first keyframe of the chair's video on the new connection, at the kernel
                    for i in pictured:
                        got = await host[i].call("report", names=[f"b{i}'"], colour=CHAIR_COLOUR, lo=killed, hi=1e12)
                        keys = [at for at, key in got["bots"][f"b{i}'"]["frames"] if key]
                        shown[i] = keys[0] if keys else pictured[i]
                    for c in clients:
                        await c.close()
        finally:
            for p in hosts:
                await p.stop()
            stop(monitor)
            for proc in procs.values():
                stop(proc)
            keys = [k async for k in r.scan_iter(f"{env['LIVE_PREFIX']}:*")]
            if keys:
                await r.delete(*keys)
            await r.aclose()
    took = sorted(at - killed for at in shown.values())
    pictures = sorted(at - killed for at in pictured.values())
    return {
        "failover_rooms": len(took),
        "failover_min_s": round(took[0], 2),
        "failover_p50_s": round(took[len(took) // 2], 2),
        "failover_max_s": round(took[-1], 2),
        "failover_picture_max_s": round(pictures[-1], 2),
        "failover_bot_processes": bot_procs,
        "failover_load": os.getloadavg()[0],
    }


if __name__ == "__main__":
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")  # as bench/_cascade_fanout.py
    from _cascade_drain import ahead_of_the_machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=12)
    parser.add_argument("--bot-procs", type=int, default=3)
    parser.add_argument("--priority", choices=("nice", "none"), default="nice")
    args = parser.parse_args()
    niced = args.priority == "nice" and ahead_of_the_machine()
    got = asyncio.run(main(args.rooms, args.bot_procs))
    print(json.dumps(got | {"failover_priority": "nice -10" if niced else "none"}))

"""The production shape on loopback (issue 13, item 1): bin/prod (nginx with TLS, 2 daphne workers, 2 relays,
supervised) on a throwaway PostgreSQL database and Redis prefixes of its own. Bounded; stops by itself.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/confserver REDIS_URL=redis://127.0.0.1:6379/0 \
        .venv/bin/python bench/production.py [--joins 100] [--rooms 120]

A "join" is what a room does to come in: open the meeting socket (a new TCP connection; over https a full TLS
handshake with nginx, which verifies against the self-signed certificate), send `join`, get the reply with the
snapshot; the socket is closed again. https joins through nginx and plain-http joins straight to the workers
alternate, in the same run. Then the worker holding the most of 20 joined rooms is SIGKILLed (twice, one worker
each time): each of its rooms reconnects through nginx (a new attempt every 0.1 s) and joins with `resume`;
`worker_kill_resume_max_s` is the slowest, from the kill. Then the meeting's relay process is SIGKILLed while the
chair and 6 rooms (aiortc bots through nginx) decode through it: the channel's loaded standby process
(confserver/deploy/relay.py) takes over and tells the sockets `relay_move` (signaling/relayrestart.py), each bot
rebuilds its peer and offers again. `relay_restart_s` is from the kill to the last room decoding the chair's picture
again (until 2026-12-02 it was to the first answer to a new offer, now `relay_first_answer_s`); `relay_told_s`: to
the first `relay_move`; `relay_process_back_s`: the supervisor starting the killed process again.

Last line: {"https_join_p99_ms", "http_join_p99_ms", "worker_kill_resume_max_s", "relay_restart_s", ...}.
Goals: https_join_p99_ms <= 1.5 x http_join_p99_ms, worker_kill_resume_max_s <= 5, relay_restart_s <= 5.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from confserver.testing import live, prodshape  # noqa: E402
from confserver.testing.wsclient import MeetingClient  # noqa: E402

TOTAL_S = 900  # the whole run's bound


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def say(*a):
    print(*a, file=sys.stderr, flush=True)


async def one_join(http, base, meeting_id, token) -> float:
    t = time.perf_counter()
    c = MeetingClient(http, base, meeting_id, token=token)
    try:
        await asyncio.wait_for(c.connect(), 30)
        reply = await c.request("join", timeout=30)
        assert reply["type"] == "ok" and "snapshot" in reply["data"], reply
        return (time.perf_counter() - t) * 1000
    finally:
        await c.close()


async def joins(http, prod, seed, n) -> dict:
    """n https joins through nginx and n plain-http joins straight to a worker, alternating."""
    https, http_direct = [], []
    rooms = seed["rooms"]
    directs = [f"http://127.0.0.1:{p}" for p in prod.worker_ports]
    for i in range(5):  # warm-up, not counted: workers' first requests, caches
        await one_join(http, prod.base_url, seed["meeting_id"], rooms[i]["token"])
        await one_join(http, directs[i % 2], seed["meeting_id"], rooms[i]["token"])
    for i in range(n):
        room = rooms[i % len(rooms)]
        order = [("https", prod.base_url), ("http", directs[i % 2])]
        for kind, base in order if i % 2 == 0 else order[::-1]:
            ms = await one_join(http, base, seed["meeting_id"], room["token"])
            (https if kind == "https" else http_direct).append(ms)
    out = {"joins_each": n}
    for name, s in (("https", https), ("http", http_direct)):
        out[f"{name}_join_p50_ms"] = round(statistics.median(s), 1)
        out[f"{name}_join_p99_ms"] = round(pct(s, 99), 1)
        out[f"{name}_join_max_ms"] = round(max(s), 1)
    say(
        f"joins: https p50 {out['https_join_p50_ms']} p99 {out['https_join_p99_ms']} ms; "
        f"http p50 {out['http_join_p50_ms']} p99 {out['http_join_p99_ms']} ms ({n} each)"
    )
    return out


def holder_pid(prod, meeting_id, room_id):
    import redis

    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    try:
        raw = r.hget(f"{prod.env['LIVE_PREFIX']}:live:{meeting_id}:presence", str(room_id))
    finally:
        r.close()
    return int(json.loads(raw)["worker"].split(":")[-2]) if raw else None


async def rejoin(http, prod, meeting_id, room, session, last_seq, since) -> float:
    """Reconnect through nginx until a join with `resume` is answered; seconds from `since`."""
    while True:
        c = MeetingClient(http, prod.base_url, meeting_id, token=room["token"])
        try:
            await asyncio.wait_for(c.connect(), 5)
            reply = await c.request("join", timeout=5, resume={"session": session, "last_seq": last_seq})
            if reply["type"] == "ok":
                took = time.monotonic() - since
                await c.close()
                return took
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass
        await c.close()
        await asyncio.sleep(0.1)


async def worker_kills(http, prod, seed, rounds=2, rooms_n=20) -> dict:
    rooms = seed["rooms"][:rooms_n]
    results, rounds_max = [], []
    for round_no in range(rounds):
        clients = []
        for room in rooms:
            c = await MeetingClient(http, prod.base_url, seed["meeting_id"], token=room["token"]).connect()
            reply = await c.request("join", timeout=30)
            assert reply["type"] == "ok", reply
            clients.append((c, room, reply["data"]["session"]))
        workers = {pid: name for name, pid in prod.pids().items() if name.startswith("daphne-")}
        by_worker: dict[int, list] = {}
        for c, room, session in clients:
            by_worker.setdefault(holder_pid(prod, seed["meeting_id"], room["room_id"]), []).append((c, room, session))
        victim = max((p for p in by_worker if p in workers), key=lambda p: len(by_worker[p]))
        on_it = by_worker[victim]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        took = await asyncio.wait_for(
            asyncio.gather(
                *(rejoin(http, prod, seed["meeting_id"], room, session, c.seq, killed) for c, room, session in on_it)
            ),
            60,
        )
        results += took
        say(
            f"kill {round_no + 1}: {workers[victim]} held {len(on_it)} of {len(clients)} rooms; all joined again "
            f"through nginx within {max(took):.2f} s (median {statistics.median(took):.2f} s)"
        )
        for c, _, _ in clients:
            await c.close()
        prod.wait_restarted(workers[victim], victim)
        end = time.monotonic() + 120  # the restarted worker listens again before the next round
        while not all(prodshape._listening(p) for p in prod.worker_ports):
            assert time.monotonic() < end, "a restarted worker did not listen within 120 s"
            await asyncio.sleep(0.2)
        port = prod.worker_ports[int(workers[victim].split("-")[1]) - 1]
        for room in rooms[:5]:  # and has served a few joins (its first ones load code and fill its pools)
            await one_join(http, f"http://127.0.0.1:{port}", seed["meeting_id"], room["token"])
        rounds_max.append(round(max(took), 2))
    return {
        "worker_kill_resume_max_s": round(max(results), 2),
        "worker_kill_resume_median_s": round(statistics.median(results), 2),
        "worker_kill_rooms": len(results),
        "worker_kill_rounds_max_s": rounds_max,
    }


CHAIR_COLOUR = (30, 40, 220)
RELAY_ROOMS = 6  # rooms decoding the chair through the relay that is killed


async def publish(c: MeetingClient, bot) -> float:
    reply = await c.request("sdp_offer", timeout=30, sdp=await bot.offer())
    assert reply["type"] == "ok", reply
    await bot.accept(reply["data"]["sdp"])
    return time.monotonic()


async def until(pred, timeout: float, what: str) -> float:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return time.monotonic()


async def relay_kill(http, prod, seed) -> dict:
    """The chair and RELAY_ROOMS rooms (aiortc bots, through nginx) on the meeting's relay; it is SIGKILLed. Each socket
    is told `relay_move` (signaling/relayrestart.py) once the standby serves, rebuilds its peer as the room page does
    and offers again; `relay_restart_s` is from the kill to the last room decoding the chair's picture again."""
    from confserver.media.bot import Bot, close_to

    meeting_id = seed["meeting_id"]
    channels = prod.relay_channels()
    name = channels[zlib.crc32(str(meeting_id).encode()) % len(channels)]  # media/remote.py relay_channel
    colours = [CHAIR_COLOUR] + [(200, 40 + 20 * i, 40) for i in range(RELAY_ROOMS)]
    clients = [await MeetingClient(http, prod.base_url, meeting_id, cookie=seed["host_cookie"]).connect()]
    clients += [
        await MeetingClient(http, prod.base_url, meeting_id, token=room["token"]).connect()
        for room in seed["rooms"][40 : 40 + RELAY_ROOMS]
    ]
    bots = [Bot(f"r{i}", colour, extra_audio=1) for i, colour in enumerate(colours)]

    def sees_chair(i: int) -> bool:
        pics = bots[i].video[0].pictures
        return bool(pics) and close_to(pics[-1].colour, CHAIR_COLOUR)

    try:
        for c, bot in zip(clients, bots):
            assert (await c.request("join", timeout=30))["type"] == "ok"
            await publish(c, bot)
        for i in range(1, len(bots)):
            await until(lambda i=i: sees_chair(i), 60, "the rooms to decode the chair before the kill")
        pid = prod.serving_relay(name)
        child = next(n for n, p in prod.pids().items() if p == pid)
        told, answered, decoding = [], [], []

        async def follow(i: int):
            await clients[i].relay_moves.get()
            told.append(time.monotonic())
            await bots[i].close()
            bots[i] = Bot(f"r{i}'", colours[i], extra_audio=1)
            answered.append(await publish(clients[i], bots[i]))
            if i:
                decoding.append(await until(lambda: sees_chair(i), 60, f"room {i} to decode the chair again"))

        followers = [asyncio.ensure_future(follow(i)) for i in range(len(clients))]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        back = asyncio.ensure_future(asyncio.to_thread(prod.wait_restarted, child, pid, 30.0, killed))
        await asyncio.wait_for(asyncio.gather(*followers), 90)
        _, restarted = await back
    finally:
        for bot in bots:
            await bot.close()
        for c in clients:
            await c.close()
    out = {
        "relay_restart_s": round(max(decoding) - killed, 2),
        "relay_told_s": round(min(told) - killed, 2),
        "relay_first_answer_s": round(min(answered) - killed, 2),
        "relay_rooms": len(decoding),
        "relay_process_back_s": round(restarted, 2),
    }
    say(
        f"relay {name} SIGKILLed: sockets told relay_move after {out['relay_told_s']} s, first re-offer answered "
        f"after {out['relay_first_answer_s']} s, {len(decoding)} rooms decode the chair again within "
        f"{out['relay_restart_s']} s; the killed process ({child}) restarted by the supervisor after {restarted:.2f} s"
    )
    return out


async def run(prod, seed, args) -> dict:
    ctx = ssl.create_default_context(cafile=str(prod.cafile()))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=ctx)) as http:
        out = await joins(http, prod, seed, args.joins)
        out.update(await worker_kills(http, prod, seed))
        out.update(await relay_kill(http, prod, seed))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--joins", type=int, default=300, help="joins of each kind (>= 50; 300: a p99 that is not one outlier)"
    )
    p.add_argument("--rooms", type=int, default=120)
    args = p.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("bench/production.py needs DATABASE_URL (PostgreSQL) and REDIS_URL, as bin/prod does")

    def too_long(*_):
        raise TimeoutError(f"bench/production.py: no result within {TOTAL_S} s")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TOTAL_S)
    result = {
        "https_join_p99_ms": None,
        "http_join_p99_ms": None,
        "worker_kill_resume_max_s": None,
        "relay_restart_s": None,
    }
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-production-") as tmp:
        with prodshape.production(Path(tmp), demo=False, http_origins=True, log=Path(tmp) / "prod.log") as prod:
            seed = json.loads(live.run_python(prod.env, "confserver.testing.seed", "--rooms", str(args.rooms)))
            say(f"bin/prod up at {prod.base_url}; meeting {seed['meeting_id']} with {len(seed['rooms'])} rooms")
            result.update(asyncio.run(run(prod, seed, args)))
            load.append(os.getloadavg()[0])
    signal.alarm(0)
    result["goal_https_le_1_5x_http"] = result["https_join_p99_ms"] <= 1.5 * result["http_join_p99_ms"]
    result["load"] = [round(x, 1) for x in load]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Signaling load on loopback: joins at once on one worker, and one chair event fanned out to
2,000 connections spread over 2 daphne workers through Redis. Bounded; stops by itself.

    REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgres://postgres@127.0.0.1:5432/confserver \
        .venv/bin/python bench/signaling.py [--join-rooms 160] [--fanout-conns 2000] [--events 20]

Last line: {"rooms", "join_ack_p50_ms", "join_ack_p99_ms", "fanout_p99_ms", "workers", ...}.
"""

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _ws_listener  # noqa: E402
import aiohttp  # noqa: E402

from confserver.testing import live  # noqa: E402
from confserver.testing.wsclient import MeetingClient  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def connect_all(http, bases, meeting_id, rooms, batch=100):
    clients = []
    for i in range(0, len(rooms), batch):
        chunk = rooms[i : i + batch]
        clients += await asyncio.gather(
            *(
                MeetingClient(http, bases[(i + j) % len(bases)], meeting_id, token=r["token"]).connect()
                for j, r in enumerate(chunk)
            )
        )
    return clients


async def timed_join(c):
    t = time.perf_counter()
    reply = await c.request("join", timeout=30)
    assert reply["type"] == "ok", reply
    return (time.perf_counter() - t) * 1000


async def run(args, bases, seed):
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        chair = await MeetingClient(http, bases[0], seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        assert (await chair.request("join"))["type"] == "ok"

        # 1. N rooms join at once on one worker
        if os.environ.get("BENCH_PAUSE_BEFORE_JOIN"):  # time to attach a profiler to the workers
            print("pausing before the joins", flush=True)
            await asyncio.sleep(float(os.environ["BENCH_PAUSE_BEFORE_JOIN"]))
        rooms = seed["rooms"][: args.join_rooms]
        clients = await connect_all(http, bases[:1], seed["meeting_id"], rooms)
        one_by_one = [await timed_join(c) for c in clients[:10]]
        print(f"join one at a time: p50 {statistics.median(one_by_one):.1f} ms", flush=True)
        await asyncio.gather(*(c.close() for c in clients[:10]))
        clients = clients[10:] + await connect_all(
            http, bases[:1], seed["meeting_id"], seed["rooms"][args.join_rooms : args.join_rooms + 10]
        )
        join_ms = await asyncio.gather(*(timed_join(c) for c in clients))
        print(
            f"join: {len(join_ms)} rooms at once on 1 worker: p50 {statistics.median(join_ms):.1f} ms, "
            f"p99 {pct(join_ms, 99):.1f} ms, max {max(join_ms):.1f} ms",
            flush=True,
        )
        await asyncio.gather(*(c.close() for c in clients))

        result = {
            "rooms": len(join_ms),
            "join_ack_p50_ms": round(statistics.median(join_ms), 1),
            "join_ack_p99_ms": round(pct(join_ms, 99), 1),
            "workers": len(bases),
        }
        if not args.fanout_conns:
            return result
        # 2. one chair event to many connections over all workers. The listeners are lean
        # (bench/_ws_listener.py): the measuring client must not take the workers' CPU.
        t0 = time.perf_counter()
        rooms = seed["rooms"][: args.fanout_conns]
        listeners = []
        for i in range(0, len(rooms), 200):
            listeners += await asyncio.gather(
                *(
                    _ws_listener.connect(bases[(i + j) % len(bases)], seed["meeting_id"], r["token"])
                    for j, r in enumerate(rooms[i : i + 200])
                )
            )
        for i in range(0, len(listeners), 200):
            for ls in listeners[i : i + 200]:
                ls.send_json({"type": "join", "id": 1})
            replies = await asyncio.gather(*(ls.reply(1, timeout=60) for ls in listeners[i : i + 200]))
            assert all(r["type"] == "ok" for r in replies), [r for r in replies if r["type"] != "ok"][:3]
        print(
            f"fan-out: {len(listeners)} connections joined over {len(bases)} workers in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        await asyncio.sleep(1.0)
        if os.environ.get("BENCH_PAUSE_BEFORE_EVENTS"):  # time to attach a profiler
            print("pausing before the events", flush=True)
            await asyncio.sleep(float(os.environ["BENCH_PAUSE_BEFORE_EVENTS"]))
        target = seed["rooms"][0]["room_id"]
        # The measuring process must not stall either: its 2,000 listeners are long-lived objects, and a
        # full collection here would delay the arrival times of every connection at once.
        gc.collect()
        gc.disable()
        delays, by_worker = [], {}
        per_event_p99 = []
        for n in range(args.events):
            muted = n % 2 == 0
            marks = [len(ls.inbox) for ls in listeners]
            sent = time.perf_counter()
            reply = await chair.request("mute_room", room_id=target, muted=muted, timeout=30)
            assert reply["type"] == "ok", reply
            deadline = time.monotonic() + 30
            while any(len(ls.inbox) == m for ls, m in zip(listeners, marks)):
                assert time.monotonic() < deadline, "the event did not reach every connection in 30 s"
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # anything else in flight
            d = []
            for k, (ls, m) in enumerate(zip(listeners, marks)):
                at = next(at for at, ev in ls.events_since(m) if ev["event"] == "muted" and ev["muted"] is muted)
                d.append((at - sent) * 1000)
                by_worker.setdefault(k % len(bases), []).append(d[-1])
            delays += d
            per_event_p99.append(pct(d, 99))
            await asyncio.sleep(0.2)
        print("per-event p99:", [round(x) for x in per_event_p99], flush=True)
        print(
            f"fan-out: {args.events} events x {len(listeners)} connections: p50 {statistics.median(delays):.1f} ms, "
            f"p99 {pct(delays, 99):.1f} ms, worst event p99 {max(per_event_p99):.1f} ms; by worker (p50/p99): "
            + ", ".join(f"{statistics.median(v):.0f}/{pct(v, 99):.0f}" for _, v in sorted(by_worker.items())),
            flush=True,
        )
        gc.enable()
        for ls in listeners:
            ls.close()
        await chair.close()
        clients = listeners
        return result | {
            "fanout_p99_ms": round(pct(delays, 99), 1),
            "fanout_p50_ms": round(statistics.median(delays), 1),
            "fanout_connections": len(clients),
        }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--join-rooms", type=int, default=160)
    p.add_argument("--fanout-conns", type=int, default=2000)
    p.add_argument("--events", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    ports = [live.free_port() for _ in range(args.workers)]
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # All 2,000 sockets come from 127.0.0.1: the per-address cap (WS_MAX_PER_ADDRESS) does not apply.
        env = live.server_env(db_url, ports, SIGNALING_GRACE_S=2, WS_EXEMPT_LOOPBACK=1)
        live.manage(env, "migrate", "--no-input", "-v0")
        seed = json.loads(
            live.run_python(
                env, "confserver.testing.seed", "--rooms", str(max(args.join_rooms + 10, args.fanout_conns))
            )
        )
        print(
            f"seeded meeting {seed['meeting_id']} with {len(seed['rooms'])} rooms "
            f"({'PostgreSQL' if 'postgres' in db_url else 'SQLite'}, Redis)",
            flush=True,
        )
        from contextlib import ExitStack

        with ExitStack() as stack:
            for port in ports:
                stack.enter_context(live.daphne(env, port, Path(f"/tmp/bench-daphne-{port}.log")))
            result = asyncio.run(asyncio.wait_for(run(args, [f"http://127.0.0.1:{p}" for p in ports], seed), 600))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

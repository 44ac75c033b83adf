"""Signaling at national scale (issue 11, item 6): one chair event to ≥ 5,000 room sockets of one meeting
spread over the daphne workers this machine holds (2 on 2 cores), Redis as the channel layer.

The rooms are lean raw-WebSocket listeners (bench/_ws_listener.py) in a few client processes of their own,
so the measuring side takes little of the workers' CPU; every listener notes the kernel-to-Python arrival
time of each frame (perf_counter: CLOCK_MONOTONIC, the same clock in every process). The chair (aiohttp,
in this process) mutes and unmutes one room: `mute_room` is an event for every room and does not need
that room online (a floor grant is refused while its room reconnects, which happens during 5,000 joins);
each event's delay is the time from the chair's send to each socket's receipt of its `muted` event, and
each socket must get it exactly once, its seq following the ones before.

    REDIS_URL=redis://127.0.0.1:6379/6 [DATABASE_URL=postgres://…] \
        .venv/bin/python bench/_cascade_fanout.py [--sockets 5000] [--workers 2] [--events 10] [--client-procs 3] \
        [--runs old,new,old,new] [--trace]

Last line: {"fanout_sockets", "fanout_p50_ms", "fanout_p99_ms", "fanout_max_ms", "fanout_workers",
"fanout_join_s", "fanout_us_per_delivery", ...}. Bounded (--timeout-s a run, 600 s by default); stops by itself.
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from array import array
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from confserver.testing import live  # noqa: E402


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- a client process: its share of the room sockets ------------------------------------------------------


async def _client(conn, bases, meeting_id, share):
    import _ws_listener

    gc.disable()  # thousands of long-lived listeners: a collection would stall every arrival at once
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "go": the chair is in
    t0 = time.perf_counter()
    listeners, retries = [], 0

    async def join(base, tok):
        """One room socket, joined. Under a burst of joins daphne may drop a handshake that the application did
        not accept within its 5 s (admission waits for the database thread): try again, as a browser would."""
        nonlocal retries
        for attempt in range(8):
            try:
                ls = await _ws_listener.connect(base, meeting_id, tok)
                ls.send_json({"type": "join", "id": 1})
                reply = await ls.reply(1, timeout=120)
                if reply["type"] != "ok":
                    raise RuntimeError(f"join refused: {reply}")
                return ls
            except (TimeoutError, ConnectionError, OSError):
                retries += 1
                await asyncio.sleep(0.5 * (attempt + 1))
        raise RuntimeError("a room could not join after 8 attempts")

    for i in range(0, len(share), 25):  # a few handshakes at a time per process, as rooms trickle in
        chunk = share[i : i + 25]
        listeners += await asyncio.gather(*(join(bases[(i + j) % len(bases)], tok) for j, (tok, _) in enumerate(chunk)))
    conn.send(("joined", len(listeners), time.perf_counter() - t0, retries))
    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        if cmd[0] == "mark":
            marks = [len(ls.inbox) for ls in listeners]
            conn.send(("marked",))
        elif cmd[0] == "collect":
            _, muted, deadline_s = cmd
            end = time.monotonic() + deadline_s
            while any(len(ls.inbox) == m for ls, m in zip(listeners, marks)) and time.monotonic() < end:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # a second copy would be in by now
            arrivals, missing, twice, seqs_ok = [], 0, 0, True
            for ls, m in zip(listeners, marks):
                got = [(at, ev) for at, ev in ls.events_since(m) if ev["event"] == "muted" and ev["muted"] is muted]
                if not got:
                    missing += 1
                    continue
                twice += len(got) > 1
                arrivals.append(got[0][0])
                seqs = [ev["seq"] for _, ev in ls.events_since(m)]
                seqs_ok &= seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            conn.send(("arrivals", arrivals, missing, twice, seqs_ok))
        elif cmd[0] == "stop":
            for ls in listeners:
                ls.close()
            await asyncio.sleep(0.2)
            conn.send(("stopped",))
            return


def client_main(conn, bases, meeting_id, share):
    raise_nofile()
    try:
        asyncio.run(_client(conn, bases, meeting_id, share))
    except Exception as exc:  # told to the parent, which fails the run
        conn.send(("error", repr(exc)))


# ---- the chair and the measurement ----------------------------------------------------------------------


async def measure(args, bases, seed, procs):
    import aiohttp

    from confserver.testing.wsclient import MeetingClient

    loop = asyncio.get_running_loop()

    async def ask_all(msg):
        for _, conn in procs:
            conn.send(msg)
        return [await loop.run_in_executor(None, conn.recv) for _, conn in procs]

    async def answers():
        out = [await loop.run_in_executor(None, conn.recv) for _, conn in procs]
        errors = [a for a in out if a[0] == "error"]
        if errors:
            raise RuntimeError(f"a client process failed: {errors[0][1]}")
        return out

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        chair = await MeetingClient(http, bases[0], seed["meeting_id"], cookie=seed["host_cookie"]).connect()
        reply = await chair.request("join", timeout=60)
        assert reply["type"] == "ok", reply
        for _, conn in procs:
            conn.send(("go",))
        try:
            joined = await answers()
        finally:
            if chair.ws.closed:
                print(f"the chair's socket was closed: {chair.ws.close_code}", file=sys.stderr, flush=True)
        join_s = max(a[2] for a in joined)  # each process connects and joins its share from its start
        sockets = sum(a[1] for a in joined)
        print(
            f"{sockets} room sockets joined over {len(bases)} workers in {join_s:.1f} s (per process: "
            f"{', '.join(f'{a[2]:.1f} s' for a in joined)}; handshakes retried: {sum(a[3] for a in joined)})",
            flush=True,
        )
        await asyncio.sleep(2.0)
        target = seed["rooms"][0]["room_id"]
        gc.collect()
        gc.disable()
        by_mode: dict[str, tuple[list, list, list]] = {}  # mode -> (delays, per-event figures, CPU per event)
        warmup = 1 if args.ab else 0
        for n in range(-warmup, args.events):
            muted = n % 2 == 0
            # --ab: events alternate old, new, new, old, ... (ABBA) on the same sockets; the warm-up uncounted.
            mode = ("old" if (n + 1) // 2 % 2 == 0 else "new") if args.ab and n >= 0 else "new"
            if args.ab:
                for pid in args.worker_pids:
                    os.kill(pid, signal.SIGUSR1 if mode == "old" else signal.SIGUSR2)
                await asyncio.sleep(0.05)
            await ask_all(("mark",))
            cpu0 = [live_cpu(p) for p in args.worker_pids]
            sent = time.perf_counter()
            reply = await chair.request("mute_room", room_id=target, muted=muted, timeout=60)
            assert reply["type"] == "ok", reply
            out = await ask_all(("collect", muted, 60.0))
            used = sum(live_cpu(p) for p in args.worker_pids) - sum(cpu0)
            d = [(at - sent) * 1000 for a in out for at in a[1]]
            missing, twice = sum(a[2] for a in out), sum(a[3] for a in out)
            if missing or twice or not all(a[4] for a in out):
                raise RuntimeError(
                    f"event {n}: {missing} sockets missed it, {twice} got it twice, "
                    f"seq in order: {all(a[4] for a in out)}"
                )
            figures = (statistics.median(d), pct(d, 99), max(d))
            print(
                f"event {n}{' (warm-up)' if n < 0 else ''}{f' {mode}' if args.ab else ''}: p50 {figures[0]:.0f} ms, "
                f"p99 {figures[1]:.0f} ms, max {figures[2]:.0f} ms; workers' CPU {used * 1000:.0f} ms",
                flush=True,
            )
            if n >= 0:
                delays, per_event, cpu = by_mode.setdefault(mode, ([], [], []))
                delays += d
                per_event.append(figures)
                cpu.append(used)
                args.event_times.append((sent, sent + max(d) / 1000, sent + pct(d, 99) / 1000))
            await asyncio.sleep(0.3)
        if args.trace:  # a full collection in each worker with every socket in, timed by the trace
            for pid in args.worker_pids:
                os.kill(pid, signal.SIGURG)
            await asyncio.sleep(3)
        gc.enable()
        await chair.close()
    await ask_all(("stop",))

    def figures(prefix, delays, per_event, cpu):
        return {
            f"{prefix}p50_ms": round(statistics.median(delays), 1),
            f"{prefix}p99_ms": round(pct(delays, 99), 1),
            f"{prefix}max_ms": round(max(delays), 1),
            f"{prefix}worst_event_p99_ms": round(max(e[1] for e in per_event), 1),
            # CPU the workers spent per event (all of it, the chair's action included) per socket reached.
            f"{prefix}us_per_delivery": round(statistics.median(cpu) / sockets * 1e6, 1),
        }

    return {
        "fanout_sockets": sockets,
        "fanout_events": args.events,
        **figures("fanout_", *by_mode["new"]),
        **(figures("fanout_old_", *by_mode["old"]) if "old" in by_mode else {}),
        "fanout_workers": len(bases),
        "fanout_join_s": round(join_s, 1),
        "fanout_handshake_retries": sum(a[3] for a in joined),
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


MODES = {
    "new": ("the product's defaults", {}),
    "old": (
        "each notification through its connection's queue and writer task, framed by autobahn (before issue 11's "
        "direct send)",
        {"SIGNALING_SEND_DIRECT": "0", "FANOUT_AUTOBAHN_FRAMES": "1"},
    ),
    "twisted": (
        "as old, and Twisted's buffered write (WS_SEND_NOW off)",
        {"SIGNALING_SEND_DIRECT": "0", "FANOUT_AUTOBAHN_FRAMES": "1", "WS_SEND_NOW": "0"},
    ),
}
SUMMARY = (
    "fanout_mode",
    "fanout_p50_ms",
    "fanout_p99_ms",
    "fanout_max_ms",
    "fanout_worst_event_p99_ms",
    "fanout_us_per_delivery",
)


def print_trace(trace_dir: str, events: list[tuple[float, float]]):
    """Each event's path through the workers, from their traces (bench/_fanout_trace/sitecustomize.py)."""
    traces = []
    for path in sorted(Path(trace_dir).glob("trace-*.json")):
        trace = json.loads(path.read_text())
        times = array("d", path.with_suffix(".writes").read_bytes())
        half = len(times) // 2
        trace["writes"], trace["writes_cpu"] = times[:half], times[half:]
        traces.append(trace)
    if not traces:
        print("trace: no worker wrote one", flush=True)
        return
    per_mode: dict[str, list[float]] = {}
    from_publish: dict[str, list[tuple[float, float]]] = {}
    for n, (sent, last, p99_at) in enumerate(events):
        end = events[n + 1][0] if n + 1 < len(events) else last + 1.0
        sends = [t for tr in traces for t, _ in tr["sends"] if sent <= t < end]
        parts = [f"event {n}: group_send +{(min(sends) - sent) * 1000:.0f}" if sends else f"event {n}: no group_send"]
        for w, tr in enumerate(traces):
            ds = [d for d in tr["dispatches"] if sent <= d[0] < end and d[3] == "muted"]
            # Frames written until the event's last arrival (later ones are pings and pongs).
            writes = [(t, c) for t, c in zip(tr["writes"], tr["writes_cpu"]) if sent <= t <= last]
            gcs = [g for g in tr["gc"] if sent <= g[0] < last]
            part = f"w{w}:"
            if ds:
                d = ds[0]
                part += f" dispatch +{(d[0] - sent) * 1000:.0f}..+{(d[1] - sent) * 1000:.0f}"
                part += f" ({d[2]} sessions, cpu {d[4] * 1000:.0f} ms, {d[5]})"
            if writes:
                part += f" writes {len(writes)}, last +{(writes[-1][0] - sent) * 1000:.0f}"
            if ds and writes:
                # The worker's CPU from the dispatch's start to its last write, per socket of its share.
                us = (writes[-1][1] - d[6]) / max(1, d[2]) * 1e6
                per_mode.setdefault(d[5], []).append(us)
                part += f" ({us:.0f} us cpu/delivery)"
            if gcs:
                part += " gc " + ",".join(
                    f"g{g[2]}@+{(g[0] - sent) * 1000:.0f}:{g[1] * 1000:.1f}ms(cpu {g[4] * 1000:.1f})" for g in gcs
                )
            parts.append(part)
        print("; ".join(parts) + f"; last arrival +{(last - sent) * 1000:.0f} ms", flush=True)
        modes = {d[5] for tr in traces for d in tr["dispatches"] if sent <= d[0] < end and d[3] == "muted"}
        if sends and len(modes) == 1:  # the fan-out alone: from the chair's worker publishing to the arrivals
            from_publish.setdefault(modes.pop(), []).append(((p99_at - min(sends)) * 1000, (min(sends) - sent) * 1000))
    for mode, pairs in sorted(from_publish.items()):
        print(
            f"trace {mode}: per event, p99 arrival after group_send: median "
            f"{statistics.median(p for p, _ in pairs):.0f} ms, max {max(p for p, _ in pairs):.0f}; "
            "the chair's click to group_send: median "
            f"{statistics.median(c for _, c in pairs):.0f} ms, max {max(c for _, c in pairs):.0f}",
            flush=True,
        )
    for mode, us in sorted(per_mode.items()):
        print(
            f"trace {mode}: worker CPU from dispatch to last write per delivery: median {statistics.median(us):.1f} "
            f"us, min {min(us):.1f}, max {max(us):.1f} ({len(us)} worker-events)",
            flush=True,
        )
    for census in sorted(Path(trace_dir).glob("census-*.json")):
        counts = json.loads(census.read_text())
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:12]
        print(
            f"trace {census.stem}: {sum(counts.values())} objects the collector tracks; "
            + ", ".join(f"{name} {n}" for name, n in top),
            flush=True,
        )
    for w, tr in enumerate(traces):
        gens = {}
        for g in tr["gc"]:
            gens.setdefault(g[2], []).append((g[1] * 1000, g[4] * 1000))
        print(
            f"trace w{w}: gc over the run (wall ms / CPU ms): "
            + ", ".join(
                f"gen{k} {len(v)}x max {max(wall for wall, _ in v):.1f}/{max(c for _, c in v):.1f} "
                f"sum {sum(wall for wall, _ in v):.0f}/{sum(c for _, c in v):.0f}"
                for k, v in sorted(gens.items())
            ),
            flush=True,
        )


def daphne(env: dict, port: int, log_path: Path):
    """live.daphne's worker, with daphne's own 1 MB message cap (which autobahn applies to what the server
    sends too) raised like the edge's: the chair's join snapshot of 5,000 rooms is ~1.1 MB."""
    size = str(env["WS_MAX_MESSAGE_BYTES"])
    return live.daphne(
        env,
        port,
        log_path,
        "--websocket-max-message-size",
        size,
        "--websocket-max-frame-size",
        size,
        "--websocket_connect_timeout",
        str(env.get("FANOUT_HANDSHAKE_S", 5)),
    )


def live_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(args, env, ports, bases, seed, tokens, ctx):
    """Workers started, the rooms joined, the events measured, everything stopped."""
    args.event_times = []
    with ExitStack() as stack:
        workers = [stack.enter_context(daphne(env, port, Path(f"/tmp/fanout-daphne-{port}.log"))) for port in ports]
        args.worker_pids = [w.pid for w in workers]
        procs = []
        for k in range(args.client_procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client_main, args=(child, bases, seed["meeting_id"], tokens[k :: args.client_procs]), daemon=True
            )
            proc.start()
            procs.append((proc, parent))
        try:
            return asyncio.run(asyncio.wait_for(measure(args, bases, seed, procs), args.timeout_s))
        finally:
            for proc, _ in procs:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sockets", type=int, default=5000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--events", type=int, default=12)
    p.add_argument("--client-procs", type=int, default=3)
    p.add_argument(
        "--handshake-s",
        type=int,
        default=60,
        help="daphne's --websocket_connect_timeout (its default 5 s drops handshakes while joins queue)",
    )
    p.add_argument(
        "--runs",
        default="new",
        help="comma-separated runs over the same seed, each a way of sending: "
        + "; ".join(f"{k}: {v[0]}" for k, v in MODES.items())
        + ". The figures of the last 'new' run are fanout_*, each run's under fanout_runs",
    )
    p.add_argument("--timeout-s", type=float, default=600, help="the bound on one run's joins and events")
    p.add_argument(
        "--ab",
        action="store_true",
        help="events alternate between the old path (as --runs old) and the new one in the same workers "
        "(bench/_fanout_trace, SIGUSR1/SIGUSR2); the old events' figures as fanout_old_*",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="per event: group_send, each worker's dispatch, its last write and GC passes (bench/_fanout_trace)",
    )
    args = p.parse_args()
    runs = args.runs.split(",")
    if not set(runs) <= set(MODES):
        sys.exit(f"--runs: one of {', '.join(MODES)}")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
    nofile = raise_nofile()
    need = args.sockets * 2 // args.workers + 500
    if nofile < need:
        sys.exit(f"RLIMIT_NOFILE hard limit {nofile} < {need}: too low for {args.sockets} sockets")
    ports = [live.free_port() for _ in range(args.workers)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    ctx = multiprocessing.get_context("fork")
    with live.throwaway_database(os.environ.get("DATABASE_URL")) as db_url:
        # Every socket comes from 127.0.0.1 (WS_MAX_PER_ADDRESS does not apply). The edge's message cap also
        # bounds what the server sends (autobahn applies maxMessagePayloadSize both ways): the chair's join
        # snapshot of 5,000 rooms (~1.1 MB) is over the 128 KB default, so it is raised here.
        env = live.server_env(
            db_url,
            ports,
            SIGNALING_GRACE_S=2,
            WS_EXEMPT_LOOPBACK=1,
            SIGNALING_JOIN_TIMEOUT_S=120,
            WS_MAX_MESSAGE_BYTES=8 << 20,
            FANOUT_HANDSHAKE_S=args.handshake_s,
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        t = time.perf_counter()
        seed = json.loads(
            live.run_python(
                env, "confserver.testing.seed", "--rooms", str(args.sockets), "--structure", "pre2025", timeout=900
            )
        )
        print(
            f"seeded meeting {seed['meeting_id']} with {len(seed['rooms'])} rooms in {time.perf_counter() - t:.0f} s "
            f"({'PostgreSQL' if 'postgres' in db_url else 'SQLite'}, Redis)",
            flush=True,
        )
        tokens = [(r["token"], r["room_id"]) for r in seed["rooms"][: args.sockets]]
        # The workers load bench/_fanout_trace/sitecustomize.py: it traces with FANOUT_TRACE_DIR set, and frames
        # with autobahn's own sendMessage with FANOUT_AUTOBAHN_FRAMES=1 (the path before edge/websocket.py's).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "_fanout_trace"), env.get("PYTHONPATH")]))
        result, summary = {}, []
        for n, mode in enumerate(runs):
            if n:
                time.sleep(5)  # the last run's sessions expire (SIGNALING_GRACE_S) before the rooms join again
            print(f"run {n + 1}/{len(runs)}: {mode} ({MODES[mode][0]})", flush=True)
            run_env = dict(env, **MODES[mode][1], **({"FANOUT_AB": "1"} if args.ab else {}))
            with tempfile.TemporaryDirectory(prefix="fanout-trace-") as trace_dir:
                if args.trace:
                    run_env["FANOUT_TRACE_DIR"] = trace_dir
                one = run_once(args, run_env, ports, bases, seed, tokens, ctx)
                if args.trace:
                    print_trace(trace_dir, args.event_times)
            one["fanout_mode"] = mode
            summary.append({k.replace("fanout_", ""): one[k] for k in SUMMARY})
            print(f"run {n + 1} ({mode}): {json.dumps(summary[-1])}", flush=True)
            if mode == "new" or not result:
                result.update(one)
        result["fanout_runs"] = summary
    print(json.dumps(result))


if __name__ == "__main__":
    main()

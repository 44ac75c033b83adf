"""Load benchmark of the media relay, on loopback, bounded in time (~5 min).

One program publisher (pre-encoded 640x360 30 fps VP8 at ~500 kbps + Opus,
replayed; a second one for switches)
and N subscriber bots that count RTP without decoding, in separate processes;
the relay runs alone on CPU 0, everything else on CPU 1. N steps up (by 50 rooms from 50) until a
step loses packets or frames or falls behind (or time runs out): the last step that kept up is the relay's
capacity (`capacity_rooms`), what `RELAY_CAPACITY` and placement take (issue 11), once `limited_by` says the relay
itself failed the next step, not the bots' CPU or the clock. Then a stock aiortc relay
(decode once, one encoder per subscriber) is measured at a small N for the
ratio. Progress lines go to stdout; the last line is one JSON object.

Figures: cpu_pct_per_room = (relay CPU at N - relay CPU at 0) / N;
hop = publisher hands a frame to its sender -> the subscriber's kernel
receives the frame's last packet (p95 at the largest passing N, and at
N=100); first frame = subscriber connected -> first complete video frame
(every bot that joined in a passing step); switch = set_program returns ->
first frame of the new source at the subscriber. A step passes with no
packet lost, every bot at >= 95% of 30 fps, and hop p95 <= 100 ms (no backlog).
The relay's CPU also carries the kernel's loopback delivery to the bots
("else on CPU 0"), which a real network card would take off it.

    .venv/bin/python bench/relay.py [--steps 50,100,...] [--window 5] [--budget 280] [--fair]
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _relay_clips  # noqa: E402
import _relay_procs  # noqa: E402

RELAY_CPU, OTHERS_CPU = 0, 1
BOT_PROCESSES = 2
NAIVE_ROOMS = 2
MAX_HOP_MS = 100  # a step whose hop p95 exceeds this is not keeping up
BOTS_SATURATED_PCT = 90  # the bots' core this busy: a failing step may be the bench's, not the relay's
RELAY_SATURATED_PCT = 85


def _limit(window: dict, steady: bool = False) -> str:
    """What stopped the first failing step: "relay" when the relay's core ran out (it is capped at 95 % of it under
    SCHED_FIFO), "bots" when the bench's own side did (the bots' and publisher's core), "both" when both cores
    did, "joins" when the step kept up in steady state (`steady`) and failed only on newcomers missing their
    first frame within 1 s (the cost of a burst of joins, not of carrying the rooms), else "relay" too (it lost
    packets or frames, or fell behind, with both cores to spare)."""
    bots = window["others_cpu_pct"] >= BOTS_SATURATED_PCT
    relay = window["relay_cpu_pct"] >= RELAY_SATURATED_PCT
    if bots and relay:
        return "both"
    if bots:
        return "bots"
    if steady and not relay:
        return "joins"
    return "relay"


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)


class Child:
    def __init__(self, ctx, target, *args):
        self.conn, child_conn = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()

    def call(self, command: str, *args, timeout: float = 120.0):
        self.conn.send((command, args))
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{command}: no answer in {timeout}s")
        status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{command} failed in the child:\n{result}")
        return result

    def stop(self) -> None:
        try:
            self.call("quit", timeout=20)
        except Exception:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def cpu_busy(cpu: int) -> tuple[float, float]:
    """(busy, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                fields = [int(x) for x in line.split()[1:]]
                idle = fields[3] + fields[4]
                return sum(fields) - idle, sum(fields)
    return 0.0, 1.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.ctx = multiprocessing.get_context("spawn")
        self.started = time.monotonic()
        clips = _relay_clips.load_clips()
        self.sent_at = self.ctx.RawArray("d", sum(len(c.video) for c in clips))
        self.relay: Child | None = None
        rt = args.realtime
        self.publisher = Child(self.ctx, _relay_procs.publisher_main, OTHERS_CPU, rt, self.sent_at)
        self.bots = [
            Child(self.ctx, _relay_procs.bots_main, OTHERS_CPU, rt, self.sent_at) for _ in range(BOT_PROCESSES)
        ]
        self.count = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def start_relay(self, naive: bool) -> None:
        self.relay = Child(self.ctx, _relay_procs.relay_main, RELAY_CPU, self.args.realtime, naive)
        log(f"{'stock' if naive else 'forwarding'} relay: pid {self.relay.process.pid}")
        publishers = [("pubA", 0)] if naive else [("pubA", 0), ("pubB", 1)]
        offers = self.publisher.call("offers", publishers)
        self.publisher.call("accept", self.relay.call("open", offers))
        self.relay.call("program", "pubA", ["pubA"])

    def stop_relay(self) -> None:
        for bots in self.bots:
            bots.call("close")
        self.publisher.call("close")
        self.relay.stop()
        self.count = 0

    def add_bots(self, total: int) -> dict:
        """Join bots until `total`; return first-frame figures of the newcomers."""
        names = [f"room{i}" for i in range(self.count, total)]
        for index, bots in enumerate(self.bots):
            mine = names[index :: len(self.bots)]
            if mine:
                offers = bots.call("offers", mine)
                answers = self.relay.call("open", offers)
                connected = bots.call("accept", answers)
                if connected != len(mine):
                    log(f"only {connected} of {len(mine)} bots connected")
        self.count = total
        firsts = {"from_connected_ms": [], "from_offer_ms": [], "missing": 0}
        for bots in self.bots:
            part = bots.call("first_frames", 1.0)
            for key in firsts:
                firsts[key] += part[key]
        return firsts

    def window(self, seconds: float) -> dict:
        """Measure relay CPU, loss, frame rate and hop over `seconds`."""
        busy0, total0 = cpu_busy(RELAY_CPU)
        user0, system0, t0 = self.relay.call("cpu")
        bots_cpu0 = sum(b.call("mark") for b in self.bots)
        pub_cpu0, _ = self.publisher.call("cpu")
        time.sleep(seconds)
        user1, system1, t1 = self.relay.call("cpu")
        busy1, total1 = cpu_busy(RELAY_CPU)
        pub_cpu1, _ = self.publisher.call("cpu")
        reports = [b.call("report") for b in self.bots]
        wall = t1 - t0
        packets = sum(r["video_packets"] + r["audio_packets"] for r in reports)
        lost = sum(r["video_lost"] + r["audio_lost"] for r in reports)
        hops = [h for r in reports for h in r["hops_ms"]]
        others = (sum(r["cpu"] for r in reports) - bots_cpu0 + pub_cpu1 - pub_cpu0) / wall * 100
        relay_pct = (user1 + system1 - user0 - system0) / wall * 100
        return {
            "relay_user_pct": (user1 - user0) / wall * 100,
            "relay_system_pct": (system1 - system0) / wall * 100,
            "relay_cpu_pct": relay_pct,
            # what else ran on the relay's CPU: other processes, and kernel work not charged to it
            "cpu0_other_pct": max(0.0, (busy1 - busy0) / max(total1 - total0, 1) * 100 - relay_pct),
            "others_cpu_pct": others,
            "loss_pct": lost / (packets + lost) * 100 if packets + lost else 0.0,
            "lost": lost,
            "min_fps": min((r["min_fps"] for r in reports if r["bots"]), default=0.0),
            "hop_p50_ms": p95(hops) and round(sorted(hops)[len(hops) // 2], 1),
            "hop_p95_ms": p95(hops),
            "hops": len(hops),
        }

    def switches(self, count: int) -> list[float]:
        latencies = []
        for i in range(count):
            target, clip = ("pubB", 1) if i % 2 == 0 else ("pubA", 0)
            for bots in self.bots:
                bots.call("switch", clip)
            at = self.relay.call("program", target, [target])
            time.sleep(0.7)
            for bots in self.bots:
                result = bots.call("switched", 0.0)
                latencies += [(arrival - at) * 1000 for arrival in result["arrivals"]]
                if result["missing"]:
                    log(f"{result['missing']} bots did not see switch {i + 1} within 0.7 s")
                    latencies += [float("inf")] * result["missing"]
        return latencies

    def run(self) -> dict:
        args = self.args
        self.start_relay(naive=False)
        time.sleep(1.0)
        base = self.window(2.0)
        log(f"N=0: relay cpu {base['relay_cpu_pct']:.1f}%")
        best = failed = None
        best_hop10 = 0
        hop_at_100 = None
        firsts_connected, firsts_offer = [], []
        for n in args.steps:
            if self.elapsed() > args.budget - 90:
                log(f"time budget reached before N={n}")
                break
            joined = time.monotonic()
            firsts = self.add_bots(n)
            join_s = time.monotonic() - joined
            w = self.window(args.window)
            switch = self.switches(4)
            # keeping up: nothing lost, every bot at full frame rate, no backlog building up
            steady = (
                w["lost"] == 0
                and w["min_fps"] >= 0.95 * _relay_clips.FPS
                and w["hop_p95_ms"] is not None
                and w["hop_p95_ms"] <= MAX_HOP_MS
            )
            ok = steady and firsts["missing"] == 0
            log(
                f"N={n}: relay cpu {w['relay_cpu_pct']:.1f}% (user {w['relay_user_pct']:.0f}, "
                f"system {w['relay_system_pct']:.0f}; +{w['cpu0_other_pct']:.0f}% else on CPU 0; "
                f"bots+publisher {w['others_cpu_pct']:.0f}% of CPU 1), "
                f"loss {w['loss_pct']:.3f}%, min fps {w['min_fps']:.1f}, "
                f"hop p50/p95 {w['hop_p50_ms']}/{w['hop_p95_ms']} ms, "
                f"first frame p95 {p95(firsts['from_connected_ms'])} ms ({firsts['missing']} missing), "
                f"switch p95 {p95(switch)} ms, join {join_s:.1f}s -> {'ok' if ok else 'FAIL'}"
            )
            if not ok:
                failed = {"n": n, "window": w, "limit": _limit(w, steady), "missing": firsts["missing"]}
                break
            best = {"n": n, "window": w, "switch": switch}
            if w["hop_p95_ms"] <= 10:
                best_hop10 = n
            firsts_connected += firsts["from_connected_ms"]
            firsts_offer += firsts["from_offer_ms"]
            if n <= 100:
                hop_at_100 = w["hop_p95_ms"]
        self.stop_relay()

        naive = None
        if self.elapsed() < args.budget - 25:
            self.start_relay(naive=True)
            time.sleep(2.0)
            naive_base = self.window(3.0)
            self.add_bots(NAIVE_ROOMS)
            time.sleep(1.0)
            naive_w = self.window(4.0)
            naive = (naive_w["relay_cpu_pct"] - naive_base["relay_cpu_pct"]) / NAIVE_ROOMS
            log(
                f"stock aiortc relay: cpu {naive_base['relay_cpu_pct']:.1f}% at N=0, "
                f"{naive_w['relay_cpu_pct']:.1f}% at N={NAIVE_ROOMS} (min fps {naive_w['min_fps']:.1f}) "
                f"-> {naive:.1f}% per room"
            )
            self.stop_relay()
        else:
            log("time budget reached: stock relay not measured")

        failure = {
            "limited_by": failed["limit"] if failed is not None else "last step or time",
            "failed_at": failed
            and {
                "rooms": failed["n"],
                "relay_cpu_pct": round(failed["window"]["relay_cpu_pct"], 1),
                "bots_cpu_pct": round(failed["window"]["others_cpu_pct"], 1),
                "loss_pct": round(failed["window"]["loss_pct"], 3),
                "min_fps": failed["window"]["min_fps"],
                "hop_p95_ms": failed["window"]["hop_p95_ms"],
                "first_frames_missing": failed["missing"],
            },
        }
        if best is None:  # the first step failed: what stopped it matters most
            return {"rooms_per_core": 0, "capacity_rooms": None, **failure, "seconds": round(self.elapsed())}
        w = best["window"]
        per_room = max(w["relay_cpu_pct"] - base["relay_cpu_pct"], 0.0) / best["n"]
        return {
            "rooms_per_core": best["n"],
            "cpu_pct_per_room": round(per_room, 3),
            "loss_pct": round(w["loss_pct"], 3),
            "first_frame_p95_ms": p95(firsts_connected),
            "hop_p95_ms": w["hop_p95_ms"],
            "hop_p95_ms_at_100": hop_at_100,
            "rooms_per_core_hop_10ms": best_hop10,
            "switch_p95_ms": p95(best["switch"]),
            "vs_reencode_ratio": round(naive / per_room, 1) if naive and per_room else None,
            "relay_cpu_pct_at_max": round(w["relay_cpu_pct"], 1),
            "rooms_per_core_by_cpu": int(90 / per_room) if per_room else None,
            "reencode_cpu_pct_per_room": round(naive, 1) if naive else None,
            "first_frame_from_offer_p95_ms": p95(firsts_offer),
            # the relay's limit in steady state: a step lost to the bench's own core or to a join burst is not it
            "capacity_rooms": best["n"] if failed is not None and failed["limit"] == "relay" else None,
            **failure,
            "seconds": round(self.elapsed()),
        }

    def close(self) -> None:
        for child in [*self.bots, self.publisher, self.relay]:
            if child is not None:
                child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default=",".join(str(n) for n in range(50, 2001, 50)))
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    parser.add_argument(
        "--fair",
        dest="realtime",
        action="store_false",
        help="no SCHED_FIFO for the bench processes (by default, as root, they run ahead of "
        "anything else on the machine, so a parallel test run does not skew the figures)",
    )
    args = parser.parse_args()
    args.steps = [int(n) for n in args.steps.split(",")]
    if os.cpu_count() < 2:
        sys.exit("needs 2 CPUs: the relay on one, the bots on the other")
    log("preparing clips (cached in /tmp after the first run)")
    bench = Bench(args)
    try:
        result = bench.run()
    finally:
        bench.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

"""What recording adds to a relay process's CPU (issue 10, item 2: packets copied, nothing decoded).

`measure(meetings, seconds)`: one relay process (on CPU 0, as `manage.py run_relay` would run) carries
`meetings` meetings, each with a program source publishing 640x360 30 fps VP8 at ~500 kbps and Opus
(pre-encoded clips replayed by a publisher process on CPU 1; bench/_relay_clips.py). Its CPU is measured
over windows of `seconds` with recording off and on, alternated `pairs` times in one run; every meeting's
program (video + the chair's and the source's audio: 30 + 2 x 50 packets a second) is recorded at once
through the media service, as in production, into WebM segments under a temporary directory (no database:
a directory sink).

    cpu_pct_per_stream = median over the rounds of (relay CPU with recording - without) / meetings,
                         in % of one core

Each round has four windows: off, "routed" (see MODES), recording with the old one-packet-at-a-time hand-over ("single", the
figures under "before_put_many"), and with batches (`Recorder.put_many`, the product's path: the top level).

On a shared machine the relay's CPU without recording moves by several % from one window to the next, so
the direct figures are returned too: the event loop thread's CPU with - without (the feed: routing, packets,
hand-over) and the recorders' writer threads' CPU (the muxing), each per stream and per packet.
`.venv/bin/python bench/_recording_cpu.py [--meetings 20] [--seconds 6] [--pairs 4]` prints progress and,
last, one JSON object.
"""
import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import statistics
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

RELAY_CPU, OTHERS_CPU = 0, 1
# Windows in each round: no recording, recording with packets handed over one by one (as before put_many),
# and with one batch per flush (Recorder.put_many, what the product does).
# "routed": the program is routed to a recorder slot that takes nothing: the per-frame fan-out (audio Frame
# objects, clocks, slot dispatch) that a meeting with any subscriber already pays; the bench's meetings have
# none, so "off" leaves it out and cpu_pct_per_stream counts it (conservative).
MODES = ("off", "routed", "single", "batch")
CHAIR = 1  # the room that publishes in each meeting: the chair, and the program's source


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _program() -> dict:
    return {"mode": "floor", "chair_room": CHAIR, "source_room": CHAIR}


class _DirSink:
    """Segments as files in a directory (the bench has no database)."""

    def __init__(self, directory: Path, meeting_id: int):
        self.directory, self.meeting_id, self.n = directory, meeting_id, 0

    def opened(self, started_at):
        self.n += 1
        return self.directory / f"{self.meeting_id}-{self.n}.webm"

    def closed(self, segment):
        pass

    def finished(self):
        pass


def _thread_cpu_s(native_ids) -> float:
    """User + system seconds of these threads of this process (/proc/self/task/<id>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for tid in native_ids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / tick


def relay_main(conn, cpu: int, out_dir: str) -> None:
    import _relay_procs

    _relay_procs._pin(cpu, False)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    import django

    django.setup()
    from confserver.runtime import tune_gc

    tune_gc()  # as manage.py run_relay does
    asyncio.run(_relay(conn, Path(out_dir)))


async def _relay(conn, out_dir: Path) -> None:
    import _relay_procs

    from confserver.media import local

    local.sink_for = lambda meeting_id: _DirSink(out_dir, meeting_id)
    local._recovered = True  # nothing to recover: no database here
    failures = []

    async def failed(meeting_id, code, detail):
        failures.append((meeting_id, code, detail))

    local.on_recording_failed = failed
    local.after_meeting = lambda meeting_id: None
    writer_ids: set[int] = set()

    def recorded() -> tuple[int, int]:
        frames = sum(slot.frames for relay in local._relays.values() if relay._recorder is not None
                     for slots in relay._recorder.slots.values() for slot in slots)
        size = sum(f.stat().st_size for f in out_dir.iterdir())
        return frames, size

    async def handle(command, *args):
        if command == "open":
            return [(mid, await local.open_peer(mid, CHAIR, offer, _program(), set())) for mid, offer in args[0]]
        if command == "record":
            mode, meetings = args  # "off", or the hand-over: "batch" (put_many) or "single" (put per packet)
            for mid in meetings:
                if mode == "routed":
                    relay = local._relays[mid]
                    relay.start_recording(lambda packet: False, 5.0)
                    relay._recorder.refused = True  # routed to, takes nothing: the fan-out any subscriber causes
                elif mode != "off":
                    await local.start_recording(mid, _program())
                    writer_ids.add(local._recorders[mid]._thread.native_id)
                    if mode == "single":
                        local._relays[mid]._recorder.put_many = None  # the hand-over before put_many
                else:
                    await local.stop_recording(mid)
                    local._relays[mid].stop_recording()  # a "routed" one (no-op otherwise)
            return True
        if command == "cpu":
            times = os.times()
            frames, size = recorded()
            return {"cpu_s": times.user + times.system, "writers_s": _thread_cpu_s(writer_ids),
                    "loop_s": _thread_cpu_s([threading.get_native_id()]), "at": time.monotonic(),
                    "frames": frames, "bytes": size}
        if command == "status":
            stats = [s for relay in local._relays.values() for s in relay.stats().values()]
            return {"connected": sum(s.connected for s in stats), "failures": failures,
                    "loss_in_pct": max((s.loss_in_pct for s in stats), default=0.0)}
        raise ValueError(command)

    await _relay_procs._serve(conn, handle)
    await local.close_all()


class _Child:
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
            self.call("quit", timeout=30)
        except Exception:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def measure(meetings: int = 20, seconds: float = 6.0, pairs: int = 4) -> dict:
    """Relay CPU with and without recording `meetings` programs at once; see the module's docstring."""
    import _relay_clips
    import _relay_procs

    if os.cpu_count() < 2:
        raise RuntimeError("needs 2 CPUs: the relay on one, the publisher on the other")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    os.environ.setdefault("MEDIA_ICE_HOSTS", "127.0.0.1")
    var_dir = tempfile.mkdtemp(prefix="confserver-bench-recording-")
    os.environ.setdefault("CONFSERVER_VAR_DIR", var_dir)
    out_dir = Path(var_dir) / "segments"
    out_dir.mkdir()
    clips = _relay_clips.load_clips()
    ctx = multiprocessing.get_context("spawn")
    sent_at = ctx.RawArray("d", sum(len(c.video) for c in clips))
    relay = publisher = None
    try:
        relay = _Child(ctx, relay_main, RELAY_CPU, str(out_dir))
        publisher = _Child(ctx, _relay_procs.publisher_main, OTHERS_CPU, False, sent_at)
        ids = list(range(1, meetings + 1))
        offers = publisher.call("offers", [(f"m{mid}", 0) for mid in ids])
        answers = relay.call("open", [(mid, offer) for mid, (_, offer) in zip(ids, offers)])
        publisher.call("accept", [(f"m{mid}", answer) for mid, answer in answers])
        deadline = time.monotonic() + 30
        while relay.call("status")["connected"] < meetings and time.monotonic() < deadline:
            time.sleep(0.5)
        log(f"{relay.call('status')['connected']} of {meetings} program sources connected")
        time.sleep(2.0)

        windows = {mode: [] for mode in MODES}
        # Each round starts with "off"; the other modes' order rotates from round to round, so that none is always
        # measured right after another (the machine's load drifts within a round).
        rest = MODES[1:]
        order = [m for r in range(pairs) for m in ("off", *rest[r % len(rest):], *rest[:r % len(rest)])]
        for mode in order:
            relay.call("record", "off", ids)
            time.sleep(0.5)
            relay.call("record", mode, ids)
            time.sleep(1.0)  # the recorders start (or end) and settle
            before = relay.call("cpu")
            time.sleep(seconds)
            after = relay.call("cpu")
            wall = after["at"] - before["at"]
            window = {
                "cpu_pct": (after["cpu_s"] - before["cpu_s"]) / wall * 100,
                "loop_pct": (after["loop_s"] - before["loop_s"]) / wall * 100,
                "writers_pct": (after["writers_s"] - before["writers_s"]) / wall * 100,
                "frames_per_s": (after["frames"] - before["frames"]) / wall,
                "bytes_per_s": (after["bytes"] - before["bytes"]) / wall,
            }
            windows[mode].append(window)
            log(f"recording {mode:6}: relay cpu {window['cpu_pct']:.2f}% (event loop "
                f"{window['loop_pct']:.2f}%, writer threads {window['writers_pct']:.2f}%), {window['frames_per_s']:.0f} frames/s and "
                f"{window['bytes_per_s'] / 1000:.0f} kB/s written")
        relay.call("record", "off", ids)
        status = relay.call("status")
    finally:
        for child in (publisher, relay):
            if child is not None:
                child.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    def median(mode, key):
        return statistics.median(w[key] for w in windows[mode])

    def added(mode, key):
        return statistics.median(on[key] - off[key] for off, on in zip(windows["off"], windows[mode]))

    def figures(mode):
        packets = median(mode, "frames_per_s")
        total, loop_added, writers = added(mode, "cpu_pct"), added(mode, "loop_pct"), median(mode, "writers_pct")

        def us(pct):  # CPU seconds per packet (in µs): independent of what else the machine runs, mostly
            return round(pct / 100 / packets * 1e6, 1) if packets else None

        return {
            "cpu_pct_per_stream": round(total / meetings, 4),
            "direct_cpu_pct_per_stream": round((loop_added + writers) / meetings, 4),
            "event_loop_cpu_pct_added": round(loop_added, 2),
            "writer_threads_cpu_pct": round(writers, 2),
            "us_per_packet_relay_process": us(total),
            "us_per_packet_event_loop": us(loop_added),
            "us_per_packet_writer": us(writers),
            "relay_cpu_pct_on": round(median(mode, "cpu_pct"), 2),
            "packets_written_per_s": round(packets),
            "kbytes_written_per_s": round(median(mode, "bytes_per_s") / 1000),
        }

    batch = figures("batch")
    routed = figures("routed")
    return {
        "streams": meetings,
        **batch,
        # what recording adds to a meeting whose program already goes to a subscriber (any real meeting)
        "cpu_pct_per_stream_over_routed": round(batch["cpu_pct_per_stream"] - routed["cpu_pct_per_stream"], 4),
        "event_loop_cpu_pct_added_over_routed": round(batch["event_loop_cpu_pct_added"]
                                                      - routed["event_loop_cpu_pct_added"], 2),
        "routed_only": {k: routed[k] for k in ("cpu_pct_per_stream", "event_loop_cpu_pct_added")},
        "before_put_many": figures("single"),
        "relay_cpu_pct_off": round(median("off", "cpu_pct"), 2),
        "relay_cpu_pct_off_range": [round(min(w["cpu_pct"] for w in windows["off"]), 2),
                                    round(max(w["cpu_pct"] for w in windows["off"]), 2)],
        "load_average": os.getloadavg(),
        "recording_failures": status["failures"],
        "loss_in_pct": status["loss_in_pct"],
        "window_s": seconds,
        "pairs": pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each window")
    parser.add_argument("--pairs", type=int, default=4, help="how many times recording goes off then on")
    args = parser.parse_args()
    print(json.dumps(measure(args.meetings, args.seconds, args.pairs)), flush=True)


if __name__ == "__main__":
    main()

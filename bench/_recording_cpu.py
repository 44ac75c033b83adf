"""What recording adds to a relay process's CPU (issue 10, item 2: packets copied, nothing decoded).

`measure(meetings, seconds)`: one relay process (on CPU 0, as `manage.py run_relay` would run) carries
`meetings` meetings, each with a program source publishing 640x360 30 fps VP8 at ~500 kbps and Opus
(pre-encoded clips replayed by a publisher process on CPU 1; bench/_relay_clips.py). Its CPU is measured
over windows of `seconds` with recording off and on, alternated `pairs` times in one run; every meeting's
program (video + the chair's and the source's audio: 30 + 2 x 50 packets a second) is recorded at once
through the media service, as in production, into WebM segments under a temporary directory (no database:
a directory sink).

    cpu_pct_per_stream = median over the rounds of (relay CPU with recording - without) / meetings,
                         in % of one core, "without" being the same meetings watched (see "The baseline")

Each round measures recording with batches (`Recorder.put_frames`, the product's path) written by each writer,
"pyav" and "webm" (under "writers"; the top level is RECORDING_WRITER's), each between two "off" windows and
compared with their mean; with --single also the old one-packet-at-a-time hand-over ("single", under
"before_put_many": EncodedPackets put one by one).

The baseline. The bench's meetings have no room subscribed, so in "off" the relay does not even build the
program's frames: the fan-out (an audio Frame object a packet, the fan-out's clocks, a call per slot) is then
charged to recording, though every real meeting pays it for its rooms. So each round also measures the same
meetings watched: "watched" gives each meeting one subscriber with a room's three program slots (video, the
chair's and the source's audio) that take each frame and drop it, and "watched+rec" records them too (the
default writer), between two "watched" windows:

    cpu_pct_per_stream         = what recording adds to a watched meeting ("watched+rec" - "watched"), the goal's
                                 figure since this change;
    cpu_pct_per_stream_unwatched = the figure before it ("rec" - "off": the fan-out included), printed beside it,
                                 with routed_only = "watched" - "off" (the fan-out alone; the old "routed" mode
                                 measured it with a refused recorder's slots).

With --drop a "watched+drop" window joins each group: the recorder's slots fed (and its keyframe requests sent) but
their batches dropped, i.e. the event loop's part of recording without the writer thread (under "watched_drop").

On a shared machine the relay's CPU without recording moves by several % from one window to the next, so
the direct figures are returned too: the event loop thread's CPU with - without (the feed: routing, packets,
hand-over) and the CPU of the process's recording writer thread (the muxing: one thread for every meeting,
recording/recorder.py; reported under writer_threads_*), each per stream and per packet. The threads' CPU is read
from /proc/self/task/<id>/schedstat (ns; /proc's tick accounting was coarse, and undercounted a thread waking in
bursts shorter than a tick); the process's, from os.times().
`.venv/bin/python bench/_recording_cpu.py [--meetings 20] [--seconds 6] [--pairs 4] [--single] [--drop]` prints progress
and, last, one JSON object.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

RELAY_CPU, OTHERS_CPU = 0, 1
# Windows in each round: no recording, recording with packets handed over one by one (as before put_many; with
# --single), and with one batch of hand-over tuples per flush (Recorder.put_frames, what the product does).
# "pyav" and "webm": batches (put_frames), written by segments.SegmentFile (FFmpeg's muxer) or by recording/webm.py
# (settings.RECORDING_WRITER chooses in the product; the top-level figures are the default writer's).
# "watched": each meeting's program goes to one subscriber (a room's three slots, taking and dropping each frame),
# as in any real meeting; "watched+rec": watched and recorded (the default writer). See the module's docstring.
# "watched+drop" (with --drop): watched, and the recorder's slots fed as when recording (keyframe requests too) but
# their batches dropped instead of handed to a Recorder: the event loop's part without the writer thread.
WRITERS = ("pyav", "webm")
MODES = ("off", "single", *WRITERS, "watched", "watched+rec", "watched+drop")
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


class _Dropper:
    """A recorder's `put` (media/recorder.py) whose batches are dropped: "watched+drop"."""

    def put(self, packet) -> bool:
        return True

    def put_frames(self, frames) -> bool:
        return True


def _thread_cpu_s(native_ids) -> dict[int, float]:
    """Seconds each of these threads of this process has run (/proc/self/task/<id>/schedstat, in ns); a thread
    that has ended is left out."""
    times = {}
    for tid in native_ids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                times[tid] = int(f.read().split()[0]) / 1e9
        except (OSError, IndexError, ValueError):
            pass
    return times


def _ran_s(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two _thread_cpu_s readings of the threads alive at both."""
    return sum(after[tid] - before[tid] for tid in after.keys() & before.keys())


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
    from django.conf import settings

    from confserver.media import local

    default_writer = settings.RECORDING_WRITER
    local.sink_for = lambda meeting_id: _DirSink(out_dir, meeting_id)
    local._recovered = True  # nothing to recover: no database here
    failures = []

    async def failed(meeting_id, code, detail):
        failures.append((meeting_id, code, detail))

    local.on_recording_failed = failed
    local.after_meeting = lambda meeting_id: None
    writer_ids: set[int] = set()
    watchers: dict[int, list] = {}  # meeting -> [(feed, slot)]: the "watched" subscriber's slots

    from confserver.media.routing import Slot

    class Watcher(Slot):
        """A subscriber's slot that takes each frame and drops it: the fan-out a room causes, not its sending."""

        def take(self, feed, frame, now, ntp, ast):
            pass

    def watch(mid: int, on: bool) -> None:
        if not on:
            for feed, slot in watchers.pop(mid, ()):
                if slot in feed.slots:
                    feed.slots.remove(slot)
            return
        if mid in watchers:
            return
        peer = next(iter(local._relays[mid]._peers.values()))  # the chair: the program's only source here
        pairs = watchers[mid] = []
        for kind in ("video", "audio", "audio"):  # a room's slots: the program's video, the chair's and source's audio
            feed = peer.feeds[kind]
            slot = Watcher(kind, 0)
            slot.current = feed
            feed.slots.append(slot)
            pairs.append((feed, slot))

    def recorded() -> tuple[int, int]:
        frames = sum(
            slot.frames
            for relay in local._relays.values()
            if relay._recorder is not None
            for slots in relay._recorder.slots.values()
            for slot in slots
        )
        size = sum(f.stat().st_size for f in out_dir.iterdir())
        return frames, size

    async def handle(command, *args):
        if command == "open":
            return [(mid, await local.open_peer(mid, CHAIR, offer, _program(), set())) for mid, offer in args[0]]
        if command == "record":
            # "off", "watched", "single" (put per packet), a writer's name (put_frames) or "watched+rec"
            mode, meetings = args
            for mid in meetings:
                watch(mid, mode.startswith("watched"))
                if mode == "watched+drop":
                    dropper = _Dropper()
                    local._relays[mid].start_recording(dropper.put, settings.RECORDING_KEYFRAME_S)
                elif mode not in ("off", "watched"):
                    settings.RECORDING_WRITER = mode if mode in WRITERS else default_writer
                    await local.start_recording(mid, _program())
                    writer_ids.add(local._recorders[mid]._thread.native_id)
                    if mode == "single":
                        local._relays[mid]._recorder.put_frames = None  # EncodedPackets, one put each
                else:
                    await local.stop_recording(mid)
                    local._relays[mid].stop_recording()  # a "watched+drop" one (no-op otherwise)
            return True
        if command == "cpu":
            times = os.times()
            frames, size = recorded()
            return {
                "cpu_s": times.user + times.system,
                "writers_s": _thread_cpu_s(writer_ids),
                "loop_s": _thread_cpu_s([threading.get_native_id()]),  # this thread runs the event loop
                "at": time.monotonic(),
                "frames": frames,
                "bytes": size,
            }
        if command == "status":
            stats = [s for relay in local._relays.values() for s in relay.stats().values()]
            return {
                "connected": sum(s.connected for s in stats),
                "failures": failures,
                "loss_in_pct": max((s.loss_in_pct for s in stats), default=0.0),
                "writer": default_writer,
            }
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


def measure(meetings: int = 20, seconds: float = 6.0, pairs: int = 4, single: bool = False, drop: bool = False) -> dict:
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
        sequence = []  # (mode, window) in the order measured
        # Every window with recording is measured between two windows without it and compared with their mean: the
        # machine's load drifts within a round (other runs share it), and an "off" measured only at the round's start
        # was up to ~45 s away from the window it was the baseline of. The modes' order rotates from round to round;
        # "watched+rec" (and "watched+drop") sit between two "watched" windows, in a group bounded by "off" windows.
        rest = [m for m in ("single", *WRITERS) if single or m != "single"] + ["watched"]
        group = ["off", "watched", "watched+rec", "watched"] + (["watched+drop", "watched"] if drop else [])
        order = []
        for r in range(pairs):
            for mode in (*rest[r % len(rest) :], *rest[: r % len(rest)]):
                order += ["off", mode] if mode != "watched" else group
        order.append("off")
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
                "loop_pct": _ran_s(before["loop_s"], after["loop_s"]) / wall * 100,
                "writers_pct": _ran_s(before["writers_s"], after["writers_s"]) / wall * 100,
                "frames_per_s": (after["frames"] - before["frames"]) / wall,
                "bytes_per_s": (after["bytes"] - before["bytes"]) / wall,
            }
            windows[mode].append(window)
            sequence.append((mode, window))
            log(
                f"recording {mode:6}: relay cpu {window['cpu_pct']:.2f}% (event loop "
                f"{window['loop_pct']:.2f}%, writer threads {window['writers_pct']:.2f}%), "
                f"{window['frames_per_s']:.0f} frames/s and "
                f"{window['bytes_per_s'] / 1000:.0f} kB/s written"
            )
        relay.call("record", "off", ids)
        status = relay.call("status")
    finally:
        for child in (publisher, relay):
            if child is not None:
                child.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    def median(mode, key):
        return statistics.median(w[key] for w in windows[mode])

    def added(mode, key):  # each window of `mode` minus the mean of the windows either side (its baseline)
        if mode == "watched":  # each group's "watched" windows against the "off" windows either side of the group
            values = []
            for i, (m, _) in enumerate(sequence):
                if m == "watched" and sequence[i - 1][0] == "off":
                    end = next(j for j in range(i, len(sequence)) if sequence[j][0] == "off")
                    inside = [w[key] for m2, w in sequence[i:end] if m2 == "watched"]
                    values.append(statistics.mean(inside) - (sequence[i - 1][1][key] + sequence[end][1][key]) / 2)
            return statistics.median(values)
        return statistics.median(
            on[key] - (sequence[i - 1][1][key] + sequence[i + 1][1][key]) / 2
            for i, (m, on) in enumerate(sequence)
            if m == mode and m != "off"
        )

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

    default_writer = status["writer"]  # settings.RECORDING_WRITER in the relay process
    batch = figures(default_writer)
    watched = figures("watched+rec")
    routed = figures("watched")  # the fan-out alone: "watched" - "off"
    return {
        "streams": meetings,
        # what recording adds to a watched meeting (every real one): see the module's docstring
        **watched,
        "recording_writer": default_writer,
        # the figure before the baseline changed: recording alone against unwatched meetings (the fan-out included)
        "cpu_pct_per_stream_unwatched": batch["cpu_pct_per_stream"],
        "unwatched": batch,
        # side by side in the same rounds (unwatched): what each writer adds (and the writer thread's µs)
        "writers": {w: figures(w) for w in WRITERS},
        "routed_only": {k: routed[k] for k in ("cpu_pct_per_stream", "event_loop_cpu_pct_added")},
        "before_put_many": figures("single") if single else None,
        "watched_drop": figures("watched+drop") if drop else None,
        "relay_cpu_pct_off": round(median("off", "cpu_pct"), 2),
        "relay_cpu_pct_off_range": [
            round(min(w["cpu_pct"] for w in windows["off"]), 2),
            round(max(w["cpu_pct"] for w in windows["off"]), 2),
        ],
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
    parser.add_argument("--pairs", type=int, default=4, help="rounds (each mode once, between windows without it)")
    parser.add_argument("--single", action="store_true", help="also the one-packet-at-a-time hand-over")
    parser.add_argument("--drop", action="store_true", help='also "watched+drop": the event loop without the writer')
    args = parser.parse_args()
    print(json.dumps(measure(args.meetings, args.seconds, args.pairs, args.single, args.drop)), flush=True)


if __name__ == "__main__":
    main()

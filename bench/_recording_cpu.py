"""What recording adds to a relay process's CPU (issue 10, item 2: packets copied, nothing decoded).

`measure(meetings, seconds)`: one relay process (on CPU 0, as `manage.py run_relay` would run) carries
`meetings` meetings, each with a program source publishing 640x360 30 fps VP8 at ~500 kbps and Opus
(pre-encoded clips replayed by a publisher process on CPU 1; bench/_relay_clips.py). Its CPU is measured
over windows of `seconds` with recording off and on, alternated (off, on, off, on) in one run; every
meeting's program (video + the chair's and the source's audio) is recorded at once through the media
service, as in production, into WebM segments under a temporary directory (no database: a directory sink).

    cpu_pct_per_stream = (relay CPU with recording - without) / meetings, in % of one core

Also returned: the part of it spent in the recorders' writer threads, packets and bytes written per second,
failures. `.venv/bin/python bench/_recording_cpu.py [--meetings 20] [--seconds 10]` prints progress and,
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
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

RELAY_CPU, OTHERS_CPU = 0, 1
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
            on, meetings = args
            for mid in meetings:
                if on:
                    await local.start_recording(mid, _program())
                    writer_ids.add(local._recorders[mid]._thread.native_id)
                else:
                    await local.stop_recording(mid)
            return True
        if command == "cpu":
            times = os.times()
            frames, size = recorded()
            return {"cpu_s": times.user + times.system, "writers_s": _thread_cpu_s(writer_ids),
                    "at": time.monotonic(), "frames": frames, "bytes": size}
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


def measure(meetings: int = 20, seconds: float = 10.0) -> dict:
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

        windows = {False: [], True: []}
        for on in (False, True, False, True):
            relay.call("record", on, ids)
            time.sleep(1.0)  # the recorders start (or end) and settle
            before = relay.call("cpu")
            time.sleep(seconds)
            after = relay.call("cpu")
            wall = after["at"] - before["at"]
            window = {
                "cpu_pct": (after["cpu_s"] - before["cpu_s"]) / wall * 100,
                "writers_pct": (after["writers_s"] - before["writers_s"]) / wall * 100,
                "frames_per_s": (after["frames"] - before["frames"]) / wall,
                "bytes_per_s": (after["bytes"] - before["bytes"]) / wall,
            }
            windows[on].append(window)
            log(f"recording {'on ' if on else 'off'}: relay cpu {window['cpu_pct']:.2f}% "
                f"(writer threads {window['writers_pct']:.2f}%), {window['frames_per_s']:.0f} frames/s and "
                f"{window['bytes_per_s'] / 1000:.0f} kB/s written")
        relay.call("record", False, ids)
        status = relay.call("status")
    finally:
        for child in (publisher, relay):
            if child is not None:
                child.stop()
        shutil.rmtree(var_dir, ignore_errors=True)

    def mean(on, key):
        return sum(w[key] for w in windows[on]) / len(windows[on])

    added = mean(True, "cpu_pct") - mean(False, "cpu_pct")
    return {
        "streams": meetings,
        "cpu_pct_per_stream": round(added / meetings, 4),
        "relay_cpu_pct_off": round(mean(False, "cpu_pct"), 2),
        "relay_cpu_pct_on": round(mean(True, "cpu_pct"), 2),
        "writer_threads_cpu_pct": round(mean(True, "writers_pct"), 2),
        "frames_written_per_s": round(mean(True, "frames_per_s")),
        "kbytes_written_per_s": round(mean(True, "bytes_per_s") / 1000),
        "recording_failures": status["failures"],
        "loss_in_pct": status["loss_in_pct"],
        "window_s": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each of the 4 windows")
    args = parser.parse_args()
    print(json.dumps(measure(args.meetings, args.seconds)), flush=True)


if __name__ == "__main__":
    main()

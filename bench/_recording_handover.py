"""Recording's per-packet cost without the network: the relay's feed → recorder hand-over and the writer thread, timed
in one process over a simulated program (issue 10's cpu_pct_per_stream; bench/_recording_cpu.py measures the relay).

`meetings` meetings, each with a program source (the clip of bench/_relay_clips.py: 640x360 30 fps VP8 in ~1,200-byte
RTP packets, 50 Opus packets a second) whose packets go through the relay's own code (routing.Feed.on_packet: VP8
reassembly, the fan-out to the slots) exactly as received packets do, minus SRTP and aiortc's parsing. Every
0.2 s of simulated program the recorders hand over (media/recorder.py's flush), then the bench waits for the writer
thread to drain, so the two threads never run at once; the event loop's part is this thread's CPU time
(time.thread_time) over the feeding and the flush, the writer's is its thread's run time
(/proc/self/task/<id>/schedstat, in ns).

Modes, each timed over the same packets, in turn, `repeats` times in each of `rounds` processes per tree; the least
time of each mode counts (the run the machine's load disturbed least):
- "off": the feeds have no slot (a meeting nobody subscribes to: the frames are not even built);
- "sub": one subscriber slot that takes each frame and does nothing (what any room watching the program already
  causes: audio Frame objects, the fan-out's clocks, a call per slot);
- "rec": the recorder alone (what bench/_recording_cpu.py measures against its "off");
- "sub+rec": both: recording's own cost in a meeting somebody watches is "sub+rec" - "sub";
- "sub+rec-drop" (only with --modes): "sub+rec" with batches dropped instead of handed to a Recorder (no writer).

Per recorded packet (30 video frames + 2 x 50 Opus packets a second per meeting), in µs: `loop_us` (rec - off),
`loop_us_over_sub` (sub+rec - sub), `writer_us`; and cpu_pct_per_stream = (loop_us + writer_us) x 130 / 10^4.
Run it against two trees to compare code paths side by side:
`.venv/bin/python bench/_recording_handover.py [--tree DIR ...] [--meetings 20] [--seconds 20] [--rounds 4]
[--repeats 3]`
(each tree in a process of its own, alternated); prints one JSON object last.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLUSH_S = 0.2
MODES = ("off", "sub", "rec", "sub+rec")
PACKETS_PER_S = 30 + 2 * 50  # recorded per meeting: video frames, and the chair's Opus in both audio slots


def _schedstat_ns(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


class _Pkt:
    __slots__ = ("payload", "sequence_number", "timestamp", "marker", "ssrc", "extensions")


class _Ext:
    __slots__ = ("audio_level",)

    def __init__(self, level):
        self.audio_level = level


def _packets(seconds: float):
    """One meeting's program, in arrival order: (kind, packet) for `seconds` (the clip loops; keyframe first)."""
    sys.path.insert(0, str(HERE))
    import _relay_clips

    clip = _relay_clips.load_clips()[0]
    out = []
    vseq = aseq = 0
    ext = _Ext((True, 30))
    frames = int(seconds * 30)
    for n in range(frames):
        data = clip.video[n % len(clip.video)]
        chunks = [data[i : i + 1200] for i in range(0, len(data), 1200)]
        for i, chunk in enumerate(chunks):
            p = _Pkt()
            p.payload = (b"\x10" if i == 0 else b"\x00") + chunk
            p.sequence_number = vseq & 0xFFFF
            p.timestamp = (n * 3000) & 0xFFFFFFFF
            p.marker = int(i == len(chunks) - 1)
            p.ssrc, p.extensions = 1111, ext
            out.append(("video", p))
            vseq += 1
        # 20 ms Opus packets, interleaved with the video as they would arrive
        while aseq * 0.02 <= (n + 1) / 30 and aseq < seconds * 50:
            p = _Pkt()
            p.payload = clip.audio[aseq % len(clip.audio)]
            p.sequence_number = aseq & 0xFFFF
            p.timestamp = (aseq * 960) & 0xFFFFFFFF
            p.marker = 0
            p.ssrc, p.extensions = 2222, ext
            out.append(("audio", p))
            aseq += 1
    return out


def _run(meetings: int, seconds: float, modes: list[str], repeats: int, out_dir: Path) -> dict:
    """In this process (the tree on sys.path): time each mode `repeats` times, in turn, over the same packets."""
    import asyncio

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    import django

    django.setup()
    from confserver.media import recorder as media_recorder
    from confserver.media.relay import Relay
    from confserver.media.routing import Feed, Slot
    from confserver.recording.segments import Recorder

    class NullSlot(Slot):
        def take(self, feed, frame, now, ntp, ast):
            pass

    class Receiver:
        def _send_pli_now(self, ssrc):
            pass

    class Peer:
        id = "source"
        muted = False

    class Dropper:
        """A recorder's put that drops the batches: the hand-over without the writer thread ("sub+rec-drop")."""

        def put(self, packet):
            return True

        def put_frames(self, frames):
            return True

    class Sink:
        def __init__(self, name):
            self.name, self.n = name, 0

        def opened(self, started_at):
            self.n += 1
            return out_dir / f"{self.name}-{self.n}.webm"

        def closed(self, segment):
            pass

        def finished(self):
            pass

    program = _packets(seconds)
    per_flush = []  # the program cut at each 0.2 s of its time
    step, start = FLUSH_S, 0
    for i, (kind, p) in enumerate(program):
        clock = 90000 if kind == "video" else 48000
        if p.timestamp / clock >= step:
            per_flush.append(program[start:i])
            start, step = i, step + FLUSH_S
    per_flush.append(program[start:])

    async def one(mode: str) -> tuple[float, float, int]:
        relay = Relay()
        feeds, recorders, writers = [], [], []
        for m in range(meetings):
            peer = Peer()
            video, audio = Feed(relay, peer, "video", Receiver()), Feed(relay, peer, "audio", Receiver())
            feeds.append({"video": video, "audio": audio})
            if "sub" in mode:
                for feed in (video, audio):
                    slot = NullSlot(feed.kind, 0)
                    slot.current = feed
                    feed.slots.append(slot)
            if "rec" in mode:
                if mode.endswith("drop"):
                    pr = media_recorder.ProgramRecorder(Dropper().put, 2.0)
                else:
                    rec = Recorder(Sink(f"{mode}-{m}"), segment_s=300, max_queue=100_000, name=f"bench-{m}")
                    writers.append(rec)
                    pr = media_recorder.ProgramRecorder(rec.put, 2.0)
                pr.video.route(video)
                for slot in pr.slots["audio"]:
                    slot.route(audio)
                recorders.append(pr)
        loop_s = 0.0
        writer_tid = writers[0]._thread.native_id if writers else None
        writer_before = _schedstat_ns(writer_tid) if writer_tid else 0
        for chunk in per_flush:
            t0 = time.thread_time()
            for feed_set in feeds:
                for kind, p in chunk:
                    feed_set[kind].on_packet(p)
            for pr in recorders:
                pr.flush()
            loop_s += time.thread_time() - t0
            deadline = time.monotonic() + 30
            while any(w._pending for w in writers) and time.monotonic() < deadline:
                time.sleep(0.0005)
        writer_ns = (_schedstat_ns(writer_tid) - writer_before) if writer_tid else 0
        frames = sum(slot.frames for pr in recorders for slots in pr.slots.values() for slot in slots)
        for pr in recorders:
            pr.close()
        for w in writers:
            w.stop(30)
        for f in out_dir.iterdir():
            f.unlink()
        return loop_s, writer_ns / 1e9, frames

    async def main():
        samples = {mode: [] for mode in modes}
        for _ in range(repeats):
            for mode in modes:
                samples[mode].append(await one(mode))
        return samples

    return asyncio.run(main())


def _child(args) -> None:
    tree = args.tree[0]
    sys.path.insert(0, tree)
    os.chdir(tree)
    with tempfile.TemporaryDirectory(prefix="confserver-bench-handover-") as d:
        result = _run(args.meetings, args.seconds, args.modes.split(","), args.repeats, Path(d))
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", help="a checkout of the product (default: this one)")
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="simulated program per meeting")
    parser.add_argument("--rounds", type=int, default=4, help="processes per tree, the trees alternated")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode in each process")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    trees = args.tree or [str(HERE.parent)]
    samples = {tree: {mode: [] for mode in args.modes.split(",")} for tree in trees}
    for r in range(args.rounds):
        for tree in trees if r % 2 == 0 else reversed(trees):
            command = [sys.executable, __file__, "--child", "--tree", tree, "--meetings", str(args.meetings)]
            command += ["--seconds", str(args.seconds), "--modes", args.modes, "--repeats", str(args.repeats)]
            env = {**os.environ, "PYTHONPATH": tree}
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tree)
            if done.returncode:
                raise RuntimeError(done.stderr[-3000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
            for mode, values in result.items():
                samples[tree][mode] += values
            print(
                f"round {r + 1} {tree}: "
                + ", ".join(f"{m} " + " ".join(f"{v[0]:.3f}/{v[1]:.3f}s" for v in vs) for m, vs in result.items())
            )
    packets = args.meetings * args.seconds * PACKETS_PER_S
    report = {}
    for tree, modes in samples.items():

        def us(mode, index, base=None):
            # the least CPU time of a mode's runs: what the code costs when the machine's load disturbs it least
            # (each run is timed alone; on a shared machine the median moves with the other processes)
            if mode not in modes or (base is not None and base not in modes):
                return None
            least = min(v[index] for v in modes[mode]) - (min(v[index] for v in modes[base]) if base else 0)
            return round(least / packets * 1e6, 2)

        loop = us("rec", 0, "off")
        writer = us("rec", 1)
        report[tree] = {
            "loop_us": loop,
            "loop_us_over_sub": us("sub+rec", 0, "sub"),
            "sub_us": us("sub", 0, "off"),
            "writer_us": writer,
            "cpu_pct_per_stream": round((loop + writer) * PACKETS_PER_S / 1e4, 4)
            if None not in (loop, writer)
            else None,
            "off_us": us("off", 0),
            "frames_recorded": modes["rec"][0][2] if "rec" in modes else None,
            "runs_per_mode": len(next(iter(modes.values()))),
            # each mode's least event loop time and writer time, per recorded packet
            "modes_us": {mode: [us(mode, 0), us(mode, 1)] for mode in modes},
        }
    report["load_average"] = os.getloadavg()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()

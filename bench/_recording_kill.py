"""bench/recording.py's kill case: how much of a recording a SIGKILL loses.

A child process runs the product's Recorder (writer thread, bounded queue, the crash-safe muxer options) fed at
real-time pace with real VP8 + Opus packets, and prints the media time of every packet it hands over. After a random
3-8 s it is killed with SIGKILL. The loss is the last media time handed over minus the last video frame that decodes
from the file left behind, before any recovery. Several trials; the figure is the worst.

    .venv/bin/python bench/_recording_kill.py     # prints {"lost_s_on_kill": …, …} as its last line
"""

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import sys, time
from datetime import datetime
from fractions import Fraction
from pathlib import Path
import av
from confserver.recording.packets import EncodedPacket
from confserver.recording.segments import Recorder

out = Path(sys.argv[1])
fps, vtb, atb = 30, Fraction(1, 90000), Fraction(1, 48000)
cc = av.CodecContext.create("libvpx", "w")
cc.width, cc.height, cc.pix_fmt, cc.time_base, cc.bit_rate = 640, 360, "yuv420p", Fraction(1, fps), 800_000
cc.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": "150", "kf-min-dist": "150"}
ac = av.CodecContext.create("libopus", "w")
ac.sample_rate, ac.layout, ac.format, ac.time_base = 48000, "mono", "s16", atb
packets = []
for i in range(12 * fps):
    f = av.VideoFrame(640, 360, "yuv420p")
    for k, plane in enumerate(f.planes):
        row = bytes(((i * 7 + k * 40 + x) // 2) % 256 for x in range(plane.line_size))
        plane.update(row * (360 if k == 0 else 180))
    f.pts, f.time_base = i, cc.time_base
    packets += [EncodedPacket.video(bytes(p), p.pts * 3000, vtb) for p in cc.encode(f)]
for i in range(12 * 50):
    f = av.AudioFrame(format="s16", layout="mono", samples=960)
    f.sample_rate = 48000
    f.planes[0].update(bytes((j * (i % 3 + 1)) % 256 for j in range(1920)))
    f.pts, f.time_base = i * 960, atb
    packets += [EncodedPacket.audio(bytes(p), max(p.pts, 0), atb) for p in ac.encode(f)]
packets.sort(key=lambda p: p.pts * p.time_base)

class OneFile:
    def opened(self, started_at): return out
    def closed(self, segment): pass
    def finished(self): pass

rec = Recorder(OneFile(), segment_s=3600, max_queue=3000)
print("ready", flush=True)
t0 = time.monotonic()
for p in packets:
    at = float(p.pts * p.time_base)
    delay = t0 + at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    rec.put(p)
    print(f"put {round(at * 1000)}", flush=True)
time.sleep(600)
"""


def last_decodable_ms(path: Path) -> int | None:
    shown = None
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                shown = int(frame.pts * frame.time_base * 1000)
    except (av.error.FFmpegError, OSError):
        pass  # the cut-off tail
    return shown


def trial(tmp: Path, n: int, kill_after: float) -> float:
    out = tmp / f"killed-{n}.webm"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    last_put = 0
    try:
        assert proc.stdout.readline().strip() == "ready"
        end = time.monotonic() + kill_after
        while time.monotonic() < end:
            line = proc.stdout.readline()
            if line.startswith("put "):
                last_put = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = proc.communicate(timeout=30)[0]
    for line in rest.splitlines():  # handed over before the kill, still in the pipe
        if line.startswith("put "):
            last_put = int(line.split()[1])
    shown = last_decodable_ms(out)
    return (last_put - (shown if shown is not None else 0)) / 1000


def measure(trials: int = 5, seed: int = 3) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as d:
        losses = [trial(Path(d), n, rng.uniform(3, 8)) for n in range(trials)]
    return {"lost_s_on_kill": round(max(losses), 2), "lost_s_trials": [round(x, 2) for x in losses]}


if __name__ == "__main__":
    print(json.dumps(measure()))

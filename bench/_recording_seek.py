"""bench/recording.py's seek case: random seeks in a one-hour recording served by the product, in headless Chromium.

A throwaway database gets the demo province and one ended meeting whose recording is one hour of real VP8 + Opus
packets (a 10 s clip encoded once, its packets repeated with moving timestamps; a keyframe every
RECORDING_KEYFRAME_S seconds, as the relay asks for while recording) written by the product's own segment writer,
then mixed and joined into the one file the review page plays.
One daphne worker serves it; the reviewer signs in, opens the review page, and the page's own <video> is seeked to
20 random times. A seek's time runs from setting `currentTime` to the first frame composited after it
(`requestVideoFrameCallback`), the figure a reviewer feels. Beside it, what explains it: the range requests the
player made per seek, and what the daphne worker read from disk and spent in CPU meanwhile (a player's
`bytes=N-` once made it read the rest of the file for each seek: serve.PLAYER_SPAN).

Its processes (this one, daphne, Chromium's) run at nice -10 in autogroups of their own, as the cpu case's relay
does (bench/_relay_procs._pin): on a machine shared with other test runs, the seeks otherwise measure their load
(p95 707 ms at load 20, 271-357 ms at load ~10, same code). The same number of other random seeks at plain
priority follow, side by side (`seek_p95_ms_plain`); then the recorder's own segment file (prioritised).

    .venv/bin/python bench/_recording_seek.py      # prints {"seek_p95_ms": …, "seeks": [...]} as its last line
"""

import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confserver.testing import live  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
REVIEWER, PASSWORD = "xemlai-hue", "demo12345"

# Run in the server's environment (its database, its RECORDINGS_ROOT): an ended meeting with one hour recorded.
FIXTURE = r"""
import json, os, sys
from datetime import timedelta
from fractions import Fraction
import django
django.setup()
import av
from django.conf import settings
from django.utils import timezone
from confserver.recording import store
from confserver.recording.packets import EncodedPacket
from confserver.recording.segments import SegmentedWriter
from confserver.rooms.models import Meeting, MeetingState

hours, fps, clip_s = float(sys.argv[1]), 15, 10
keyframe_s = float(getattr(settings, "RECORDING_KEYFRAME_S", 5))
vtb, atb = Fraction(1, 90000), Fraction(1, 48000)

cc = av.CodecContext.create("libvpx", "w")
cc.width, cc.height, cc.pix_fmt, cc.time_base = 640, 360, "yuv420p", Fraction(1, fps)
cc.bit_rate = 500_000
gop = int(keyframe_s * fps)
cc.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(gop), "kf-min-dist": str(gop)}
video = []
for i in range(clip_s * fps):
    f = av.VideoFrame(640, 360, "yuv420p")
    for k, plane in enumerate(f.planes):
        rows = 360 if k == 0 else 180
        plane.update(bytes(((i * 3 + k * 50 + x) // 3) % 256 for x in range(plane.line_size)) * rows)
    f.pts, f.time_base = i, cc.time_base
    video += [(bytes(p), p.pts) for p in cc.encode(f)]
video += [(bytes(p), p.pts) for p in cc.encode(None)]
ac = av.CodecContext.create("libopus", "w")
ac.sample_rate, ac.layout, ac.format, ac.time_base = 48000, "mono", "s16", atb
audio = []
for i in range(clip_s * 50):
    f = av.AudioFrame(format="s16", layout="mono", samples=960)
    f.sample_rate = 48000
    f.planes[0].update(bytes((j * (i % 5 + 2)) % 256 for j in range(1920)))
    f.pts, f.time_base = i * 960, atb
    audio += [(bytes(p), max(p.pts, 0)) for p in ac.encode(f)]

unit = Meeting.objects.order_by("id").first().host_unit  # the demo province's meeting
start = timezone.now() - timedelta(hours=hours + 1)
meeting = Meeting.objects.create(host_unit=unit, title="Ghi hình một giờ (đo tua)", state=MeetingState.ENDED,
                                 scheduled_start=start, scheduled_end=start + timedelta(hours=hours),
                                 started_at=start, ended_at=start + timedelta(hours=hours))
clock = [start.timestamp()]
writer = SegmentedWriter(store.DatabaseSink(meeting.id), segment_s=hours * 3600 + 60, clock=lambda: clock[0])
loops = int(hours * 3600 / clip_s)
for n in range(loops):
    packets = [EncodedPacket.video(d, (pts + n * clip_s * fps) * 90000 // fps, vtb) for d, pts in video]
    packets += [EncodedPacket.audio(d, pts + n * clip_s * 48000, atb) for d, pts in audio]
    for p in sorted(packets, key=lambda p: p.pts * p.time_base):
        writer.write(p)
seg = writer.close()
from confserver.recording import finalize
export = finalize.run(meeting.id)  # the one file the review page plays (mixing and joining, as after a meeting)
assert export is not None and export.sha256, export
from confserver.recording.models import Segment
row = Segment.objects.get(meeting=meeting)
print(json.dumps({"meeting": meeting.id, "segment": row.id, "bytes": seg.size, "keyframe_s": keyframe_s}))
"""

SEEKS = r"""async ([times]) => {
  const v = document.querySelector("#rv-video");
  v.muted = true;
  const once = (fn) => new Promise((resolve) => fn(resolve));
  const out = [];
  for (const t of times) {
    const t0 = performance.now();
    const shown = once((r) => v.requestVideoFrameCallback(() => r()));
    v.currentTime = t;
    await shown;
    out.push(performance.now() - t0);
  }
  return out;
}"""


def _media(url: str) -> bool:
    return "/api/recordings/" in url and (url.split("?")[0].endswith("/video") or "/file" in url)


def _worker(pid: int) -> tuple[float, int]:
    """CPU seconds and bytes read (disk or cache) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return cpu, int(io["rchar"])


def _seeks(page, proc, times: list[float], requests: list[str]) -> tuple[list[float], dict]:
    """The seeks' times, and the requests, the worker's bytes read and CPU spent per seek meanwhile."""
    requests.clear()
    cpu0, read0 = _worker(proc.pid)
    took = page.evaluate(SEEKS, [times])
    cpu1, read1 = _worker(proc.pid)
    n = len(times)
    return took, {
        "requests_per_seek": round(len(requests) / n, 2),
        "server_mb_read_per_seek": round((read1 - read0) / 1e6 / n, 2),
        "server_cpu_ms_per_seek": round((cpu1 - cpu0) * 1000 / n, 1),
    }


def _descendants(root: int) -> list[int]:
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out, frontier = [], [root]
    while frontier:
        top = frontier.pop()
        kids = [pid for pid, parent in parents.items() if parent == top]
        out += kids
        frontier += kids
    return out


def _priority(nice: int) -> None:
    """This process and every one it started (Chromium's in sessions of their own): `nice` for each thread and
    for each one's autogroup (CFS shares the CPU between autogroups first)."""
    for pid in [os.getpid(), *_descendants(os.getpid())]:
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        except OSError:
            pass
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
            except (OSError, ValueError):
                pass


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 1)


def measure(database_url: str | None = None, hours: float = 1.0, seeks: int = 20, seed: int = 1) -> dict:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench-seek-"))
    port = live.free_port()
    with live.throwaway_database(database_url) as db_url:
        env = live.server_env(
            db_url,
            [port],
            CONFSERVER_VAR_DIR=str(tmp / "var"),
            RECORDINGS_ROOT=str(tmp / "recordings"),
            LOG_LEVEL="WARNING",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
        )
        live.manage(env, "migrate", "--no-input", "-v0")
        live.manage(env, "load_demo", "--structure", "2025")
        out = subprocess.run(
            [live.PYTHON, "-c", FIXTURE, str(hours)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        if out.returncode:
            raise RuntimeError(f"recording fixture failed:\n{out.stderr}")
        made = json.loads(out.stdout.strip().splitlines()[-1])
        base = f"http://127.0.0.1:{port}"
        with live.daphne(env, port, tmp / "daphne.log") as proc, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                requests: list[str] = []
                page.on("request", lambda r: requests.append(r.url) if _media(r.url) else None)
                page.set_default_timeout(30000)
                page.goto(f"{base}/web/review.html?meeting={made['meeting']}")
                page.wait_for_url(re.compile(r"/login/"))
                page.fill("#id_username", REVIEWER)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(re.compile(r"/web/review\.html"))
                page.wait_for_function(
                    "() => { const v = document.querySelector('#rv-video');"
                    " return v && v.readyState >= 2 && v.duration > 60; }"
                )
                duration = page.evaluate("() => document.querySelector('#rv-video').duration")
                rng = random.Random(seed)
                times = [round(rng.uniform(0, duration - 5), 3) for _ in range(seeks)]
                _priority(-10)
                took, why = _seeks(page, proc, times, requests)
                _priority(0)  # side by side: other random times (Chromium keeps what it has read), plain priority
                plain = [round(rng.uniform(0, duration - 5), 3) for _ in range(seeks)]
                took_plain, _ = _seeks(page, proc, plain, requests)
                _priority(-10)
                # The same seeks in the recorder's own segment file (1 s clusters), side by side.
                page.evaluate(
                    "(url) => { const v = document.querySelector('#rv-video'); v.src = url; v.load(); }",
                    f"/api/recordings/segments/{made['segment']}/file",
                )
                page.wait_for_function(
                    "() => { const v = document.querySelector('#rv-video');"
                    " return v.readyState >= 2 && v.duration > 60; }"
                )
                took_segment, why_segment = _seeks(page, proc, times, requests)
            finally:
                browser.close()
    return {
        "seek_p95_ms": p95(took),
        "seek_max_ms": round(max(took), 1),
        "seeks": len(took),
        "seek_p95_ms_plain": p95(took_plain),
        "seek_priority": "nice -10",
        "seek_p95_ms_segment_file": p95(took_segment),
        "seek_recording_s": round(duration, 1),
        "seek_recording_mb": round(made["bytes"] / 1e6, 1),
        "keyframe_s": made["keyframe_s"],
        "load": round(os.getloadavg()[0], 1),
        **{f"seek_{k}": v for k, v in why.items()},
        **{f"seek_{k}_segment_file": v for k, v in why_segment.items()},
    }


if __name__ == "__main__":
    try:
        os.setsid()  # a session, so an autogroup, of its own (not the caller's)
    except OSError:  # already a process group leader (run from a shell): again, in a new session
        sys.exit(subprocess.run([sys.executable, *sys.argv], start_new_session=True).returncode)
    print(json.dumps(measure(os.environ.get("DATABASE_URL"), hours=float(os.environ.get("SEEK_HOURS", "1")))))

"""bench/recording.py's remux case: joining a one-hour meeting into one file, and mixing its audio.

A synthetic one-hour recording of real encoded packets (a 10 s clip of 640x360 VP8 at 30 fps / 500 kb/s and
Opus, encoded once, its packets repeated with moving timestamps) is written by the product's segment writer in
RECORDING_SEGMENT_S (300 s) segments, the chair's track only (lecture mode). Then, timed separately:

- mix_copy_s_per_hour: mix.mix_file on every segment, the source track empty (the chair's packets copied);
- mix_both_s_per_hour: mix.mix_file on one 300 s segment where the chair and the floor's room both speak the
  whole time (decode both, mix, encode), scaled to an hour;
- remux_s_per_hour: what export.build spends besides mixing: each segment checked against its SHA-256, the
  segments and their mixed audio joined into one WebM (export.join), the result hashed. Goal ≤ 5.

    .venv/bin/python bench/_recording_remux.py     # prints {"remux_s_per_hour": …, …} as its last line
"""

import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

FPS, CLIP_S, SEGMENT_S = 30, 10, 300
VTB, ATB = Fraction(1, 90000), Fraction(1, 48000)


def _log(*args):
    print(*args, file=sys.stderr, flush=True)


def _clip():
    """One 10 s clip, encoded once: VP8 packets (keyframe every 5 s) and two Opus voices."""
    cc = av.CodecContext.create("libvpx", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = 640, 360, "yuv420p", Fraction(1, FPS)
    cc.bit_rate = 500_000
    cc.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(5 * FPS), "kf-min-dist": str(5 * FPS)}
    video = []
    for i in range(CLIP_S * FPS):
        f = av.VideoFrame(640, 360, "yuv420p")
        for k, plane in enumerate(f.planes):
            rows = 360 if k == 0 else 180
            plane.update(bytes(((i * 3 + k * 50 + x) // 3) % 256 for x in range(plane.line_size)) * rows)
        f.pts, f.time_base = i, cc.time_base
        video += [(bytes(p), p.pts) for p in cc.encode(f)]
    video += [(bytes(p), p.pts) for p in cc.encode(None)]
    voices = []
    for step in (2, 5):
        ac = av.CodecContext.create("libopus", "w")
        ac.sample_rate, ac.layout, ac.format, ac.time_base, ac.bit_rate = 48000, "mono", "s16", ATB, 32000
        audio = []
        for i in range(CLIP_S * 50):
            f = av.AudioFrame(format="s16", layout="mono", samples=960)
            f.sample_rate = 48000
            f.planes[0].update(bytes((j * (i % 5 + step)) % 256 for j in range(1920)))
            f.pts, f.time_base = i * 960, ATB
            audio += [(bytes(p), p.pts + 312) for p in ac.encode(f)]
        voices.append(audio)
    return video, voices


class _Sink:
    def __init__(self, directory: Path):
        self.directory, self.n, self.closed_segments = directory, 0, []

    def opened(self, started_at):
        self.n += 1
        return self.directory / f"{self.n:05d}.webm"

    def closed(self, segment):
        self.closed_segments.append(segment)

    def finished(self):
        pass


def _record(directory: Path, seconds: int, clip, both: bool, start: datetime):
    """Segments of `seconds` of the clip repeated; the source track too when `both`."""
    from confserver.recording.packets import AUDIO_CHAIR, AUDIO_SOURCE, EncodedPacket
    from confserver.recording.segments import SegmentedWriter

    video, (chair, floor) = clip
    clock = {"t": start.timestamp()}
    writer = SegmentedWriter(_Sink(directory), segment_s=SEGMENT_S, clock=lambda: clock["t"])
    for n in range(seconds // CLIP_S):
        packets = [EncodedPacket.video(d, (pts + n * CLIP_S * FPS) * 90000 // FPS, VTB) for d, pts in video]
        packets += [EncodedPacket.audio(d, pts + n * CLIP_S * 48000, ATB, AUDIO_CHAIR) for d, pts in chair]
        if both:
            packets += [EncodedPacket.audio(d, pts + n * CLIP_S * 48000, ATB, AUDIO_SOURCE) for d, pts in floor]
        for p in sorted(packets, key=lambda p: (p.pts * p.time_base, p.kind != "video")):
            clock["t"] = start.timestamp() + float(p.pts * p.time_base)
            writer.write(p)
    writer.close()
    return writer.sink.closed_segments


def measure(hours: float = 1.0) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "confserver.settings")
    tmp = Path(tempfile.mkdtemp(prefix="bench-remux-"))
    os.environ.setdefault("CONFSERVER_VAR_DIR", str(tmp / "var"))
    import django

    django.setup()
    from confserver.recording import export, mix
    from confserver.recording.segments import sha256_file

    try:
        seconds = int(hours * 3600)
        clip = _clip()
        start = datetime.now(UTC) - timedelta(hours=2)
        t = time.perf_counter()
        segments = _record(tmp / "lecture", seconds, clip, False, start)
        _log(
            f"recorded {len(segments)} segments, {sum(s.size for s in segments) / 1e6:.0f} MB "
            f"in {time.perf_counter() - t:.1f} s"
        )

        t = time.perf_counter()
        copies = [mix.mix_file(s.path, s.path.with_suffix(".mix.webm")) for s in segments]
        mix_copy_s = time.perf_counter() - t
        _log(
            f"mixed (copy) in {mix_copy_s:.2f} s: {sum(c.copied for c in copies)} packets copied, "
            f"{sum(c.encoded for c in copies)} encoded"
        )

        both = _record(tmp / "floor", SEGMENT_S, clip, True, start)
        t, cpu = time.perf_counter(), time.process_time()
        stats = mix.mix_file(both[0].path, both[0].path.with_suffix(".mix.webm"))
        mix_both_s, mix_both_cpu_s = time.perf_counter() - t, time.process_time() - cpu
        _log(
            f"mixed (both speaking) {SEGMENT_S} s in {mix_both_s:.2f} s: {stats.encoded} packets encoded, "
            f"{stats.mixed_ms / 1000:.0f} s mixed"
        )

        t = time.perf_counter()
        for s in segments:
            assert sha256_file(s.path) == s.sha256
        check_s = time.perf_counter() - t
        parts = [
            export.Part(
                s.path,
                s.path.with_suffix(".mix.webm"),
                round((s.started_at - segments[0].started_at).total_seconds() * 1000),
            )
            for s in segments
        ]
        out = tmp / "export.webm"
        cpu = time.process_time()
        joined = export.join(parts, out)
        join_cpu_s = time.process_time() - cpu
        t = time.perf_counter()
        sha256_file(out)
        hash_s = time.perf_counter() - t
        packets = joined.video_packets + joined.audio_packets
        remux_s = check_s + joined.seconds + hash_s
        _log(
            f"joined {packets} packets in {joined.seconds:.2f} s ({joined.seconds / packets * 1e6:.1f} µs/packet), "
            f"checked segments in {check_s:.2f} s, hashed the result in {hash_s:.2f} s; "
            f"{out.stat().st_size / 1e6:.0f} MB, {joined.duration_ms / 1000:.0f} s"
        )
        scale = 3600 / seconds
        return {
            "remux_s_per_hour": round(remux_s * scale, 2),
            "remux_join_s_per_hour": round(joined.seconds * scale, 2),
            "remux_join_cpu_s_per_hour": round(join_cpu_s * scale, 2),
            "remux_us_per_packet": round(joined.seconds / packets * 1e6, 2),
            "mix_copy_s_per_hour": round(mix_copy_s * scale, 2),
            "mix_both_s_per_hour": round(mix_both_s * 3600 / SEGMENT_S, 1),
            "mix_both_cpu_pct": round(mix_both_cpu_s / SEGMENT_S * 100, 2),
            "export_mb_per_hour": round(out.stat().st_size / 1e6 * scale, 1),
            "export_duration_s": round(joined.duration_ms / 1000, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(measure(float(os.environ.get("REMUX_HOURS", "1")))))

"""Test-only source of encoded packets (libvpx/libopus, once per module) and a directory sink."""

import pickle
from fractions import Fraction
from pathlib import Path

import av

from confserver.recording.packets import EncodedPacket

VIDEO_TB = Fraction(1, 90000)  # RTP's video clock
AUDIO_TB = Fraction(1, 48000)
FPS = 30


def _frame(w, h, i):
    f = av.VideoFrame(w, h, "yuv420p")
    for k, plane in enumerate(f.planes):
        rows = h if k == 0 else h // 2
        plane.update(bytes(((i * 5 + k * 60 + x) // 4) % 256 for x in range(plane.line_size)) * rows)
    return f


def encode_video(w, h, frames, first_frame):
    """VP8 packets with a keyframe every second, pts continuing from `first_frame`."""
    cc = av.CodecContext.create("libvpx", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = w, h, "yuv420p", Fraction(1, FPS)
    cc.gop_size, cc.bit_rate = FPS, 300_000
    cc.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(FPS), "kf-min-dist": str(FPS)}
    out = []
    for i in range(frames):
        f = _frame(w, h, i)
        f.pts, f.time_base = i, cc.time_base
        out += list(cc.encode(f))
    out += list(cc.encode(None))
    return [EncodedPacket.video(bytes(p), (p.pts + first_frame) * 90000 // FPS, VIDEO_TB) for p in out]


def encode_audio(seconds):
    cc = av.CodecContext.create("libopus", "w")
    cc.sample_rate, cc.layout, cc.format, cc.time_base = 48000, "mono", "s16", AUDIO_TB
    out = []
    for i in range(seconds * 50):
        f = av.AudioFrame(format="s16", layout="mono", samples=960)
        f.sample_rate = 48000
        f.planes[0].update(bytes((j * (i % 7 + 1)) % 256 for j in range(1920)))
        f.pts, f.time_base = i * 960, AUDIO_TB
        out += list(cc.encode(f))
    return [EncodedPacket.audio(bytes(p), max(p.pts, 0), AUDIO_TB) for p in out]


def program(seconds_each=3):
    """Interleaved audio + video: 320x240, then a switch to 640x360 with continuous timestamps."""
    n = seconds_each * FPS
    video = encode_video(320, 240, n, 0) + encode_video(640, 360, n, n)
    audio = encode_audio(2 * seconds_each)
    return sorted(video + audio, key=lambda p: (p.pts * p.time_base, p.kind))


def ms(p):
    return round(p.pts * p.time_base * 1000)


class DirSink:
    """Segments as seg-N.webm in a directory, closed ones kept in a list (no database)."""

    def __init__(self, directory: Path, block=None):
        self.directory, self.block, self.closed_segments, self.n = Path(directory), block, [], 0

    def opened(self, started_at):
        if self.block is not None:
            self.block.wait(30)  # a disk that hangs
        self.n += 1
        return self.directory / f"seg-{self.n}.webm"

    def closed(self, segment):
        self.closed_segments.append(segment)

    def finished(self):
        pass


def save(packets, path):
    path.write_bytes(pickle.dumps([(p.kind, p.data, p.pts, p.time_base, p.keyframe) for p in packets]))


def load(path):
    return [EncodedPacket(*t) for t in pickle.loads(Path(path).read_bytes())]

"""Pre-encoded clips for bench/relay.py: encode once, replay the packets.

A clip is 10 s of 640x360 30 fps VP8 at ~500 kbps: one keyframe, then delta
frames. Asked for a keyframe, the publisher restarts the clip, so the stream
stays decodable. Frames are recognised at the subscriber by their first bytes.
"""

import fractions
import os
import pickle
import time
from dataclasses import dataclass

import av
from av.video.frame import PictureType

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 30, 10
BITRATE = 500_000
PREFIX = 24  # bytes of a VP8 frame that name it
CACHE = "/tmp/confserver-bench-relay-clips-v2.pickle"
SOURCES = ("testsrc2", "testsrc")


@dataclass
class Clip:
    video: list[bytes]  # video[0] is the only keyframe
    audio: list[bytes]  # 20 ms Opus packets


def _vp8_encoder(bitrate: int) -> av.CodecContext:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height = WIDTH, HEIGHT
    encoder.pix_fmt = "yuv420p"
    encoder.bit_rate = bitrate
    encoder.framerate = FPS
    encoder.time_base = fractions.Fraction(1, FPS)
    encoder.gop_size = 3000
    encoder.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "bufsize": str(bitrate),
        "undershoot-pct": "100",
        "overshoot-pct": "15",
        "static-thresh": "1",
    }
    return encoder


def _encode_video(source: str) -> list[bytes]:
    container = av.open(f"{source}=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={SECONDS}", format="lavfi")
    pictures = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
    container.close()
    encoder = _vp8_encoder(BITRATE)
    frames = []
    for index, picture in enumerate(pictures):
        picture.pict_type = PictureType.NONE  # lavfi marks its pictures I: would force keyframes
        picture.pts = index
        picture.time_base = encoder.time_base
        frames.append(b"".join(bytes(p) for p in encoder.encode(picture)))
    return frames


def _encode_audio() -> list[bytes]:
    container = av.open(f"sine=frequency=440:sample_rate=48000:duration={SECONDS}", format="lavfi")
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = 48000
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.bit_rate = 32000
    encoder.time_base = fractions.Fraction(1, 48000)
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000, frame_size=960)
    packets = []
    for frame in container.decode(audio=0):
        for chunk in resampler.resample(frame):
            packets += [bytes(p) for p in encoder.encode(chunk)]
    container.close()
    return packets


def load_clips() -> list[Clip]:
    """The clips of publishers A and B (cached in /tmp between runs)."""
    if os.path.exists(CACHE):
        with open(CACHE, "rb") as f:
            return [Clip(video, audio) for video, audio in pickle.load(f)]
    audio = _encode_audio()
    clips = []
    for source in SOURCES:
        clips.append(Clip(_encode_video(source), audio))
    with open(CACHE + ".tmp", "wb") as f:
        pickle.dump([(clip.video, clip.audio) for clip in clips], f)
    os.replace(CACHE + ".tmp", CACHE)
    return clips


def frame_names(clips: list[Clip]) -> dict[bytes, tuple[int, int]]:
    """First bytes of each frame -> (clip, index); index -1 where the clip repeats
    them; prefixes found in two clips are left out."""
    seen: dict[bytes, set[tuple[int, int]]] = {}
    for c, clip in enumerate(clips):
        for i, data in enumerate(clip.video):
            seen.setdefault(data[:PREFIX], set()).add((c, i))
    names = {}
    for prefix, where in seen.items():
        if len({c for c, _ in where}) == 1:
            names[prefix] = next(iter(where)) if len(where) == 1 else (next(iter(where))[0], -1)
    return names


if __name__ == "__main__":
    started = time.time()
    clips = load_clips()
    names = frame_names(clips)
    for clip in clips:
        kbps = sum(map(len, clip.video)) * 8 / SECONDS / 1000
        print(f"{len(clip.video)} frames, {kbps:.0f} kbps, keyframe {len(clip.video[0])} B")
    print(f"{sum(i >= 0 for _, i in names.values())} unique names, {time.time() - started:.1f}s")

"""Reading a recorded WebM back with PyAV: pictures (time, size, colour, keyframe) and each audio track's tone."""

import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import av

from confserver.media.bot import top_colour


@dataclass
class Recording:
    first_video_packet_key: bool = False
    video: list[tuple[int, tuple[int, int], tuple[int, int, int]]] = field(default_factory=list)  # ms, size, colour
    keyframes_ms: list[int] = field(default_factory=list)
    audio: dict[int, list[tuple[int, array]]] = field(default_factory=dict)  # track -> [(ms, samples of channel 0)]
    audio_packet_ms: dict[int, list[int]] = field(default_factory=dict)


def read(path: Path) -> Recording:
    """Demux and decode the whole file (a decoding error raises)."""
    rec = Recording()
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio_streams = list(container.streams.audio)
        tracks = {s.index: n for n, s in enumerate(audio_streams)}
        decoders = {s.index: av.CodecContext.create(s.codec_context.name, "r") for s in audio_streams}
        for s in audio_streams:
            decoders[s.index].extradata = s.codec_context.extradata
        vdec = av.CodecContext.create("vp8", "r")
        first = True
        for packet in container.demux():
            if packet.dts is None:
                continue
            ms = int(packet.pts * packet.time_base * 1000)
            if packet.stream.index == video.index:
                if first:
                    rec.first_video_packet_key = packet.is_keyframe
                    first = False
                if packet.is_keyframe:
                    rec.keyframes_ms.append(ms)
                for frame in vdec.decode(packet):
                    rec.video.append((ms, (frame.width, frame.height), top_colour(frame)))
            else:
                track = tracks[packet.stream.index]
                rec.audio_packet_ms.setdefault(track, []).append(ms)
                for frame in decoders[packet.stream.index].decode(packet):
                    rec.audio.setdefault(track, []).append((ms, _channel0(frame)))
    return rec


def _channel0(frame: av.AudioFrame) -> array:
    assert frame.format.name in ("flt", "fltp"), frame.format.name
    samples = array("f", bytes(frame.planes[0]))
    if frame.format.is_planar:
        return samples[: frame.samples]
    return samples[: frame.samples * len(frame.layout.channels) : len(frame.layout.channels)]


def tone_hz(chunks: list[tuple[int, array]], start_ms: int, end_ms: int, candidates=(300, 700, 1500)) -> int | None:
    """Which of the `candidates` tones (Hz) sounds in [start_ms, end_ms) of a track: the one with the most
    power (Goertzel, 20 ms frames, summed); None if the track is silent there."""
    power = dict.fromkeys(candidates, 0.0)
    energy = count = 0
    for ms, chunk in chunks:
        if not start_ms <= ms < end_ms:
            continue
        energy += sum(x * x for x in chunk)
        count += len(chunk)
        for hz in candidates:
            coeff = 2 * math.cos(2 * math.pi * hz / 48000)
            s1 = s2 = 0.0
            for x in chunk:
                s1, s2 = x + coeff * s1 - s2, s1
            power[hz] += s1 * s1 + s2 * s2 - coeff * s1 * s2
    if count < 4800 or energy / count < 0.05**2:
        return None
    return max(power, key=power.get)


def strictly_increasing(xs) -> bool:
    return all(a < b for a, b in zip(xs, xs[1:]))

"""A segment's program audio as ONE Opus track: the chair's and the source's tracks joined (issue 10, item 2).

Chromium plays only a file's first audio track. Where the source track (the room with the floor or broadcast)
is empty or silent, the chair's packets are copied as they are, nothing decoded (lecture mode, the common case);
where the source carries sound, both tracks are decoded, summed, soft-clipped and encoded again, in regions
aligned to the chair's packets so the copied and the encoded parts follow each other without a gap or overlap.
Timestamps stay those of the segment (ms from its origin). Decided in issue 10: mixing runs after the segment,
never in the relay.
"""

import logging
import os
import struct
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from .packets import AUDIO_CHAIR, AUDIO_SOURCE
from .segments import MS, opus_template

log = logging.getLogger("confserver.recording")

RATE = 48000
SPM = RATE // 1000  # samples per ms
FRAME = 960  # 20 ms, what the encoder writes
FRAME_MS = FRAME // SPM
# An Opus packet this small carries no speech (SILK's lowest rate needs ~15 bytes per 20 ms): silence, DTX,
# or a muted microphone (libopus codes digital silence in 3 bytes).
SILENT_MAX_BYTES = 8
HOLD_MS = 300  # a voice's region reaches this far around its packets (breaths, word ends)
JOIN_MS = 1000  # regions closer than this become one (fewer switches between copied and encoded packets)
WARMUP_MS = 100  # packets decoded before a region only to settle the decoders
BIT_RATE = 32000  # per channel, for the encoded parts: speech as good as what browsers send
COMPLEXITY = 5  # libopus 0-10: half the time of 10 for stereo, no audible loss on speech
TIME_BASE = Fraction(1, RATE)
CHUNK = RATE  # samples decoded, mixed and encoded at a time: a long region never sits whole in memory
LOOKAHEAD = 312  # libopus's encoder delay at 48 kHz (its first packet's pts is -312)


@dataclass(frozen=True)
class AudioPacket:
    ms: int
    data: bytes

    @property
    def end(self) -> int:
        return self.ms + opus_samples(self.data) // SPM

    @property
    def silent(self) -> bool:
        return len(self.data) <= SILENT_MAX_BYTES


@dataclass
class MixStats:
    copied: int = 0  # chair packets copied as they were
    encoded: int = 0  # packets of the mixed regions
    regions: list[tuple[int, int]] = field(default_factory=list)  # [start, end) ms of each mixed region
    audio_ms: int = 0  # the segment's audio span
    seconds: float = 0.0  # wall time spent

    @property
    def mixed_ms(self) -> int:
        return sum(b - a for a, b in self.regions)


def opus_samples(data: bytes) -> int:
    """Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 §3.1); 960 if unreadable."""
    if not data:
        return 0
    toc = data[0]
    config, code = toc >> 3, toc & 3
    if config < 12:
        per = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:
        per = (480, 960)[config & 1]
    else:
        per = (120, 240, 480, 960)[config & 3]
    if code == 0:
        return per
    if code in (1, 2):
        return 2 * per
    return per * (data[1] & 0x3F) if len(data) > 1 else FRAME


def read_tracks(path: Path) -> tuple[list[AudioPacket], list[AudioPacket], int]:
    """The chair's and the source's packets of a segment file, and its audio channel count.

    A file with a single audio track (no source slot) gives an empty source list."""
    tracks: dict[int, list[AudioPacket]] = {}
    with av.open(str(path)) as c:
        audio = list(c.streams.audio)
        channels = audio[0].codec_context.channels if audio else 2
        for s in c.streams.video:
            s.discard = 48  # AVDISCARD_ALL: the demuxer skips the video
        order = {s.index: i for i, s in enumerate(audio)}
        scale = {s.index: (s.time_base.numerator * 1000, s.time_base.denominator) for s in audio}
        try:
            for p in c.demux(*audio):
                if p.dts is None:
                    continue
                num, den = scale[p.stream.index]  # integers: a Fraction per packet costs microseconds
                tracks.setdefault(order[p.stream.index], []).append(AudioPacket(p.pts * num // den, bytes(p)))
        except av.error.FFmpegError as e:  # a damaged tail: what came before is kept
            log.warning("mixing %s: stopped at a damaged packet: %s", path, e)
    return tracks.get(AUDIO_CHAIR, []), tracks.get(AUDIO_SOURCE, []), channels


def _voiced_regions(source: list[AudioPacket]) -> list[list[int]]:
    regions: list[list[int]] = []
    for p in source:
        if p.silent:
            continue
        a, b = max(0, p.ms - HOLD_MS), p.end + HOLD_MS
        if regions and a <= regions[-1][1] + JOIN_MS:
            regions[-1][1] = max(regions[-1][1], b)
        else:
            regions.append([a, b])
    return regions


def plan(chair: list[AudioPacket], source: list[AudioPacket]) -> tuple[list[bool], list[tuple[int, int]]]:
    """Which chair packets are copied (True) and the mixed regions [start, end) in ms.

    A region starts where the last copied chair packet before it ends and lasts a whole number of 20 ms
    frames; every chair packet starting inside it is mixed, not copied."""
    copy = [True] * len(chair)
    out: list[tuple[int, int]] = []
    i = 0
    for a, b in _voiced_regions(source):
        while i < len(chair) and chair[i].end <= a:
            i += 1  # copied, before the region
        if i < len(chair) and chair[i].ms < a:
            a = chair[i].ms  # the packet overlapping the region's start is mixed whole
        if out and a < out[-1][1]:
            a = out[-1][1]
        if i > 0 and copy[i - 1] and chair[i - 1].end > a:
            a = chair[i - 1].end
        end = a + -(-(b - a) // FRAME_MS) * FRAME_MS
        while i < len(chair) and chair[i].ms < end:
            copy[i] = False
            end = max(end, a + -(-(chair[i].end - a) // FRAME_MS) * FRAME_MS)
            i += 1
        if end > a:
            out.append((a, end))
    return copy, out


def _decoder(channels: int) -> av.CodecContext:
    dec = av.CodecContext.create("opus", "r")
    # An OpusHead with pre-skip 0: decoding starts mid-stream, no sample may be dropped.
    dec.extradata = b"OpusHead" + bytes([1, channels]) + struct.pack("<HIhB", 0, RATE, 0, 0)
    return dec


def _chunks(packets: list[AudioPacket], start: int, n: int, nch: int):
    """Decode `packets` in order and yield fltp frames of CHUNK samples covering [start, start + n) (48 kHz
    from the origin), silence where no packet is: memory stays one chunk however long the region."""
    layout = "stereo" if nch == 2 else "mono"
    dec = _decoder(nch)
    w0 = start  # the current chunk's first sample
    planes = [bytearray(CHUNK * 4) for _ in range(nch)]

    def emit():
        k = min(CHUNK, start + n - w0)
        f = av.AudioFrame(format="fltp", layout=layout, samples=k)
        f.sample_rate = RATE
        for c in range(nch):
            f.planes[c].update(bytes(planes[c][: k * 4]))
            planes[c][:] = bytes(CHUNK * 4)
        f.pts, f.time_base = w0, TIME_BASE
        return f

    for p in packets:
        pos = p.ms * SPM
        try:
            frames = dec.decode(av.Packet(p.data))
        except av.error.FFmpegError:
            continue  # one bad packet is silence
        for frame in frames:
            data = [bytes(frame.planes[min(c, len(frame.planes) - 1)]) for c in range(nch)]
            # An overlapping packet (a clock that stepped back) cannot write into a chunk already given out.
            lo, hi = max(pos, start, w0), min(pos + frame.samples, start + n)
            while lo < hi:
                if lo >= w0 + CHUNK:  # past this chunk: it is complete
                    yield emit()
                    w0 += CHUNK
                    continue
                upto = min(hi, w0 + CHUNK)
                for c in range(nch):
                    planes[c][(lo - w0) * 4 : (upto - w0) * 4] = data[c][(lo - pos) * 4 : (upto - pos) * 4]
                lo = upto
            pos += frame.samples
    while w0 < start + n:
        yield emit()
        w0 += CHUNK


def _mix_graph(nch: int):
    layout = "stereo" if nch == 2 else "mono"
    g = av.filter.Graph()
    args = dict(format="fltp", sample_rate=RATE, layout=layout, time_base=TIME_BASE)
    a, b = g.add_abuffer(**args), g.add_abuffer(**args)
    mix = g.add("amix", "inputs=2:normalize=0:duration=longest:dropout_transition=0")
    clip = g.add("asoftclip", "type=tanh")  # clip-safe: two loud voices never wrap or square off
    fmt = g.add("aformat", f"sample_fmts=flt:channel_layouts={layout}:sample_rates={RATE}")
    sink = g.add("abuffersink")
    a.link_to(mix, 0, 0)
    b.link_to(mix, 0, 1)
    mix.link_to(clip)
    clip.link_to(fmt)
    fmt.link_to(sink)
    g.configure()
    return g, a, b, sink  # the contexts live only as long as the graph


def _pull(sink, out: bytearray, nch: int) -> None:
    while True:
        try:
            frame = sink.pull()
        except (BlockingIOError, EOFError, av.error.EOFError):
            return
        out += bytes(frame.planes[0])[: frame.samples * 4 * nch]


def mix_region(chair: list[AudioPacket], source: list[AudioPacket], a: int, b: int, channels: int) -> list[bytes]:
    """Encoded packets for [a, b) ms (one per 20 ms): both tracks decoded, summed, soft-clipped, encoded.

    In mono when every packet involved is mono-coded (what browsers send unless asked for stereo): half the
    work, and a mono packet is valid in the two-channel track."""
    frames_out = (b - a) // FRAME_MS
    # The encoder's packet k stands for input samples from e0 - LOOKAHEAD + k*FRAME: starting the input one
    # frame and the lookahead early makes packet 1 start exactly at `a`; packet 0 only primes it.
    e0 = a * SPM - FRAME + LOOKAHEAD
    n = FRAME * (frames_out + 2)
    near = lambda ps: [p for p in ps if a - WARMUP_MS <= p.end and p.ms < b + FRAME_MS]  # noqa: E731
    chair_near, source_near = near(chair), near(source)
    stereo = channels == 2 and any(p.data and p.data[0] & 0x04 for p in chair_near + source_near)  # TOC 's' bit
    nch = 2 if stereo else 1
    graph, src_a, src_b, sink = _mix_graph(nch)
    layout, size = ("stereo" if nch == 2 else "mono"), FRAME * 4 * nch
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format, enc.time_base = RATE, layout, "flt", TIME_BASE
    enc.bit_rate = BIT_RATE * nch
    enc.options = {"compression_level": str(COMPLEXITY)}
    pcm = bytearray()  # mixed samples not yet encoded (less than a chunk)
    out: list[bytes] = []
    fed = 0

    def encode(final: bool = False) -> None:
        nonlocal fed
        while fed <= frames_out and (len(pcm) >= size or final):
            f = av.AudioFrame(format="flt", layout=layout, samples=FRAME)
            f.sample_rate = RATE
            chunk = bytes(pcm[:size])
            del pcm[:size]
            f.planes[0].update(chunk + bytes(size - len(chunk)))
            f.pts, f.time_base = e0 + fed * FRAME, TIME_BASE
            out.extend(bytes(p) for p in enc.encode(f))
            fed += 1

    for fa, fb in zip(_chunks(chair_near, e0, n, nch), _chunks(source_near, e0, n, nch)):
        src_a.push(fa)
        src_b.push(fb)
        _pull(sink, pcm, nch)
        encode()
    src_a.push(None)
    src_b.push(None)
    _pull(sink, pcm, nch)
    encode(final=True)
    out.extend(bytes(p) for p in enc.encode(None))
    return out[1 : frames_out + 1]


def mix_file(src: Path, dst: Path) -> MixStats:
    """Write `dst`: a WebM with one Opus track, the program audio of segment file `src` (same timestamps).

    Written to a temporary name and renamed, so `dst` is either absent or whole."""
    t0 = time.perf_counter()
    chair, source, channels = read_tracks(src)
    copy, regions = plan(chair, source)
    stats = MixStats(regions=regions)
    events: list[tuple[int, bytes]] = [(p.ms, p.data) for p, keep in zip(chair, copy) if keep]
    stats.copied = len(events)
    for a, b in regions:
        packets = mix_region(chair, source, a, b, channels)
        events += [(a + k * FRAME_MS, data) for k, data in enumerate(packets)]
        stats.encoded += len(packets)
    events.sort(key=lambda e: e[0])
    everything = chair + source
    if everything:
        stats.audio_ms = max(p.end for p in everything) - min(p.ms for p in everything)

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        with av.open(str(tmp), "w", format="webm") as out:
            stream = out.add_stream_from_template(opus_template(channels))
            out.start_encoding()  # the header, even when there is no packet to write
            last = -1
            for ms, data in events:
                last = max(ms, last + 1)  # never back, never equal (a clock that stepped back while recording)
                packet = av.Packet(data)
                packet.pts = packet.dts = last
                packet.time_base = MS
                packet.stream = stream
                out.mux(packet)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    stats.seconds = time.perf_counter() - t0
    return stats

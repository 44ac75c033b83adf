"""A publisher bot that sends VP8 with three temporal layers (L1T3), as Chromium does with
`scalabilityMode: "L1T3"` (issue 15's tests and bench/weaklink.py).

aiortc's own VP8 encoder has no temporal layers, so a clip is encoded once with libvpx through PyAV
(FFmpeg's `ts-parameters`, layering mode 3: the 0-2-1-2 pattern whose T1 and T2 frames are not
references of the base layer), and its frames are sent in a loop as pre-encoded packets: no encoding
while the test runs (the bot costs little CPU next to the relay it loads). Each packet's VP8
descriptor carries the picture ID, TL0PICIDX and the frame's TID and layer-sync bit (RFC 7741 4.2),
which aiortc's packetiser does not write; `LayeredPacker` does. Encoded error resilient, as libwebrtc encodes
temporal layers: each lower set of layers decodes on its own (tests/media/test_tiers_loopback.py checks it).
The clip starts with a keyframe, so a keyframe goes out every time it loops (and at once on a keyframe request).
"""

import asyncio
import fractions
import hashlib
import pickle
import struct
import time
from pathlib import Path

import av
from aiortc import RTCSessionDescription
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import PACKET_MAX, Vp8Encoder
from aiortc.mediastreams import MediaStreamTrack

from confserver.media.bot import ToneTrack
from confserver.media.config import IceConfig
from confserver.media.taps import on_keyframe_request
from confserver.media.transport import apply_ice_config, new_peer_connection

PATTERN = (0, 2, 1, 2)  # TID of frame i is PATTERN[i % 4]
SYNC = (False, True, True, False)  # frames 1 and 2 of each period reference only T0
TIME_BASE = fractions.Fraction(1, 90000)

OPUS_BPS = 24_000  # what a browser sends on the relay's answer (MEDIA_OPUS_MAXAVGBITRATE), with in-band FEC
CACHE = Path(__file__).resolve().parents[2] / "var" / "cache"  # encoding takes seconds to tens of seconds under load

_clips: dict[tuple, list[tuple[int, bool, bytes]]] = {}


def encode_clip(seconds: float = 4.0, fps: int = 30, size=(320, 240), kbps: int = 200) -> list[tuple[int, bool, bytes]]:
    """(TID, layer sync, VP8 frame) of a `seconds` long test pattern in L1T3; made once per process.
    `kbps` is libvpx's target for all layers (T0 gets 40 %, T0+T1 65 %)."""
    key = (seconds, fps, size, kbps, 3)
    if key in _clips:
        return _clips[key]
    cached = CACHE / f"l1t3-{hashlib.sha1(repr(key).encode()).hexdigest()[:12]}.pickle"
    if cached.exists():
        _clips[key] = pickle.loads(cached.read_bytes())
        return _clips[key]
    width, height = size
    source = av.open(f"testsrc2=size={width}x{height}:rate={fps}", format="lavfi")
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.framerate = fps
    codec.bit_rate = kbps * 1000
    rates = ",".join(str(int(kbps * share)) for share in (0.4, 0.65, 1.0))
    codec.options = {
        "ts-parameters": f"ts_number_layers=3:ts_target_bitrate={rates}:ts_rate_decimator=4,2,1:"
        "ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "g": "100000",
        "auto-alt-ref": "0",
        # Without it a frame's entropy updates carry to the next frame whatever its layer, so T0 or T0+T1 alone do
        # not decode (FFmpeg's vp8 decoder: invalid data; Chromium decoded only keyframes and asked for one 4 times
        # a second, issue 15). libwebrtc sets it for temporal layers too.
        "error-resilient": "default",
    }
    codec.open()
    frames: list[tuple[int, bool, bytes]] = []
    count = int(seconds * fps)
    try:
        for index, picture in enumerate(source.decode(video=0)):
            if index >= count:
                break
            picture = picture.reformat(format="yuv420p")
            picture.pts = index
            picture.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every picture I: all keyframes
            for packet in codec.encode(picture):
                n = len(frames)
                frames.append((PATTERN[n % 4], SYNC[n % 4], bytes(packet)))
    finally:
        source.close()
    _clips[key] = frames
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_bytes(pickle.dumps(frames))
    partial.replace(cached)
    return frames


def clip_rates(frames, fps: int = 30) -> tuple[float, float, float]:
    """Bits per second of T0, T0+T1 and all layers of a clip (keyframe included)."""
    seconds = len(frames) / fps
    by_tid = [0, 0, 0]
    for tid, _sync, data in frames:
        by_tid[tid] += len(data)
    t0 = 8 * by_tid[0] / seconds
    return t0, t0 + 8 * by_tid[1] / seconds, t0 + 8 * (by_tid[1] + by_tid[2]) / seconds


class LayeredTrack(MediaStreamTrack):
    """Plays a layered clip in a loop as pre-encoded packets; `meta` is the last packet's (TID, sync)."""

    kind = "video"

    def __init__(self, frames, fps: int = 30):
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.meta = (0, False)
        self._count = 0
        self._index = 0
        self._start: float | None = None

    def restart_at_keyframe(self) -> None:
        self._index = 0

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tid, sync, data = self.frames[self._index]
        self._index = (self._index + 1) % len(self.frames)
        packet = av.Packet(data)
        packet.pts = self._count * 90000 // self.fps
        packet.time_base = TIME_BASE
        self._count += 1
        self.meta = (tid, sync)  # the clip's length is a multiple of 4: the pattern runs on when it loops
        return packet


class LayeredPacker(Vp8Encoder):
    """aiortc's VP8 packer, with TL0PICIDX and the temporal layer in every descriptor."""

    def __init__(self, track: LayeredTrack):
        super().__init__()
        self.track = track
        self.tl0 = 0

    def pack(self, packet) -> tuple[list[bytes], int]:
        tid, sync = self.track.meta
        if tid == 0:
            self.tl0 = (self.tl0 + 1) & 0xFF
        pid = self.picture_id
        self.picture_id = (pid + 1) % (1 << 15)
        data = bytes(packet)
        tail = struct.pack("!HBB", 0x8000 | pid, self.tl0, tid << 6 | (0x20 if sync else 0))
        payloads = []
        step = PACKET_MAX - 6
        for pos in range(0, len(data), step):
            first = 0x90 if pos == 0 else 0x80
            payloads.append(bytes((first, 0xE0)) + tail + data[pos : pos + step])
        timestamp = int(packet.pts * packet.time_base / TIME_BASE)
        return payloads, timestamp


class LayeredPublisher:
    """A room that publishes the layered clip and a tone, and receives nothing it looks at."""

    def __init__(self, name: str, frames, *, fps: int = 30, ice: IceConfig | None = None, tone_hz: int = 440):
        self.name = name
        self.ice = ice or IceConfig.loopback()
        self.pc = new_peer_connection(self.ice, max_bundle=True)
        self.track = LayeredTrack(frames, fps)
        self.keyframe_requests = 0
        camera = self.pc.addTransceiver(self.track, direction="sendrecv")
        self.pc.addTransceiver(ToneTrack(tone_hz), direction="sendrecv")
        microphone = self.pc.getTransceivers()[1]
        camera.sender._RTCRtpSender__encoder = LayeredPacker(self.track)
        opus = OpusEncoder()
        opus.codec.bit_rate = OPUS_BPS
        opus.codec.options = {"application": "voip", "fec": "1", "packet_loss": "10"}
        microphone.sender._RTCRtpSender__encoder = opus
        on_keyframe_request(camera.sender, self._keyframe_requested)
        self._connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._on_state)

    def _keyframe_requested(self) -> None:
        self.keyframe_requests += 1
        self.track.restart_at_keyframe()

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected":
            self._connected.set()

    async def offer(self) -> str:
        apply_ice_config(self.pc, self.ice)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def close(self) -> None:
        await self.pc.close()

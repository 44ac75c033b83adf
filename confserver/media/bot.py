"""Room bots: aiortc peers that play a room against the relay (tests, load benches).

`Bot` publishes a synthetic VP8 picture (a solid colour of its own with a
moving bar) and an Opus tone, and decodes what it receives, recording each
picture's colour. `CountingSubscriber` is the cheap kind for load: it
publishes nothing, never decodes, and counts RTP at the socket.
"""

import asyncio
import fractions
import functools
import logging
import math
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .config import IceConfig
from .frames import vp8_is_keyframe
from .taps import (
    on_keyframe_request,
    quiet_peer,
    rtp_timestamp,
    send_keyframe_request,
    tap_rtp,
    watch_encoded_frames,
)
from .transport import apply_ice_config, new_peer_connection

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms


class _DecodeErrors(logging.Handler):
    """Counts aiortc's 'failed to decode' warnings (one per frame the decoder rejects)."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            _DecodeErrors.count += 1


_decode_errors = _DecodeErrors()
logging.getLogger("aiortc.rtcrtpreceiver").addHandler(_decode_errors)


def decode_errors() -> int:
    """Frames that a decoder in this process failed to decode, so far."""
    return _DecodeErrors.count


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


class ColourTrack(MediaStreamTrack):
    """A solid colour with a white bar moving across the bottom quarter."""

    kind = "video"

    def __init__(self, colour: tuple[int, int, int], size=(320, 240), fps: int = 15):
        super().__init__()
        self.width, self.height = size
        self.fps = fps
        y, u, v = _yuv(colour)
        self._y = bytes([y]) * (self.width * self.height)
        self._u = bytes([u]) * (self.width * self.height // 4)
        self._v = bytes([v]) * (self.width * self.height // 4)
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        luma = bytearray(self._y)
        w, h = self.width, self.height
        x = (self._count * 8) % (w - 16)
        for row in range(h * 3 // 4, h):
            luma[row * w + x : row * w + x + 16] = b"\xeb" * 16
        frame = av.VideoFrame(w, h, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(self._u)
        frame.planes[2].update(self._v)
        frame.pts = self._count * 90000 // self.fps
        frame.time_base = VIDEO_TIME_BASE
        self._count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A sine tone, 20 ms frames."""

    kind = "audio"

    def __init__(self, hz: int = 440):
        super().__init__()
        # one second holds a whole number of cycles, so slices loop seamlessly
        self._second = array(
            "h", (int(8000 * math.sin(2 * math.pi * hz * i / AUDIO_RATE)) for i in range(AUDIO_RATE))
        ).tobytes()
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count * AUDIO_SAMPLES / AUDIO_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        offset = (self._count * AUDIO_SAMPLES * 2) % len(self._second)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(self._second[offset : offset + AUDIO_SAMPLES * 2])
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._count * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._count += 1
        return frame


@dataclass
class Picture:
    at: float  # time.monotonic() when decoded
    colour: tuple[int, int, int]  # mean RGB of the top half
    key: bool
    pts: int


@dataclass
class VideoIn:
    pictures: list[Picture] = field(default_factory=list)
    keyframes_at: dict[int, bool] = field(default_factory=dict)  # pts -> keyframe, until decoded
    # each frame given to the decoder: (arrival of its last packet as time.monotonic(), keyframe); the kernel's
    # arrival time with Bot(arrivals=True), so a stalled event loop does not move it
    encoded: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.pictures)


@dataclass
class AudioIn:
    frames: int = 0
    loud: int = 0  # frames with a clearly audible signal


def top_colour(frame: av.VideoFrame) -> tuple[int, int, int]:
    small = frame.reformat(width=4, height=4, format="rgb24")
    plane = small.planes[0]
    data = bytes(plane)
    pixels = [
        data[row * plane.line_size + col * 3 : row * plane.line_size + col * 3 + 3]
        for row in range(2)
        for col in range(4)
    ]
    return tuple(round(sum(p[c] for p in pixels) / len(pixels)) for c in range(3))


def close_to(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


class Bot:
    """A room: publishes its colour and a tone, receives and decodes its slots."""

    def __init__(
        self,
        name: str,
        colour: tuple[int, int, int] = (200, 40, 40),
        *,
        publish: bool = True,
        extra_video: int = 0,
        extra_audio: int = 0,
        size=(320, 240),
        fps: int = 15,
        tone_hz: int = 440,
        ice: IceConfig | None = None,
        arrivals: bool = False,
    ):
        self.name = name
        self.colour = colour
        self.arrivals = arrivals  # time frames at the socket (the kernel's timestamps), see VideoIn.encoded
        self._arrived: dict[int, float] = {}  # video RTP timestamp -> its last packet's arrival (monotonic)
        self._video_pts: set[int] = set()  # the video payload types, once accept() has the answer
        self._wall_minus_monotonic = 0.0
        self.untimed = 0  # frames given to a decoder without a kernel time (before the tap, or not seen by it)
        self.ice = ice or IceConfig.loopback()
        self.pc = new_peer_connection(self.ice, max_bundle=True)
        self.keyframe_requests = 0
        self.video: list[VideoIn] = []
        self.audio: list[AudioIn] = []
        self._tasks: set[asyncio.Task] = set()
        self._connected = asyncio.Event()
        video_track = ColourTrack(colour, size, fps) if publish else None
        audio_track = ToneTrack(tone_hz) if publish else None
        camera = self.pc.addTransceiver(video_track or "video", direction="sendrecv")
        self.pc.addTransceiver(audio_track or "audio", direction="sendrecv")
        for _ in range(extra_video):
            self.pc.addTransceiver("video", direction="recvonly")
        for _ in range(extra_audio):
            self.pc.addTransceiver("audio", direction="recvonly")
        on_keyframe_request(camera.sender, self._keyframe_requested)
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                into = VideoIn()
                self.video.append(into)
                watch_encoded_frames(transceiver.receiver, functools.partial(self._encoded, into, transceiver.receiver))
            else:
                self.audio.append(AudioIn())
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _encoded(self, into: VideoIn, receiver, pts: int, data: bytes) -> None:
        # the libvpx decoder does not flag keyframes: read the frame tag instead
        if len(into.keyframes_at) > 1000:
            into.keyframes_at.clear()  # frames the decoder dropped
        key = into.keyframes_at[pts] = vp8_is_keyframe(data)
        at = self._arrived.pop(rtp_timestamp(receiver, pts), None) if self.arrivals else None
        if at is None:
            self.untimed += 1
        into.encoded.append((at or time.monotonic(), key))
        if len(self._arrived) > 1000:
            self._arrived.clear()

    def _rtp_seen(self, packet: bytes, arrival: float) -> None:
        """Every SRTP packet at the socket (header in clear) before aiortc has it: a video frame's time is when its
        last packet arrived, at the kernel."""
        if (packet[1] & 0x7F) in self._video_pts:
            self._arrived[int.from_bytes(packet[4:8], "big")] = arrival - self._wall_minus_monotonic

    def _keyframe_requested(self) -> None:
        self.keyframe_requests += 1

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and not self._connected.is_set():
            if self.arrivals:
                self._wall_minus_monotonic = time.time() - time.monotonic()
                tap_rtp(self.pc, self._rtp_seen, forward=True)
            self._connected.set()

    def _slot_of(self, track) -> tuple[str, int]:
        same_kind = [t for t in self.pc.getTransceivers() if t.kind == track.kind]
        for index, transceiver in enumerate(same_kind):
            if transceiver.receiver.track is track:
                return track.kind, index
        raise LookupError(track)

    def _on_track(self, track) -> None:
        kind, index = self._slot_of(track)
        if kind == "video":
            self._spawn(self._read_video(track, self.video[index]))
        else:
            self._spawn(self._read_audio(track, self.audio[index]))

    async def _read_video(self, track, into: VideoIn) -> None:
        try:
            while True:
                frame = await track.recv()
                key = into.keyframes_at.pop(frame.pts, False)
                into.pictures.append(Picture(time.monotonic(), top_colour(frame), key, frame.pts))
        except MediaStreamError:
            pass

    async def _read_audio(self, track, into: AudioIn) -> None:
        try:
            while True:
                frame = await track.recv()
                into.frames += 1
                samples = array("h", bytes(frame.planes[0]))
                if max(abs(s) for s in samples[::16]) > 1000:
                    into.loud += 1
        except MediaStreamError:
            pass

    async def offer(self) -> str:
        apply_ice_config(self.pc, self.ice)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        self._video_pts = {
            codec.payloadType
            for transceiver in self.pc.getTransceivers()
            if transceiver.kind == "video"
            for codec in transceiver._codecs
            if not codec.mimeType.lower().endswith("/rtx")
        }

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def request_keyframe(self, slot: int = 0) -> bool:
        """Send a PLI for what video slot `slot` receives."""
        transceiver = [t for t in self.pc.getTransceivers() if t.kind == "video"][slot]
        return await send_keyframe_request(transceiver.receiver)

    async def inbound_stats(self, kind: str, slot: int = 0) -> dict:
        transceiver = [t for t in self.pc.getTransceivers() if t.kind == kind][slot]
        report = await transceiver.receiver.getStats()
        for stat in report.values():
            if stat.type == "inbound-rtp":
                return {"packets_received": stat.packetsReceived, "packets_lost": stat.packetsLost}
        return {"packets_received": 0, "packets_lost": 0}

    async def close(self) -> None:
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_RTP_HEAD = struct.Struct("!BBHII")


@dataclass
class StreamCount:
    packets: int = 0
    lost: int = 0  # sequence gaps
    frames: int = 0  # marker bits (video) / packets (audio)
    next_seq: int | None = None
    first_at: float | None = None  # arrival (time.time()) of the first packet
    last_at: float | None = None


class CountingSubscriber:
    """A load peer: offers sendrecv video + audio like a browser, publishes nothing,
    never decodes, and counts RTP per stream at its socket (kernel arrival times,
    so a late reader does not skew them; `polled`: the owner calls drain()).

    on_packet(subscriber, kind, packet, arrival) sees each SRTP packet still
    encrypted; `unprotect` decrypts one when a caller needs the payload.
    """

    def __init__(
        self, name: str, ice: IceConfig | None = None, on_packet: Callable | None = None, *, polled: bool = False
    ):
        self.polled = polled
        self.name = name
        self.ice = ice or IceConfig.loopback()
        self.pc = new_peer_connection(self.ice, max_bundle=True)
        self.pc.addTransceiver("video", direction="sendrecv")
        self.pc.addTransceiver("audio", direction="sendrecv")
        quiet_peer(self.pc)
        self.streams: dict[str, StreamCount] = {"video": StreamCount(), "audio": StreamCount()}
        self.on_packet = on_packet
        self.unprotect: Callable[[bytes], bytes] | None = None
        self.tap = None
        self.connected_at: float | None = None
        self._pt_kind: dict[int, str] = {}
        self._connected = asyncio.Event()
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and not self._connected.is_set():
            self.connected_at = time.time()
            self._connected.set()

    async def offer(self) -> str:
        apply_ice_config(self.pc, self.ice)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        for transceiver in self.pc.getTransceivers():
            for codec in transceiver._codecs:
                if not codec.mimeType.lower().endswith("/rtx"):
                    self._pt_kind[codec.payloadType] = transceiver.kind

    async def wait_connected(self, timeout: float = 20.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)
        # the ICE pair is nominated once connected: read the socket from now on
        self.tap = tap_rtp(self.pc, self._rtp, polled=self.polled)
        self.unprotect = self.tap.unprotect

    def drain(self) -> None:
        """Polled mode: read what arrived since the last call."""
        if self.tap is not None:
            self.tap.drain()

    def _rtp(self, packet: bytes, arrival: float) -> None:
        _, m_pt, seq, _ts, _ssrc = _RTP_HEAD.unpack_from(packet)
        kind = self._pt_kind.get(m_pt & 0x7F)
        if kind is None:
            return
        stream = self.streams[kind]
        stream.packets += 1
        if stream.next_seq is not None:
            gap = (seq - stream.next_seq) & 0xFFFF
            if gap < 0x8000:
                stream.lost += gap
            else:
                return  # duplicate or late
        else:
            stream.first_at = arrival
        stream.next_seq = (seq + 1) & 0xFFFF
        stream.last_at = arrival
        if kind == "audio" or m_pt & 0x80:
            stream.frames += 1
        if self.on_packet is not None:
            self.on_packet(self, kind, packet, arrival)

    async def close(self) -> None:
        await self.pc.close()

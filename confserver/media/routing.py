"""Routing inside the relay: each published track (`Feed`) fans its frames out to the output
slots (`Slot`) that forward it, one source per slot at a time.

A video slot switches source at the new source's keyframe (or starts from the source's cached
keyframe, the fast start), and its outgoing RTP timestamps continue across switches; keyframe
requests are coalesced per feed. A slot's delivery is its subclass's: media/peerslot.py writes RTP
to a subscribing peer, media/recorder.py writes to a file.
"""

import asyncio
import random
import time
from typing import TYPE_CHECKING

from .frames import Frame, SequenceFilter, Vp8Assembler
from .temporal import NO_VIDEO, LayerRates, TemporalFilter
from .transport import PassthroughReceiver

if TYPE_CHECKING:
    from .relay import Relay, _Peer

PLI_INTERVAL = 0.5  # at most one keyframe request per publisher per this many seconds
PLI_RETRY = 1.0  # ask again while no keyframe came
# Fast start: a subscriber that needs a keyframe gets the publisher's last one and the
# frames since, when they are this few, instead of waiting for a keyframe request.
FAST_START_FRAMES = 20  # 2/3 s at 30 fps: longer than a keyframe request takes to be allowed again
FAST_START_BYTES = 96 * 1024  # what a thin link takes in about a second
FAST_START_STEP = 90  # RTP ticks between the cached frames sent at once (1 ms)
LOW_LIVE_S = 2.0  # a low layer with no frame for this long is not switched to (the publisher stopped it)
CLOCK = {"video": 90000, "audio": 48000}


class Feed:
    """A track a peer publishes (camera or mic) and the output slots that take it."""

    def __init__(self, relay: "Relay", peer: "_Peer", kind: str, receiver: PassthroughReceiver):
        self.relay = relay
        self.peer = peer
        self.kind = kind
        self.receiver = receiver
        self.slots: list[Slot] = []
        self.assembler = Vp8Assembler() if kind == "video" else None
        self.layers = LayerRates() if kind == "video" else None  # what each temporal layer costs (issue 15)
        # the shared low layer (media/lowlayer.py): the publisher's second video track, and back
        self.low: Feed | None = None
        self.main: Feed | None = None
        self.frames_in = 0
        self.last_frame_at = -1e9
        self.key_head = b""
        self.sequence = SequenceFilter() if kind == "audio" else None
        self.media_ssrc: int | None = None
        self.bytes_in = 0
        self.packets_in = 0
        # keyframe requests, coalesced
        self.want_key = False
        self.last_pli = -1e9
        self.retry: asyncio.TimerHandle | None = None
        self.plis_sent = 0
        self.keyframes = 0
        self.last_key_wall: float | None = None
        # the last keyframe and the frames since, while few: a newcomer starts from them
        self.gop: list[Frame] = []
        self.gop_bytes = 0

    def on_packet(self, packet) -> None:
        self.packets_in += 1
        payload = packet.payload
        self.bytes_in += len(payload) + 12
        self.media_ssrc = packet.ssrc
        if self.assembler is not None:
            assembler = self.assembler
            now = time.monotonic()
            frames = assembler.push(packet.sequence_number, packet.timestamp, packet.marker, payload, now)
            if assembler.broken:
                self.gop = []
                if not self.want_key:
                    self.request_keyframe()
            for frame in frames:
                self.frames_in += 1
                self.last_frame_at = now
                self.layers.add(frame.tid, len(frame.data))
                if frame.key:
                    self.keyframes += 1
                    self.key_head = frame.data[:10]  # its size (lowlayer.frame_size)
                    self.last_key_wall = time.time()
                    self._keyframe_came()
                    self.gop = [frame]
                    self.gop_bytes = len(frame.data)
                elif self.gop:
                    self.gop_bytes += len(frame.data)
                    if len(self.gop) < FAST_START_FRAMES and self.gop_bytes <= FAST_START_BYTES:
                        self.gop.append(frame)
                    else:
                        self.gop = []  # too long ago: newcomers ask for a keyframe
                if self.slots:
                    self.relay._fan_out(self, frame)
        elif self.sequence.accept(packet.sequence_number) and self.slots and not self.peer.muted:
            self.relay._fan_out(self, Frame(packet.timestamp, payload, True, packet.extensions.audio_level))

    # keyframes

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe: now, or when the PLI interval allows."""
        if self.kind != "video":
            return
        self.want_key = True
        now = time.monotonic()
        if now - self.last_pli >= PLI_INTERVAL:
            self._send_pli(now)
        elif self.retry is None:
            self.retry = asyncio.get_running_loop().call_later(PLI_INTERVAL - (now - self.last_pli), self._retry)

    def _retry(self) -> None:
        self.retry = None
        if self.want_key:
            self._send_pli(time.monotonic())

    def _send_pli(self, now: float) -> None:
        if self.retry is not None:
            self.retry.cancel()
        self.last_pli = now
        if self.media_ssrc is not None:
            self.receiver._send_pli_now(self.media_ssrc)
            self.plis_sent += 1
        # Ask again if no keyframe comes (lost PLI, or nothing received yet).
        self.retry = asyncio.get_running_loop().call_later(PLI_RETRY, self._retry)

    def _keyframe_came(self) -> None:
        self.want_key = False
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None

    def close(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        for slot in list(self.slots):
            slot.source_gone(self)
        self.slots.clear()


class Slot:
    """One output (kind, index) of a subscriber: forwards one source at a time.

    The routing is here: a video slot switches at the new source's keyframe (or starts from
    the source's cached one), and its outgoing timestamps continue across switches. Delivery
    is a subclass's: `PeerSlot` packetises for a peer; media/recorder.py writes to a file.
    """

    def __init__(self, kind: str, index: int):
        self.kind = kind
        self.index = index
        self.route_id: str | None = None  # the source asked for
        self.current: Feed | None = None  # the source being forwarded
        self.pending: Feed | None = None  # the next source, taken at its keyframe
        self.ready = False
        self.waiting_key = kind == "video"
        self.anchor = True  # re-anchor timestamps on the next frame sent
        self.switches = 0
        self.fast_starts = 0
        # outgoing timestamps (RTP clock of the kind, 32 bits)
        self.ts_offset = 0
        self.last_ts = random.randint(0, 0xFFFFFFFF)
        self.last_time: float | None = None
        # the temporal layers forwarded at the room's tier (media/temporal.py, media/adapt.py)
        self.layers = TemporalFilter() if kind == "video" else None
        self.no_fast_start = False  # the next start waits for a new keyframe (the pacer dropped a frame)
        self.wants_low = False  # the room's tier is LOW: take a source's low layer when it sends one (lowlayer.py)
        self.low_only = False  # a link's low-layer slot: a source's low layer or nothing (media/links.py)

    # routing

    def route(self, feed: "Feed | None") -> None:
        """Forward `feed` from now (audio), or from its next keyframe (video); a source's low layer
        instead of its main feed while the slot wants it (and back)."""
        if feed is not None and feed.kind == "video":
            feed = self._variant(feed)
        if feed is self.current:
            self._drop_pending()
            return
        if self.pending is not None and self.pending is not feed:
            self._drop_pending()
        if feed is None:
            self._detach_current()
            return
        if self.current is None or self.kind == "audio":
            self._detach_current()
            self.current = feed
            feed.slots.append(self)
            self.anchor = True
            if self.ready:
                self.restart()
        elif self.pending is None:
            # Keep forwarding the old source until the new one's keyframe.
            self.pending = feed
            feed.slots.append(self)
            feed.request_keyframe()

    def _variant(self, feed: "Feed") -> "Feed | None":
        main = feed.main or feed
        low = main.low
        if self.low_only:
            return low
        if self.wants_low and low is not None and time.monotonic() - low.last_frame_at < LOW_LIVE_S:
            return low
        return main

    def want_low(self, want: bool) -> None:
        """Take the low layer of the source (or its main feed again), at the next keyframe of the one to take."""
        self.wants_low = want
        source = self.pending or self.current
        if source is not None and self._variant(source) is not source:
            self.route(source)

    def _drop_pending(self) -> None:
        if self.pending is not None:
            self.pending.slots.remove(self)
            self.pending = None

    def _detach_current(self) -> None:
        if self.current is not None:
            self.current.slots.remove(self)
            self.current = None

    def source_gone(self, feed: "Feed") -> None:
        """`feed`'s peer closed: the next source, if one waits, takes over at once."""
        if self.pending is feed:
            self.pending = None
        if self.current is feed:
            self.current, self.pending = self.pending, None
            self.anchor = True
            if self.current is not None and self.ready:
                self.restart()

    def restart(self) -> None:
        """The subscriber's decoder starts afresh (it connected): start it at a keyframe,
        the cached one if the source has it, else one asked for."""
        if self.kind != "video":
            return
        self.waiting_key = True
        for feed in (self.current, self.pending):
            if feed is not None and self.ready and not (feed is self.current and feed.gop):
                feed.request_keyframe()

    def keyframe_requested(self) -> None:
        if self.layers is not None and self.layers.cap == NO_VIDEO:
            return  # an audio-only room asks for nothing: it restarts at a keyframe when video comes back
        for feed in (self.current, self.pending):
            if feed is not None and self.ready:
                feed.request_keyframe()

    # forwarding (hot path)

    def take(self, feed: "Feed", frame: Frame, now: float, ntp: int, ast: bytes) -> None:
        if feed is not self.current:
            if feed is not self.pending or not frame.key:
                return
            # Switch at the new source's keyframe.
            if self.current is not None:
                self.current.slots.remove(self)
            self.current = feed
            self.pending = None
            self.anchor = True
            self.waiting_key = False
            self.switches += 1
        if not self.ready:
            return
        layers = self.layers
        # a low layer's frames all pass (its tier is its resolution), unless the room is on audio only
        if layers is not None and (feed.main is None or layers.cap == NO_VIDEO):
            if not layers.admit(frame.tid, frame.sync, frame.key):
                return
        catch_up = None
        if self.waiting_key:
            if not frame.key:
                gop = feed.gop
                if not gop or gop[-1] is not frame or self.no_fast_start:
                    if not feed.want_key:
                        feed.request_keyframe()  # the cached frames ran out meanwhile
                    return
                catch_up = gop[:-1]  # fast start from the cached keyframe
                if layers is not None and feed.main is None:
                    # only the layers of the room's tier (a room at T0 behind a thin link is sent a quarter of them)
                    target = layers.target
                    catch_up = [f for f in catch_up if f.key or (f.tid or 0) <= target]
                    layers.cap = target  # from the keyframe on, every layer aimed at follows (TemporalFilter.admit)
            self.waiting_key = self.no_fast_start = False
        if self.anchor:
            # Continue the outgoing timestamps from the last frame sent, plus the time since.
            self.anchor = False
            if self.last_time is None:
                self.ts_offset = (self.last_ts - frame.ts) & 0xFFFFFFFF
            else:
                ticks = max(1, int((now - self.last_time) * CLOCK[self.kind]))
                self.ts_offset = (self.last_ts + ticks - frame.ts) & 0xFFFFFFFF
        send = self._output()
        if send is None:
            return
        ts = (frame.ts + self.ts_offset) & 0xFFFFFFFF
        if catch_up:
            # The cached frames go first, 1 ms apart just before this one: the decoder
            # gets its keyframe and every reference now; the picture shows at once.
            count = len(catch_up)
            if self.last_time is not None and ((ts - self.last_ts) & 0xFFFFFFFF) <= count * FAST_START_STEP:
                ts = (self.last_ts + (count + 1) * FAST_START_STEP) & 0xFFFFFFFF
                self.ts_offset = (ts - frame.ts) & 0xFFFFFFFF
            for index, cached in enumerate(catch_up):
                self._send(send, cached, (ts - (count - index) * FAST_START_STEP) & 0xFFFFFFFF, ntp, ast)
            self.fast_starts += 1
        self._send(send, frame, ts, ntp, ast)
        self.last_ts = ts
        self.last_time = now

    # delivery (the subclass's)

    def _output(self):
        """Where the frame about to be sent goes (handed to `_send`), or None to drop it."""
        raise NotImplementedError

    def _send(self, send, frame: Frame, ts: int, ntp: int, ast: bytes) -> None:
        raise NotImplementedError

"""Routing inside the relay: each published track (`Feed`) fans its frames out to the output
slots (`Slot`) that forward it, one source per slot at a time.

A video slot switches source at the new source's keyframe (or starts from the source's cached
keyframe, the fast start), and its outgoing RTP timestamps continue across switches; each slot
writes its own RTP headers (sequence numbers, picture IDs, header extensions), keeps a
retransmission history and answers NACKs; keyframe requests are coalesced per feed.
"""

import asyncio
import random
import struct
import time
from typing import TYPE_CHECKING

from aiortc.codecs import is_rtx
from aiortc.rtp import RtcpReceiverInfo, RtcpSenderInfo, RtcpSrPacket

from . import red
from .frames import Frame, SequenceFilter, Vp8Assembler, split
from .temporal import NO_VIDEO, LayerRates, TemporalFilter
from .transport import ForwardingSender, Link, PassthroughReceiver, link_of

if TYPE_CHECKING:
    from .relay import Relay, _Peer

PLI_INTERVAL = 0.5  # at most one keyframe request per publisher per this many seconds
PLI_RETRY = 1.0  # ask again while no keyframe came
# Fast start: a subscriber that needs a keyframe gets the publisher's last one and the
# frames since, when they are this few, instead of waiting for a keyframe request.
FAST_START_FRAMES = 20  # 2/3 s at 30 fps: longer than a keyframe request takes to be allowed again
FAST_START_BYTES = 96 * 1024  # what a thin link takes in about a second
FAST_START_STEP = 90  # RTP ticks between the cached frames sent at once (1 ms)
HISTORY = 512  # retransmission history per outgoing video stream (power of 2)
LOW_LIVE_S = 2.0  # a low layer with no frame for this long is not switched to (the publisher stopped it)
RTX_MAX_AGE_S = 1.0  # a packet sent longer ago is not sent again, nor its NACK counted (a hole from before a restart)
CLOCK = {"video": 90000, "audio": 48000}

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

_SEQ_HEAD = struct.Struct("!BBH")
_TS_SSRC = struct.Struct("!II")
_SSRC = struct.Struct("!I")
_SEQ = struct.Struct("!H")
_DESC = struct.Struct("!BBH")
_DESC_T = struct.Struct("!BBHB")  # with the temporal layer (T bit): a relay below applies tiers too (issue 15)


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

    def _variant(self, feed: "Feed") -> "Feed":
        main = feed.main or feed
        low = main.low
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


class PeerSlot(Slot):
    """A slot whose frames go to a subscribing peer as RTP: its own SSRC, sequence numbers,
    picture IDs and header extensions, a retransmission history, sender reports."""

    def __init__(self, relay: "Relay", peer: "_Peer", kind: str, index: int, sender: ForwardingSender):
        super().__init__(kind, index)
        self.relay = relay
        self.peer = peer
        self.sender = sender
        self.link: Link | None = None
        # RTP state of the outgoing stream
        self.pt = 0
        self.rtx_pt: int | None = None
        self.ssrc = sender.ssrc
        self.rtx_ssrc = sender.rtx_ssrc
        self.seq = random.randint(0, 0x7FFF)
        self.rtx_seq = random.randint(0, 0x7FFF)
        self.picture_id = random.randint(0, 0x7FFF)
        self.history: list[bytes | None] = [None] * HISTORY if kind == "video" else []
        self.first_byte = 0x80
        self.with_ast = False
        self.ext_pre = b""  # video: extension block before abs-send-time
        self.ext_post = b""
        self.ext_plain = b""  # audio: without / with audio level
        self.level_pre: bytes | None = None
        self.level_post = b""
        # stats and sender reports
        self.cname = b""
        self.ntp = 0  # NTP time of the last packet sent
        self.lsr: int | None = None  # middle 32 bits of the last report's NTP time
        self.lsr_time = 0.0
        self.packets = 0
        self.octets = 0
        self.fraction_lost = 0.0
        self.rtt: float | None = None
        self.remb: int | None = None
        self.retransmitted = 0  # packets sent again on a NACK
        self.pacer = None  # the room's pacer while it paces (media/pacing.py), set per frame by _output
        self.rtx_skipped = 0  # NACKed packets not sent again: within one RTT of the last time, or over budget
        self.resent = [(-1, 0.0)] * HISTORY if kind == "video" else []  # (seq, when) sent again last
        self.sent_at = [0.0] * HISTORY if kind == "video" else []  # when each packet of the history was sent
        self.red_pt: int | None = None  # the room takes redundant audio (media/red.py)
        self.red_prev: tuple[int, bytes] | None = None  # the last audio packet sent: (timestamp, Opus data)

    # setup

    def start(self, parameters) -> None:
        """The subscriber is connected and the sender negotiated: frames may flow."""
        self.pt = parameters.codecs[0].payloadType
        self.cname = (parameters.rtcp.cname or "").encode()
        for codec in parameters.codecs:
            if is_rtx(codec) and codec.parameters.get("apt") == self.pt:
                self.rtx_pt = codec.payloadType
            elif codec.mimeType.lower() == red.MIME:
                self.red_pt = codec.payloadType
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        mid = (parameters.muxId or "").encode()
        mid_elem = bytes(((ids[MID_URI] << 4) | (len(mid) - 1),)) + mid if MID_URI in ids and mid else b""
        if self.kind == "video":
            ast_id = ids.get(ABS_SEND_TIME_URI)
            body_len = len(mid_elem) + (4 if ast_id else 0)
            pad = -body_len % 4
            if body_len:
                self.first_byte = 0x90
                self.ext_pre = b"\xbe\xde" + _SEQ.pack((body_len + pad) // 4) + mid_elem
                self.ext_pre += bytes(((ast_id << 4) | 2,)) if ast_id else b"\0" * pad
                self.ext_post = b"\0" * pad if ast_id else b""
                self.with_ast = bool(ast_id)
        else:
            self.ext_plain = _extension_block(mid_elem)
            self.first_byte = 0x90 if self.ext_plain else 0x80
            level_id = ids.get(AUDIO_LEVEL_URI)
            if level_id:
                body_len = len(mid_elem) + 2
                pad = -body_len % 4
                self.level_pre = b"\xbe\xde" + _SEQ.pack((body_len + pad) // 4) + mid_elem + bytes((level_id << 4,))
                self.level_post = b"\0" * pad
        self.ready = True
        self.restart()

    def _output(self):
        link = self.link
        if link is None or not link.connected():
            link = self.link = link_of(self.sender.transport)
            if link is None:
                return None
        tiering = getattr(self.peer, "tiering", None)
        self.pacer = tiering.pacer if tiering is not None and tiering.pacer.bucket is not None else None
        return link.send

    def _emit(self, packet: bytes) -> None:
        """A paced packet leaves the room's pacer: its sequence number now, so that the frames the pacer
        drops leave no gap for the room to ask again (media/pacing.py)."""
        link = self.link
        if link is None:
            return
        seq = self.seq
        packet = b"".join((packet[:2], _SEQ.pack(seq), packet[4:]))
        self.history[seq & (HISTORY - 1)] = packet
        self.sent_at[seq & (HISTORY - 1)] = time.monotonic()
        self.seq = (seq + 1) & 0xFFFF
        link.send(packet)

    def paced_out(self) -> None:
        """The room's pacer dropped one of this slot's frames: start again at a new keyframe (not the cached
        one and the frames since: that burst is what the pacer could not take)."""
        self.waiting_key = True
        self.no_fast_start = True
        for feed in (self.current, self.pending):
            if feed is not None and self.ready:
                feed.request_keyframe()

    def _send(self, send, frame: Frame, ts: int, ntp: int, ast: bytes) -> None:
        if self.kind == "video":
            chunks = frame.chunks
            if chunks is None:
                chunks = frame.chunks = split(frame.data)
            if self.with_ast:
                head_tail = _TS_SSRC.pack(ts, self.ssrc) + self.ext_pre + ast + self.ext_post
            else:
                head_tail = _TS_SSRC.pack(ts, self.ssrc) + self.ext_pre
            pid = self.picture_id
            self.picture_id = (pid + 1) & 0x7FFF
            tid = frame.tid
            if tid is None:
                descriptor = _DESC.pack(0x90, 0x80, 0x8000 | pid)
                rest = _DESC.pack(0x80, 0x80, 0x8000 | pid)
            else:
                layer = tid << 6 | (0x20 if frame.sync else 0)
                descriptor = _DESC_T.pack(0x90, 0xA0, 0x8000 | pid, layer)
                rest = _DESC_T.pack(0x80, 0xA0, 0x8000 | pid, layer)
            last = len(chunks) - 1
            seq = self.seq
            pt = self.pt
            first_byte = self.first_byte
            pacer = self.pacer
            if pacer is not None:
                for i, chunk in enumerate(chunks):  # numbered as they leave the pacer (_emit)
                    pacer.video(
                        self._emit,
                        self,
                        b"".join(
                            (
                                _SEQ_HEAD.pack(first_byte, pt | 0x80 if i == last else pt, 0),
                                head_tail,
                                descriptor,
                                chunk,
                            )
                        ),
                    )
                    if i == 0:
                        descriptor = rest
                seq = self.seq
            history, sent_at, sent = self.history, self.sent_at, time.monotonic()
            for i, chunk in enumerate(chunks if pacer is None else ()):
                packet = b"".join(
                    (_SEQ_HEAD.pack(first_byte, pt | 0x80 if i == last else pt, seq), head_tail, descriptor, chunk)
                )
                history[seq & (HISTORY - 1)] = packet
                sent_at[seq & (HISTORY - 1)] = sent
                send(packet)
                seq = (seq + 1) & 0xFFFF
                if i == 0:
                    descriptor = rest
            self.seq = seq
            count = last + 1
            octets = len(frame.data) + 4 * count
        else:
            level = frame.level
            if level is not None and self.level_pre is not None:
                ext = self.level_pre + bytes(((0x80 if level[0] else 0) | (level[1] & 0x7F),)) + self.level_post
            else:
                ext = self.ext_plain
            data, pt = frame.data, self.pt
            if self.red_pt is not None:  # a room on a low tier gets each packet twice (media/red.py)
                tiering = getattr(self.peer, "tiering", None)
                if tiering is not None and red.wanted(tiering.state.tier):
                    data, pt = red.payload(self.pt, data, ts, self.red_prev), self.red_pt
                self.red_prev = (ts, frame.data)
            send(b"".join((_SEQ_HEAD.pack(self.first_byte, pt, self.seq), _TS_SSRC.pack(ts, self.ssrc), ext, data)))
            self.seq = (self.seq + 1) & 0xFFFF
            count = 1
            octets = len(frame.data)
        self.packets += count
        self.octets += octets
        self.ntp = ntp

    def sender_report(self) -> RtcpSrPacket:
        self.lsr = (self.ntp >> 16) & 0xFFFFFFFF
        self.lsr_time = time.time()
        info = RtcpSenderInfo(
            ntp_timestamp=self.ntp,
            rtp_timestamp=self.last_ts,
            packet_count=self.packets & 0xFFFFFFFF,
            octet_count=self.octets & 0xFFFFFFFF,
        )
        return RtcpSrPacket(ssrc=self.ssrc, sender_info=info)

    def reported(self, report: RtcpReceiverInfo) -> None:
        """A receiver report from the subscriber about this stream: loss, and RTT (RFC 3550 6.4.1)."""
        self.fraction_lost = report.fraction_lost / 256
        if report.lsr and report.lsr == self.lsr and report.dlsr:
            rtt = time.time() - self.lsr_time - report.dlsr / 65536
            if rtt >= 0:
                self.rtt = rtt if self.rtt is None else 0.85 * self.rtt + 0.15 * rtt

    def fresh(self, seqs) -> list[int]:
        """The NACKed sequence numbers sent within RTX_MAX_AGE_S: what says something about the link now."""
        if not self.history:
            return list(seqs)
        now, history, sent_at = time.monotonic(), self.history, self.sent_at
        fresh = []
        for seq in seqs:
            packet = history[seq & (HISTORY - 1)]
            if (
                packet is not None
                and ((packet[2] << 8) | packet[3]) == seq
                and now - sent_at[seq & (HISTORY - 1)] <= RTX_MAX_AGE_S
            ):
                fresh.append(seq)
        return fresh

    def retransmit(self, seq: int) -> None:
        if not self.history:
            return
        index = seq & (HISTORY - 1)
        packet = self.history[index]
        if packet is None or ((packet[2] << 8) | packet[3]) != seq:
            return
        # Never the same packet twice within one round trip (the room's NACK repeats before ours lands),
        # and retransmissions only within their share of the room's budget (media/pacing.py).
        now = time.monotonic()
        if now - self.sent_at[index] > RTX_MAX_AGE_S:
            self.rtx_skipped += 1
            return
        last_seq, last_at = self.resent[index]
        if last_seq == seq and now - last_at < (self.rtt if self.rtt is not None else 0.1):
            self.rtx_skipped += 1
            return
        tiering = getattr(self.peer, "tiering", None)
        if tiering is not None and not tiering.pacer.allow_rtx(len(packet) + 2):
            self.rtx_skipped += 1
            return
        self.resent[index] = (seq, now)
        if self.rtx_pt is not None:
            # RFC 4588: own SSRC and sequence, original sequence number first.
            head = 16 + 4 * ((packet[14] << 8) | packet[15]) if packet[0] & 0x10 else 12
            packet = b"".join(
                (
                    _SEQ_HEAD.pack(packet[0], (packet[1] & 0x80) | self.rtx_pt, self.rtx_seq),
                    packet[4:8],
                    _SSRC.pack(self.rtx_ssrc),
                    packet[12:head],
                    packet[2:4],
                    packet[head:],
                )
            )
            self.rtx_seq = (self.rtx_seq + 1) & 0xFFFF
        link = link_of(self.sender.transport)
        if link is not None:
            link.send(packet)
            self.retransmitted += 1


def _extension_block(body: bytes) -> bytes:
    if not body:
        return b""
    pad = -len(body) % 4
    return b"\xbe\xde" + _SEQ.pack((len(body) + pad) // 4) + body + b"\0" * pad

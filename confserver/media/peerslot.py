"""A slot whose frames go to one subscribing peer as RTP (`PeerSlot`): the relay's send path.

routing.Slot decides which frames a slot forwards and when (switches at keyframes, fast start, continuous
timestamps, the room's temporal layers); a PeerSlot writes them as the peer's own stream: its SSRC, sequence
numbers, VP8 picture IDs and header extensions, through the room's pacer when it paces (media/pacing.py); it keeps
a retransmission history and answers NACKs within the room's budget, reads the room's receiver reports (loss,
RTT), and passes its keyframe requests to the source, at most one per room per ROOM_KEY_INTERVAL_S.
"""

import asyncio
import random
import struct
import time
from typing import TYPE_CHECKING

from aiortc.codecs import is_rtx
from aiortc.rtp import RtcpReceiverInfo, RtcpSenderInfo, RtcpSrPacket

from . import red
from .frames import Frame, split
from .routing import Slot
from .transport import CONNECTED, ForwardingSender, Link, link_of

if TYPE_CHECKING:
    from .relay import Relay, _Peer

HISTORY = 512  # retransmission history per outgoing video stream (power of 2)
RTX_MAX_AGE_S = 1.0  # a packet sent longer ago is not sent again, nor its NACK counted (a hole from before a restart)
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_SEQ_HEAD = struct.Struct("!BBH")
_TS_SSRC = struct.Struct("!II")
_HEAD = struct.Struct("!BBHII")  # the fixed RTP header: first byte, marker and type, sequence, timestamp, SSRC
_SSRC = struct.Struct("!I")
_SEQ = struct.Struct("!H")
_DESC = struct.Struct("!BBH")
_DESC_T = struct.Struct("!BBHB")  # with the temporal layer (T bit): a relay below applies tiers too (issue 15)
# One room's own keyframe requests reach its source at most this often (the source coalesces every room's at
# routing.PLI_INTERVAL): a room that cannot decode and asks again and again would otherwise have the publisher send a
# keyframe every half second, several times the rate of the frames between, to every room of the meeting.
ROOM_KEY_INTERVAL_S = 2.0


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
        self.key_asked_at = -ROOM_KEY_INTERVAL_S  # when this room's keyframe request last went to its source
        self.key_owed: asyncio.TimerHandle | None = None  # a request that came sooner, passed on when allowed
        self.key_requests_held = 0

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
        if link is None or link.dtls._state is not CONNECTED:  # the DTLS session is gone: reconnected or closed
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

    def keyframe_requested(self) -> None:
        """The peer asks for a keyframe (PLI/FIR): passed on at once, or when its interval allows, one for many.
        A relay below (a link) is not held here: it already coalesced its rooms' requests."""
        if getattr(self.peer, "link", True):  # a room's _Peer says False; a link's ends (ParentLink) have no flag
            super().keyframe_requested()
            return
        now = time.monotonic()
        wait = self.key_asked_at + ROOM_KEY_INTERVAL_S - now
        if wait <= 0:
            self.key_asked_at = now
            super().keyframe_requested()
        else:
            self.key_requests_held += 1
            if self.key_owed is None:
                self.key_owed = asyncio.get_running_loop().call_later(wait, self._key_allowed)

    def _key_allowed(self) -> None:
        self.key_owed = None
        self.key_asked_at = time.monotonic()
        super().keyframe_requested()

    def cancel_key_request(self) -> None:
        """A keyframe went to the room (a request it made since is answered), or the room is gone."""
        if self.key_owed is not None:
            self.key_owed.cancel()
            self.key_owed = None

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
            if frame.key and self.key_owed is not None:
                self.cancel_key_request()
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
            history, sent_at, sent = self.history, self.sent_at, time.monotonic()
            now: list[bytes] = []  # numbered and sent at once (what the pacer lets go now)
            head_size = 4 + len(head_tail) + len(descriptor)  # `rest` is as long as `descriptor`
            for i, chunk in enumerate(chunks):
                mark = pt | 0x80 if i == last else pt
                if pacer is None or pacer.admit(head_size + len(chunk)):
                    packet = b"".join((_SEQ_HEAD.pack(first_byte, mark, seq), head_tail, descriptor, chunk))
                    history[seq & (HISTORY - 1)] = packet
                    sent_at[seq & (HISTORY - 1)] = sent
                    now.append(packet)
                    seq = (seq + 1) & 0xFFFF
                else:  # the rest of the frame waits in the pacer, numbered as it leaves (_emit)
                    packet = b"".join((_SEQ_HEAD.pack(first_byte, mark, 0), head_tail, descriptor, chunk))
                    pacer.enqueue(self, packet, self._emit)
                if i == 0:
                    descriptor = rest
            self.seq = seq
            if len(now) > 1 and self.link is not None and send == self.link.send:
                self.link.send_frame(now)  # one system call for the frame (UDP GSO)
            else:
                for packet in now:
                    send(packet)
            count = last + 1
            octets = len(frame.data) + 4 * count
        else:
            data, pt = frame.data, self.pt
            if self.red_pt is not None:  # a room on a low tier gets each packet twice (media/red.py)
                tiering = getattr(self.peer, "tiering", None)
                if tiering is not None and red.wanted(tiering.state.tier):
                    data, pt = red.payload(self.pt, data, ts, self.red_prev), self.red_pt
                self.red_prev = (ts, frame.data)
            head = _HEAD.pack(self.first_byte, pt, self.seq, ts, self.ssrc)
            level = frame.level_byte
            if level is not None and self.level_pre is not None:
                send(b"".join((head, self.level_pre, level, self.level_post, data)))
            else:
                send(b"".join((head, self.ext_plain, data)))
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

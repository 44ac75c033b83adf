"""The media relay: an SFU that forwards encoded VP8/Opus frames between peers.

Publishers' packets are rebuilt into frames (VP8 on the marker bit, Opus per
packet: no jitter buffer), and each frame is repacketised for every subscriber
slot that forwards its source, with the slot's own SSRC, sequence numbers,
picture IDs and timestamps, so that a slot switching source at a keyframe
stays one continuous stream. Nothing is decoded or encoded.

This is the only module that touches aiortc, aioice (and pylibsrtp) internals:
those of aiortc 1.16.0, aioice 0.13.0 and pylibsrtp 1.0 (pinned). Each use:

* `_PassthroughReceiver` (swapped in with `__class__` on the receivers that
  RTCPeerConnection creates from the offer, before anything starts): the stock
  receiver always decodes; this one keeps its receive bookkeeping (statistics,
  NACK, REMB, RTX) and hands each packet to the relay instead of the jitter
  buffer and decoder thread, which never starts.
* `_ForwardingSender` (swapped in the same way): its RTP loop idles; the relay
  writes RTP headers itself, protects them with the DTLS transport's SRTP
  session and sends them on the nominated ICE pair's socket in one synchronous
  call (`_Link`), keeps its own retransmission history, and passes keyframe
  requests upstream.
* RTCP: both classes' per-object RTCP tasks idle, and one relay task sends each
  peer's sender and receiver reports as one compound packet.
* `_gather_candidates` replaces aioice's candidate gathering per connection:
  chosen host addresses (loopback included), a port range, a 1:1 NAT address,
  4 MB socket buffers.
* The hooks at the end (for confserver/media/bot.py) reach into senders,
  receivers and the asyncio selector for the test and load peers.
"""
import asyncio
import errno
import functools
import logging
import queue
import random
import socket
import struct
import time
from collections.abc import Callable

from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs import is_rtx
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)
from aiortc.sdp import candidate_from_sdp

from confserver.errors import Conflict, DomainError, NotFound

from .config import IceConfig
from .frames import Frame, SequenceFilter, Vp8Assembler, split
from .stats import PeerStats

log = logging.getLogger(__name__)

KINDS = ("video", "audio")
PLI_INTERVAL = 0.5  # at most one keyframe request per publisher per this many seconds
PLI_RETRY = 1.0  # ask again while no keyframe came
# Fast start: a subscriber that needs a keyframe gets the publisher's last one and the
# frames since, when they are this few, instead of waiting for a keyframe request.
FAST_START_FRAMES = 20  # 2/3 s at 30 fps: longer than a keyframe request takes to be allowed again
FAST_START_BYTES = 96 * 1024  # what a thin link takes in about a second
FAST_START_STEP = 90  # RTP ticks between the cached frames sent at once (1 ms)
CONNECT_TIMEOUT = 30.0  # a peer not connected by then is closed and forgotten
SOCKET_BUFFER = 4 * 1024 * 1024  # avoids kernel drops under load
HISTORY = 512  # retransmission history per outgoing video stream (power of 2)
CLOCK = {"video": 90000, "audio": 48000}
CODEC = {"video": "video/vp8", "audio": "audio/opus"}
NTP_EPOCH_OFFSET = 2208988800

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

_SEQ_HEAD = struct.Struct("!BBH")
_TS_SSRC = struct.Struct("!II")
_SSRC = struct.Struct("!I")
_SEQ = struct.Struct("!H")
_DESC = struct.Struct("!BBH")


# --- ICE ----------------------------------------------------------------------------


def _ice_servers(ice: IceConfig) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice.servers]


def new_peer_connection(ice: IceConfig, *, max_bundle: bool = False) -> RTCPeerConnection:
    """An RTCPeerConnection that uses only the given STUN/TURN servers (none by default)."""
    config = RTCConfiguration(iceServers=_ice_servers(ice))
    if max_bundle:
        config.bundlePolicy = RTCBundlePolicy.MAX_BUNDLE
    return RTCPeerConnection(config)


def apply_ice_config(pc: RTCPeerConnection, ice: IceConfig) -> None:
    """Make the ICE gatherers of `pc` offer what `ice` says; call before setLocalDescription."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        if not getattr(connection, "_confserver_patched", False):
            connection._confserver_patched = True
            connection.gather_candidates = functools.partial(_gather_candidates, connection, ice)


async def _bind(connection, address: str, port_range: tuple[int, int] | None):
    loop = asyncio.get_running_loop()
    if port_range is None:
        ports = [0]
    else:
        first, last = port_range
        start = random.randint(first, last)
        ports = list(range(start, last + 1)) + list(range(first, start))
    for port in ports:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: aioice_ice.StunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            if port and exc.errno == errno.EADDRINUSE:
                continue
            raise
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        return protocol
    raise OSError(errno.EADDRINUSE, f"no free UDP port in {port_range} on {address}")


async def _gather_candidates(connection, ice: IceConfig) -> None:
    """aioice 0.13 Connection.gather_candidates, with our addresses, ports and buffers."""
    if connection._local_candidates_start:
        return
    connection._local_candidates_start = True
    if ice.host_addresses is not None:
        addresses = list(ice.host_addresses)
    else:
        addresses = aioice_ice.get_host_addresses(use_ipv4=True, use_ipv6=ice.ipv6)
    for component in sorted(connection._components):
        protocols = []
        for address in addresses:
            try:
                protocol = await _bind(connection, address, ice.port_range)
            except OSError as exc:
                log.warning("ICE: cannot bind %s: %s", address, exc)
                continue
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            connection._local_candidates.append(protocol.local_candidate)
            protocols.append(protocol)
            if ice.public_address:
                # 1:1 NAT: the same port, seen at the public address.
                connection._local_candidates.append(
                    Candidate(
                        foundation=candidate_foundation("srflx", "udp", host),
                        component=component,
                        transport="udp",
                        priority=candidate_priority(component, "srflx"),
                        host=ice.public_address,
                        port=port,
                        type="srflx",
                        related_address=host,
                        related_port=port,
                    )
                )
        connection._protocols += protocols
        if connection.stun_server:
            tasks = [
                asyncio.ensure_future(aioice_ice.server_reflexive_candidate(p, connection.stun_server))
                for p in protocols
                if ":" not in p.local_candidate.host
            ]
            if tasks:
                done, pending = await asyncio.wait(tasks, timeout=5)
                for task in pending:
                    task.cancel()
                for task in done:
                    if task.exception() is None:
                        connection._local_candidates.append(task.result()[0])
        if connection.turn_server:
            # aioice adds the relayed candidate; no host address, so nothing else.
            connection._local_candidates += await type(connection).get_component_candidates(
                connection, component=component, addresses=[]
            )
    connection._local_candidates_end = True


class _Link:
    """Sends SRTP on a connected DTLS transport now, in one synchronous call per packet:
    protect with its SRTP session, then sendto on the nominated ICE pair's socket."""

    __slots__ = ("dtls", "session", "protect", "sock", "transport", "addr")

    def __init__(self, dtls, pair):
        self.dtls = dtls
        self.session = dtls._tx_srtp
        self.protect = _lean_protect(self.session)
        self.transport = pair.protocol.transport
        self.sock = self.transport._sock
        self.addr = pair.remote_addr

    def send(self, packet: bytes) -> None:
        data = self.protect(packet)
        if self.transport.get_write_buffer_size():
            self.transport.sendto(data, self.addr)  # keep order behind what asyncio holds
            return
        try:
            self.sock.sendto(data, self.addr)
        except (BlockingIOError, InterruptedError):
            self.transport.sendto(data, self.addr)  # asyncio buffers it until writable
        except OSError as exc:
            log.debug("relay: sendto failed: %s", exc)


def _link(dtls) -> "_Link | None":
    if dtls._state is not DtlsState.CONNECTED:
        return None
    pair = dtls.transport._connection._nominated.get(1)
    return _Link(dtls, pair) if pair is not None else None


def _lean_protect(session):
    """pylibsrtp 1.0's Session.protect without its per-call allocations (~2 us less a packet)."""
    try:
        from pylibsrtp._binding import ffi, lib

        srtp, cdata, buffer = session._srtp[0], session._cdata, session._buffer
    except (ImportError, AttributeError):
        return session.protect
    length = ffi.new("int *")
    srtp_protect = lib.srtp_protect
    limit = len(buffer) - 16  # room for the authentication tag

    def protect(packet: bytes) -> bytes:
        size = len(packet)
        if size > limit:
            return session.protect(packet)  # raises the library's own error
        buffer[0:size] = packet
        length[0] = size
        if srtp_protect(srtp, cdata, length) != 0:
            return session.protect(packet)
        return buffer[0 : length[0]]

    return protect


def _send_rtcp_now(dtls, packet) -> None:
    link = _link(dtls)
    if link is not None:
        link.transport.sendto(link.session.protect_rtcp(packet if isinstance(packet, bytes) else bytes(packet)), link.addr)


# --- receiving: publisher -> relay ----------------------------------------------------


class _PassthroughReceiver(RTCRtpReceiver):
    """RTCRtpReceiver that hands packets to a `_Feed` instead of decoding them."""

    _feed: "_Feed"

    async def receive(self, parameters) -> None:
        # RTCRtpReceiver.receive() without the decoder thread.
        if self._RTCRtpReceiver__started:
            return
        codecs = self._RTCRtpReceiver__codecs
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        self.transport._register_rtp_receiver(self, parameters)
        self._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(self._run_rtcp())
        self._RTCRtpReceiver__started = True

    async def _handle_rtp_packet(self, packet, arrival_time_ms: int) -> None:
        # RTCRtpReceiver._handle_rtp_packet up to the jitter buffer, then the feed.
        if not self._enabled:
            return
        estimator = self._RTCRtpReceiver__remote_bitrate_estimator
        if estimator is not None and packet.extensions.abs_send_time is not None:
            remb = estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            rtcp_ssrc = self._RTCRtpReceiver__rtcp_ssrc
            if rtcp_ssrc is not None and remb is not None:
                await self._send_rtcp(
                    RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb))
                )
        codecs = self._RTCRtpReceiver__codecs
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        streams = self._RTCRtpReceiver__remote_streams
        stream = streams.get(packet.ssrc)
        if stream is None:
            stream = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        if is_rtx(codec):
            original_ssrc = self._RTCRtpReceiver__rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        nack = self._RTCRtpReceiver__nack_generator
        if nack is not None and nack.add(packet):
            await self._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
        self._feed.on_packet(packet)

    async def _run_rtcp(self) -> None:
        # The relay sends this receiver's reports with the peer's (see Relay._send_rtcp).
        self._RTCRtpReceiver__rtcp_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            self._RTCRtpReceiver__rtcp_exited.set()

    async def _handle_rtcp_packet(self, packet) -> None:
        # Only what the receiver reports need: when each sender report came.
        if isinstance(packet, RtcpSrPacket):
            self._sr_seen[packet.ssrc] = ((packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF, time.time())

    def _receiver_report(self) -> RtcpRrPacket | None:
        """RTCRtpReceiver._run_rtcp's receiver report, built on demand."""
        rtcp_ssrc = self._RTCRtpReceiver__rtcp_ssrc
        streams = self._RTCRtpReceiver__remote_streams
        if rtcp_ssrc is None or not streams:
            return None
        reports = []
        now = time.time()
        for ssrc, stream in streams.items():
            lsr, seen_at = self._sr_seen.get(ssrc, (0, None))
            delay = now - seen_at if seen_at is not None else 0
            reports.append(
                RtcpReceiverInfo(
                    ssrc=ssrc,
                    fraction_lost=stream.fraction_lost,
                    packets_lost=stream.packets_lost,
                    highest_sequence=stream.max_seq,
                    jitter=stream.jitter,
                    lsr=lsr,
                    dlsr=int(delay * 65536) if 0 < delay < 65536 else 0,
                )
            )
        return RtcpRrPacket(ssrc=rtcp_ssrc, reports=reports)

    def _stream_stats(self, ssrc: int | None):
        return self._RTCRtpReceiver__remote_streams.get(ssrc)

    def _send_pli_now(self, media_ssrc: int) -> None:
        rtcp_ssrc = self._RTCRtpReceiver__rtcp_ssrc
        if rtcp_ssrc is not None:
            _send_rtcp_now(self.transport, RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=rtcp_ssrc, media_ssrc=media_ssrc))


class _Feed:
    """A track a peer publishes (camera or mic) and the output slots that take it."""

    def __init__(self, relay: "Relay", peer: "_Peer", kind: str, receiver: _PassthroughReceiver):
        self.relay = relay
        self.peer = peer
        self.kind = kind
        self.receiver = receiver
        self.slots: list[_Slot] = []
        self.assembler = Vp8Assembler() if kind == "video" else None
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
            frames = assembler.push(packet.sequence_number, packet.timestamp, packet.marker, payload, time.monotonic())
            if assembler.broken:
                self.gop = []
                if not self.want_key:
                    self.request_keyframe()
            for frame in frames:
                if frame.key:
                    self.keyframes += 1
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


# --- sending: relay -> subscriber ---------------------------------------------------


class _ForwardingSender(RTCRtpSender):
    """RTCRtpSender whose frames are pushed by the relay (see `_Slot`)."""

    _slot: "_Slot"

    async def send(self, parameters) -> None:
        await super().send(parameters)
        self._slot.start(parameters)

    async def _run_rtp(self, codec) -> None:
        # Nothing to pull from a track: keep the task the stock stop() awaits.
        self._RTCRtpSender__rtp_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            self._slot.ready = False
            self._RTCRtpSender__rtp_exited.set()

    async def _run_rtcp(self) -> None:
        # The relay sends this sender's reports with the peer's (see Relay._send_rtcp).
        self._RTCRtpSender__rtcp_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            self._RTCRtpSender__rtcp_exited.set()

    async def _handle_rtcp_packet(self, packet) -> None:
        # RTCRtpSender._handle_rtcp_packet, without its stats objects.
        slot = self._slot
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self._ssrc:
                    slot.reported(report)
        elif isinstance(packet, RtcpRtpfbPacket):
            if packet.fmt == RTCP_RTPFB_NACK:
                for seq in packet.lost:
                    slot.retransmit(seq)
        elif isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                # a packet sender cannot make keyframes: ask the source
                slot.keyframe_requested()
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if self._ssrc in ssrcs:
                    slot.remb = bitrate


class _Slot:
    """One output of a subscriber (kind, index): forwards one source at a time."""

    def __init__(self, relay: "Relay", peer: "_Peer", kind: str, index: int, sender: _ForwardingSender):
        self.relay = relay
        self.peer = peer
        self.kind = kind
        self.index = index
        self.sender = sender
        self.route_id: str | None = None  # the source asked for
        self.current: _Feed | None = None  # the source being forwarded
        self.pending: _Feed | None = None  # the next source, taken at its keyframe
        self.ready = False
        self.link: _Link | None = None
        self.waiting_key = kind == "video"
        self.anchor = True  # re-anchor RTP timestamps on the next frame sent
        self.switches = 0
        self.fast_starts = 0
        # RTP state of the outgoing stream
        self.pt = 0
        self.rtx_pt: int | None = None
        self.ssrc = sender._ssrc
        self.rtx_ssrc = sender._rtx_ssrc
        self.seq = random.randint(0, 0x7FFF)
        self.rtx_seq = random.randint(0, 0x7FFF)
        self.picture_id = random.randint(0, 0x7FFF)
        self.ts_offset = 0
        self.last_ts = random.randint(0, 0xFFFFFFFF)
        self.last_time: float | None = None
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

    # setup

    def start(self, parameters) -> None:
        """The subscriber is connected and the sender negotiated: frames may flow."""
        self.pt = parameters.codecs[0].payloadType
        self.cname = (parameters.rtcp.cname or "").encode()
        for codec in parameters.codecs:
            if is_rtx(codec) and codec.parameters.get("apt") == self.pt:
                self.rtx_pt = codec.payloadType
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

    # routing

    def route(self, feed: "_Feed | None") -> None:
        """Forward `feed` from now (audio), or from its next keyframe (video)."""
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

    def _drop_pending(self) -> None:
        if self.pending is not None:
            self.pending.slots.remove(self)
            self.pending = None

    def _detach_current(self) -> None:
        if self.current is not None:
            self.current.slots.remove(self)
            self.current = None

    def source_gone(self, feed: "_Feed") -> None:
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
        for feed in (self.current, self.pending):
            if feed is not None and self.ready:
                feed.request_keyframe()

    # forwarding (hot path)

    def take(self, feed: "_Feed", frame: Frame, now: float, ntp: int, ast: bytes) -> None:
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
        catch_up = None
        if self.waiting_key:
            if not frame.key:
                gop = feed.gop
                if not gop or gop[-1] is not frame:
                    if not feed.want_key:
                        feed.request_keyframe()  # the cached frames ran out meanwhile
                    return
                catch_up = gop[:-1]  # fast start from the cached keyframe
            self.waiting_key = False
        if self.anchor:
            # Continue the outgoing timestamps from the last frame sent, plus the time since.
            self.anchor = False
            if self.last_time is None:
                self.ts_offset = (self.last_ts - frame.ts) & 0xFFFFFFFF
            else:
                ticks = max(1, int((now - self.last_time) * CLOCK[self.kind]))
                self.ts_offset = (self.last_ts + ticks - frame.ts) & 0xFFFFFFFF
        link = self.link
        if link is None or link.dtls._state is not DtlsState.CONNECTED:
            link = self.link = _link(self.sender.transport)
            if link is None:
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
                self._send(link.send, cached, (ts - (count - index) * FAST_START_STEP) & 0xFFFFFFFF, ntp, ast)
            self.fast_starts += 1
        self._send(link.send, frame, ts, ntp, ast)
        self.last_ts = ts
        self.last_time = now

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
            descriptor = _DESC.pack(0x90, 0x80, 0x8000 | pid)
            last = len(chunks) - 1
            seq = self.seq
            pt = self.pt
            first_byte = self.first_byte
            history = self.history
            for i, chunk in enumerate(chunks):
                packet = b"".join((_SEQ_HEAD.pack(first_byte, pt | 0x80 if i == last else pt, seq), head_tail, descriptor, chunk))
                history[seq & (HISTORY - 1)] = packet
                send(packet)
                seq = (seq + 1) & 0xFFFF
                if i == 0:
                    descriptor = _DESC.pack(0x80, 0x80, 0x8000 | pid)
            self.seq = seq
            count = last + 1
            octets = len(frame.data) + 4 * count
        else:
            level = frame.level
            if level is not None and self.level_pre is not None:
                ext = self.level_pre + bytes(((0x80 if level[0] else 0) | (level[1] & 0x7F),)) + self.level_post
            else:
                ext = self.ext_plain
            send(b"".join((_SEQ_HEAD.pack(self.first_byte, self.pt, self.seq), _TS_SSRC.pack(ts, self.ssrc), ext, frame.data)))
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

    def retransmit(self, seq: int) -> None:
        if not self.history:
            return
        packet = self.history[seq & (HISTORY - 1)]
        if packet is None or ((packet[2] << 8) | packet[3]) != seq:
            return
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
        link = _link(self.sender.transport)
        if link is not None:
            link.send(packet)


def _extension_block(body: bytes) -> bytes:
    if not body:
        return b""
    pad = -len(body) % 4
    return b"\xbe\xde" + _SEQ.pack((len(body) + pad) // 4) + body + b"\0" * pad


# --- peers and the relay ---------------------------------------------------------------


class _Peer:
    def __init__(self, peer_id: str, pc: RTCPeerConnection):
        self.id = peer_id
        self.pc = pc
        self.feeds: dict[str, _Feed] = {}
        self.slots: dict[str, list[_Slot]] = {"video": [], "audio": []}
        self.muted = False
        self.state = "new"
        self.connect_timer: asyncio.TimerHandle | None = None
        self.next_rtcp = 0.0
        # rates, updated by the relay's sampler
        self.kbps_in = 0.0
        self.kbps_out = 0.0
        self.loss_in = 0.0
        self._mark: tuple[float, int, int, int, int] | None = None

    def bytes_in(self) -> int:
        return sum(f.bytes_in for f in self.feeds.values())

    def bytes_out(self) -> int:
        return sum(s.octets for kind in KINDS for s in self.slots[kind])

    def expected_and_received(self) -> tuple[int, int]:
        expected = received = 0
        for feed in self.feeds.values():
            stream = feed.receiver._stream_stats(feed.media_ssrc)
            if stream is not None and stream.max_seq is not None:
                expected += stream.packets_expected
                received += stream.packets_received
        return expected, received


def _keep_codecs(kind: str, codecs: list) -> list:
    """VP8 (with its RTX) or Opus only: the subscriber leg must use the publisher's codec."""
    main = [c for c in codecs if c.mimeType.lower() == CODEC[kind]][:1]
    if not main:
        return []
    pt = main[0].payloadType
    return main + [c for c in codecs if is_rtx(c) and c.parameters.get("apt") == pt]


class Relay:
    """Forwards encoded frames between peers; pure asyncio, one per process.

    Peers offer (one sendrecv video + one sendrecv audio: their camera and mic,
    which come back as the program), plus any recvonly m-lines as extra output
    slots, numbered per kind in m-line order after slot 0.

    on_state(peer_id, state) is called with "connected", "failed" (ICE/DTLS
    failed, or not connected within connect_timeout: the peer is then closed
    and forgotten) and "closed" (by close_peer, or by the peer itself).
    max_peers: refuse more (bench/relay.py measures what one core carries).
    """

    def __init__(
        self,
        ice: IceConfig | None = None,
        on_state: Callable[[str, str], None] | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_peers: int | None = None,
    ):
        self.ice = ice or IceConfig()
        self.on_state = on_state
        self.connect_timeout = connect_timeout
        self.max_peers = max_peers
        self._peers: dict[str, _Peer] = {}
        self._program: tuple[str | None, list[str | None]] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._sampler: asyncio.Task | None = None
        self._closed = False

    # lifecycle

    async def open_peer(self, peer_id: str, offer_sdp: str) -> str:
        """Accept a peer's offer; return the answer SDP (all candidates included, no trickle)."""
        if self._closed:
            raise Conflict("media.relay_closed", "the relay is closed")
        if peer_id in self._peers:
            raise Conflict("media.peer_exists", f"peer {peer_id} is already open")
        if self.max_peers is not None and len(self._peers) >= self.max_peers:
            # past one core's worth of peers, latency grows without bound: refuse instead
            raise Conflict("media.relay_full", f"the relay has its {self.max_peers} peers")
        # One transport for every m-line: aiortc's default ("balanced") leaves a
        # second m-line of the same kind on a transport that BUNDLE then stops.
        pc = new_peer_connection(self.ice, max_bundle=True)
        peer = _Peer(peer_id, pc)
        self._peers[peer_id] = peer
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except (ValueError, AssertionError) as exc:
                raise DomainError("media.bad_offer", f"cannot parse the offer: {exc}") from exc
            if not pc.getTransceivers():
                raise DomainError("media.bad_offer", "the offer has no audio or video m-line")
            self._adopt_transceivers(peer)
            apply_ice_config(pc, self.ice)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            self._peers.pop(peer_id, None)
            await pc.close()
            raise
        if self._sampler is None:
            self._sampler = self._spawn(self._sample_rates())
            self._spawn(self._send_rtcp())
        pc.on("connectionstatechange", functools.partial(self._state_changed, peer))
        peer.connect_timer = asyncio.get_running_loop().call_later(self.connect_timeout, self._connect_timeout, peer)
        self._link_new_peer(peer)
        return pc.localDescription.sdp

    def _adopt_transceivers(self, peer: _Peer) -> None:
        for transceiver in peer.pc.getTransceivers():
            kind = transceiver.kind
            codecs = _keep_codecs(kind, transceiver._codecs)
            if not codecs:
                raise DomainError("media.codec_unsupported", f"the {kind} m-line offers no {CODEC[kind]}")
            transceiver._codecs = codecs
            offered = transceiver._offerDirection  # seen from our side
            receives = offered in ("sendrecv", "recvonly") and kind not in peer.feeds  # one track per kind
            sends = offered in ("sendrecv", "sendonly")
            transceiver.direction = {
                (True, True): "sendrecv",
                (True, False): "recvonly",
                (False, True): "sendonly",
                (False, False): "inactive",
            }[receives, sends]
            if receives:
                receiver = transceiver.receiver
                receiver.__class__ = _PassthroughReceiver
                receiver._sr_seen = {}
                peer.feeds[kind] = receiver._feed = _Feed(self, peer, kind, receiver)
            if sends:
                sender = transceiver.sender
                sender.__class__ = _ForwardingSender
                slots = peer.slots[kind]
                sender._slot = _Slot(self, peer, kind, len(slots), sender)
                slots.append(sender._slot)

    def _link_new_peer(self, peer: _Peer) -> None:
        # slots that asked for this peer before it came, then the program
        for other in self._peers.values():
            for kind in KINDS:
                for slot in other.slots[kind]:
                    if slot.route_id == peer.id and kind in peer.feeds:
                        slot.route(peer.feeds[kind])
        if self._program is not None:
            self._apply_program(peer)

    def _state_changed(self, peer: _Peer) -> None:
        if self._peers.get(peer.id) is not peer:
            return
        state = peer.pc.connectionState
        if state == peer.state:
            return
        peer.state = state
        if state == "connected":
            if peer.connect_timer is not None:
                peer.connect_timer.cancel()
                peer.connect_timer = None
            for slot in peer.slots["video"]:
                slot.restart()
            self._notify(peer.id, "connected")
        elif state == "failed":
            self._fail(peer)
        elif state == "closed":
            # the peer ended the DTLS session itself
            self._spawn(self._close(peer, notify=True))

    def _connect_timeout(self, peer: _Peer) -> None:
        peer.connect_timer = None
        if self._peers.get(peer.id) is peer and peer.state != "connected":
            self._fail(peer)

    def _fail(self, peer: _Peer) -> None:
        self._notify(peer.id, "failed")
        self._spawn(self._close(peer, notify=False))

    async def add_ice_candidate(self, peer_id: str, candidate: dict | None) -> None:
        """Add a browser's trickled candidate ({candidate, sdpMid, sdpMLineIndex}); None ends them.

        Optional: the relay answers with all its candidates, and learns the
        browser's address from its connectivity checks (peer-reflexive), so
        trickling only helps when the browser's checks cannot reach us first.
        """
        peer = self._peer(peer_id)
        if candidate is None or not candidate.get("candidate"):
            try:
                await peer.pc.addIceCandidate(None)
            except ValueError:
                pass  # end-of-candidates said twice
            return
        line = candidate["candidate"]
        try:
            parsed = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
        except (AssertionError, ValueError, IndexError) as exc:
            raise DomainError("media.bad_candidate", f"cannot parse the candidate: {exc}") from exc
        # every m-line is bundled on the first one's transport, whatever mid the browser names
        first = peer.pc.getTransceivers()[0]
        parsed.sdpMid, parsed.sdpMLineIndex = first.mid, 0
        try:
            await peer.pc.addIceCandidate(parsed)
        except ValueError as exc:
            raise DomainError("media.bad_candidate", str(exc)) from exc

    async def close_peer(self, peer_id: str) -> None:
        """Close a peer and forget it; slots that forwarded it go quiet."""
        await self._close(self._peer(peer_id), notify=True)

    async def _close(self, peer: _Peer, notify: bool) -> None:
        if self._peers.get(peer.id) is not peer:
            return
        del self._peers[peer.id]
        if peer.connect_timer is not None:
            peer.connect_timer.cancel()
        for kind in KINDS:
            for slot in peer.slots[kind]:
                slot._drop_pending()
                slot._detach_current()
        for feed in peer.feeds.values():
            feed.close()
        peer.state = "closed"
        # shielded: cancelling a waiter of aiortc's close() would cancel its shared future
        await asyncio.shield(peer.pc.close())
        if notify:
            self._notify(peer.id, "closed")

    async def close(self) -> None:
        """Close every peer and end every task the relay started."""
        self._closed = True
        for peer in list(self._peers.values()):
            await self._close(peer, notify=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # routing

    def set_route(self, peer_id: str, kind: str, slot: int, source_peer_id: str | None) -> None:
        """Make output `slot` of `kind` of a peer forward `source_peer_id` (None: nothing).

        Video switches at the new source's keyframe and keeps the old source
        until then; audio switches at once. A source that is not open yet is
        taken when it opens; the slot carries nothing meanwhile (a multiview
        tile must not show another room than it names).
        """
        target = self._slot(peer_id, kind, slot)
        if source_peer_id == peer_id:
            raise DomainError("media.self_route", "a peer cannot receive itself")
        target.route_id = source_peer_id
        target.route(self._feed(source_peer_id, kind))

    def set_program(self, video_source: str | None, audio_sources: list[str | None]) -> None:
        """Route video slot 0 and audio slots 0..n-1 of every peer, now and for peers to come.

        The program source itself keeps its previous picture on video slot 0
        (typically the chair: whom it speaks to), and hears nothing on an audio
        slot that would carry its own sound. A source that has not opened yet
        is taken when it opens; what played before plays on until then.
        """
        self._program = (video_source, list(audio_sources))
        for peer in self._peers.values():
            self._apply_program(peer)

    def _apply_program(self, peer: _Peer) -> None:
        video_source, audio_sources = self._program
        slots = peer.slots["video"]
        if slots and video_source != peer.id:
            self._follow_program(slots[0], video_source)
        for index, source in enumerate(audio_sources):
            if index < len(peer.slots["audio"]):
                self._follow_program(peer.slots["audio"][index], None if source == peer.id else source)

    def _follow_program(self, slot: _Slot, source_id: str | None) -> None:
        slot.route_id = source_id
        feed = self._feed(source_id, slot.kind)
        if feed is None and source_id is not None:
            # the source has not opened yet: the program plays on until it comes
            slot._drop_pending()
            return
        slot.route(feed)

    def set_muted(self, peer_id: str, muted: bool) -> None:
        """Stop (or resume) forwarding a peer's audio to everyone."""
        self._peer(peer_id).muted = muted

    def request_keyframe(self, peer_id: str) -> None:
        """Ask a publisher for a keyframe (coalesced like every other request)."""
        feed = self._peer(peer_id).feeds.get("video")
        if feed is not None:
            feed.request_keyframe()

    # stats

    def stats(self) -> dict[str, PeerStats]:
        return {peer_id: self._peer_stats(peer) for peer_id, peer in self._peers.items()}

    def _peer_stats(self, peer: _Peer) -> PeerStats:
        video = peer.feeds.get("video")
        slots = peer.slots["video"] + peer.slots["audio"]
        rtts = [s.rtt for s in slots if s.rtt is not None]
        rembs = [s.remb for s in peer.slots["video"] if s.remb is not None]
        return PeerStats(
            peer_id=peer.id,
            state=peer.state,
            connected=peer.state == "connected",
            bitrate_in_kbps=round(peer.kbps_in, 1),
            bitrate_out_kbps=round(peer.kbps_out, 1),
            packets_in=sum(f.packets_in for f in peer.feeds.values()),
            packets_out=sum(s.packets for s in slots),
            loss_in_pct=round(peer.loss_in * 100, 2),
            loss_out_pct=round(max((s.fraction_lost for s in slots), default=0.0) * 100, 2),
            rtt_ms=round(min(rtts) * 1000, 1) if rtts else None,
            last_keyframe_in=video.last_key_wall if video else None,
            keyframes_in=video.keyframes if video else 0,
            keyframe_requests_out=video.plis_sent if video else 0,
            frames_dropped_in=video.assembler.frames_dropped if video else 0,
            downlink_kbps=round(min(rembs) / 1000, 1) if rembs else None,
            muted=peer.muted,
        )

    async def _sample_rates(self, period: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for peer in list(self._peers.values()):
                bytes_in, bytes_out = peer.bytes_in(), peer.bytes_out()
                expected, received = peer.expected_and_received()
                if peer._mark is not None:
                    then, last_in, last_out, last_expected, last_received = peer._mark
                    elapsed = max(now - then, 1e-3)
                    peer.kbps_in = (bytes_in - last_in) * 8 / elapsed / 1000
                    peer.kbps_out = (bytes_out - last_out) * 8 / elapsed / 1000
                    interval = expected - last_expected
                    lost = interval - (received - last_received)
                    peer.loss_in = lost / interval if interval > 0 and lost > 0 else 0.0
                peer._mark = (now, bytes_in, bytes_out, expected, received)

    async def _send_rtcp(self, tick: float = 0.1) -> None:
        """Each connected peer's RTCP, every 0.5-1.5 s (RFC 3550 6.2): one compound
        packet with its slots' sender reports and its feeds' receiver reports, in one
        task for all peers instead of one task per sender and receiver."""
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for peer in list(self._peers.values()):
                if peer.state != "connected" or now < peer.next_rtcp:
                    continue
                peer.next_rtcp = now + 0.5 + random.random()
                packets, chunks = [], []
                for slot in peer.slots["video"] + peer.slots["audio"]:
                    if slot.ready and slot.packets:
                        packets.append(slot.sender_report())
                        chunks.append(RtcpSourceInfo(ssrc=slot.ssrc, items=[(1, slot.cname)]))
                for feed in peer.feeds.values():
                    report = feed.receiver._receiver_report()
                    if report is not None:
                        packets.append(report)
                if packets:
                    if chunks:
                        packets.append(RtcpSdesPacket(chunks=chunks))
                    _send_rtcp_now(peer.pc.getTransceivers()[0].receiver.transport, b"".join(map(bytes, packets)))

    # internals

    def _fan_out(self, feed: _Feed, frame: Frame) -> None:
        now = time.monotonic()
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0)
        ast = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        for slot in feed.slots:
            slot.take(feed, frame, now, ntp, ast)

    def _peer(self, peer_id: str) -> _Peer:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise NotFound("media.unknown_peer", f"no open peer {peer_id}")
        return peer

    def _slot(self, peer_id: str, kind: str, index: int) -> _Slot:
        slots = self._peer(peer_id).slots.get(kind)
        if slots is None or not 0 <= index < len(slots):
            raise DomainError("media.no_such_slot", f"peer {peer_id} has no {kind} slot {index}")
        return slots[index]

    def _feed(self, peer_id: str | None, kind: str) -> _Feed | None:
        peer = self._peers.get(peer_id) if peer_id is not None else None
        return peer.feeds.get(kind) if peer is not None else None

    def _notify(self, peer_id: str, state: str) -> None:
        if self.on_state is not None:
            try:
                self.on_state(peer_id, state)
            except Exception:
                log.exception("media relay: on_state(%s, %s) failed", peer_id, state)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


# --- hooks for the test and load peers (confserver/media/bot.py) --------------------


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` on every PLI/FIR that reaches this (publishing) sender."""
    original = sender._send_keyframe

    def hooked() -> None:
        callback()
        original()

    sender._send_keyframe = hooked


async def send_keyframe_request(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI from this receiver for the stream it receives; False if none yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    await receiver._send_rtcp_pli(sources[0].source)
    return True


class _WatchedQueue(queue.Queue):
    def __init__(self, callback: Callable[[int, bytes], None]):
        super().__init__()
        self._callback = callback

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            self._callback(item[1].timestamp, item[1].data)
        super().put(item, block, timeout)


def watch_encoded_frames(receiver: RTCRtpReceiver, callback: Callable[[int, bytes], None]) -> None:
    """Call callback(pts, encoded bytes) for each frame a stock receiver passes to its
    decoder (pts as the decoded frame will carry it); call before connecting."""
    receiver._RTCRtpReceiver__decoder_queue = _WatchedQueue(callback)


class _QuietReceiver(_PassthroughReceiver):
    """A receiver that neither decodes nor keeps anything (load peers read the socket)."""

    async def _handle_rtp_packet(self, packet, arrival_time_ms: int) -> None:
        return

    async def _handle_rtcp_packet(self, packet) -> None:
        return


class _IdleSender(RTCRtpSender):
    """A sender without a track that waits instead of polling for one every 20 ms."""

    async def _run_rtp(self, codec) -> None:
        self._RTCRtpSender__rtp_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        finally:
            self._RTCRtpSender__rtp_exited.set()


def quiet_peer(pc: RTCPeerConnection) -> None:
    """Stop the receivers of `pc` from decoding (no decoder threads), and its trackless
    senders from polling; call before connecting."""
    for transceiver in pc.getTransceivers():
        transceiver.receiver.__class__ = _QuietReceiver
        if transceiver.sender.track is None:
            transceiver.sender.__class__ = _IdleSender


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("=qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)


class RtpTap:
    """A connected peer's UDP socket read by us (see `tap_rtp`)."""

    def __init__(self, pc: RTCPeerConnection, on_rtp: Callable[[bytes, float], None], polled: bool):
        dtls = pc.getTransceivers()[0].receiver.transport
        self.unprotect: Callable[[bytes], bytes] = dtls._rx_srtp.unprotect
        self._protocol = dtls.transport._connection._nominated[1].protocol
        self._sock = self._protocol.transport._sock
        self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._on_rtp = on_rtp
        self._loop = asyncio.get_running_loop()
        self._fd = self._sock.fileno()
        # the asyncio transport keeps the socket; only its reader goes (selector internals)
        self._loop._remove_reader(self._fd)
        if not polled:
            self._loop._add_reader(self._fd, self.drain)

    def drain(self) -> None:
        """Read every datagram waiting on the socket."""
        if self._protocol.transport.is_closing():
            return
        recvmsg, on_rtp, unpack = self._sock.recvmsg, self._on_rtp, _TIMESPEC.unpack
        while True:
            try:
                data, ancillary, _flags, addr = recvmsg(2048, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if data and 127 < data[0] < 192 and not 191 < data[1] < 224:
                arrival = None
                for level, kind, value in ancillary:
                    if kind == _SO_TIMESTAMPNS and level == socket.SOL_SOCKET:
                        seconds, nanoseconds = unpack(value)
                        arrival = seconds + nanoseconds * 1e-9
                on_rtp(data, arrival if arrival is not None else time.time())
            else:
                self._protocol.datagram_received(data, addr)


def tap_rtp(pc: RTCPeerConnection, on_rtp: Callable[[bytes, float], None], *, polled: bool = False) -> RtpTap:
    """Read a connected peer's UDP socket ourselves: SRTP packets go to on_rtp(packet,
    kernel arrival time as time.time()) still encrypted (the RTP header is in clear);
    STUN, DTLS and SRTCP go on to aiortc. `polled`: nothing reads until the caller
    calls drain() (many load peers then cost one wake-up per tick, not per packet).
    """
    return RtpTap(pc, on_rtp, polled)

"""The one module of the relay that touches aiortc, aioice and pylibsrtp internals: those of
aiortc 1.16.0, aioice 0.13.0 and pylibsrtp 1.0 (pinned). Each use:

* `PassthroughReceiver` (swapped in with `__class__` on the receivers that
  RTCPeerConnection creates from the offer, before anything starts): the stock
  receiver always decodes; this one keeps its receive bookkeeping (statistics,
  NACK, REMB, RTX) and hands each packet to the relay instead of the jitter
  buffer and decoder thread, which never starts; it also enters its RTX SSRCs in the
  transport's RTP router (aiortc routes retransmissions by payload type, which two video
  m-lines on one transport share).
* `ForwardingSender` (swapped in the same way): its RTP loop idles; the relay
  writes RTP headers itself, protects them with the DTLS transport's SRTP
  session and sends them on the nominated ICE pair's socket in one synchronous
  call (`Link`), keeps its own retransmission history, and passes keyframe
  requests upstream; every RTCP packet a subscriber sends about it (REMB, receiver
  reports, NACK) is also noted in its `feedback` (media/feedback.py: a tier loop's inputs); the
  receiver report on a publisher's audio carries the loss its rooms report (`echoed_loss`).
* RTCP: both classes' per-object RTCP tasks idle, and one relay task sends each
  peer's sender and receiver reports as one compound packet (`send_rtcp_now`).
* `adopt_transceivers` keeps VP8/Opus only and sets each m-line's direction
  (the transceivers' private codec list and offered direction), and puts Opus FEC, DTX and
  an average bitrate in the answer's fmtp (`opus_parameters`), and the `red` a browser offers
  after Opus (`_offered_red`, read from the pending remote description); `take_receiver`
  and `take_sender` make the swaps above on transceivers we create ourselves
  (the child end of a relay-to-relay link, media/links.py).
* `Link.send_frame` sends a video frame's packets to one room in one `sendmsg` with UDP GSO (`UDP_SEGMENT`:
  the kernel cuts the buffer into the packets; ~half the send cost of one `sendto` each), on the nominated
  pair's socket as `Link.send` does; it falls back to one `sendto` a packet where the kernel refuses it.
* `_gather_candidates` replaces aioice's candidate gathering per connection:
  chosen host addresses (loopback included), a port range, a 1:1 NAT address,
  4 MB socket buffers.

The test and load peers' hooks into aiortc are in `taps.py`.
"""

import asyncio
import errno
import functools
import logging
import random
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aioice import ice as aioice_ice
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
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
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from confserver.errors import DomainError

from . import red
from .config import IceConfig
from .feedback import SenderFeedback, echoed_loss

if TYPE_CHECKING:
    from .peerslot import PeerSlot
    from .routing import Feed

log = logging.getLogger("confserver.media.relay")
CONNECTED = DtlsState.CONNECTED  # a DTLS transport's `_state` once it can carry SRTP

SOCKET_BUFFER = 4 * 1024 * 1024  # avoids kernel drops under load
CODEC = {"video": "video/vp8", "audio": "audio/opus"}
CLOCK = {"video": 90000, "audio": 48000}
# Speech in a meeting room: 32 kbps is transparent for one voice (and Chromium's own mono default), so this
# is a ceiling (stereo, music) that a weak link's tier may lower later; MEDIA_OPUS_MAXAVGBITRATE sets it.
OPUS_MAX_AVERAGE_BITRATE = 32000


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


# UDP generic segmentation offload (Linux 4.18+): one sendmsg carries a frame's packets, cut by the kernel
SOL_UDP = getattr(socket, "SOL_UDP", 17)
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)
GSO_MAX_SEGMENTS = 64  # the kernel's UDP_MAX_SEGMENTS (64 before 6.x)
GSO_MAX_BYTES = 65000  # one UDP datagram's payload before segmentation
_gso = {"on": sys.platform.startswith("linux")}  # off for the process once the kernel refuses it


class Link:
    """Sends SRTP on a connected DTLS transport now, in one synchronous call per packet:
    protect with its SRTP session, then sendto on the nominated ICE pair's socket."""

    __slots__ = ("dtls", "session", "protect", "sock", "transport", "addr", "gso_sends")

    def __init__(self, dtls, pair):
        self.dtls = dtls
        self.session = dtls._tx_srtp
        self.protect = _lean_protect(self.session)
        self.transport = pair.protocol.transport
        self.sock = self.transport._sock
        self.addr = pair.remote_addr
        self.gso_sends = 0

    def send(self, packet: bytes) -> None:
        self._put(self.protect(packet))

    def _put(self, data: bytes) -> None:
        if self.transport._buffer_size:  # get_write_buffer_size(), without the call: once a packet a room
            self.transport.sendto(data, self.addr)  # keep order behind what asyncio holds
            return
        try:
            self.sock.sendto(data, self.addr)
        except (BlockingIOError, InterruptedError):
            self.transport.sendto(data, self.addr)  # asyncio buffers it until writable
        except OSError as exc:
            log.debug("relay: sendto failed: %s", exc)

    def send_frame(self, packets: list[bytes]) -> None:
        """A frame's packets, in order: protected, then one `sendmsg` with UDP_SEGMENT of the first one's size
        (`frames.split` makes every chunk but the last the same size; a smaller last one is allowed). One
        `send` a packet where that does not hold, while asyncio holds earlier packets, or once refused."""
        if len(packets) < 2 or not _gso["on"] or self.transport._buffer_size:
            for packet in packets:
                self.send(packet)
            return
        protect = self.protect
        sealed = [protect(packet) for packet in packets]
        size = len(sealed[0])
        if any(len(data) != size for data in sealed[1:-1]) or len(sealed[-1]) > size:
            self._send_sealed(sealed)
            return
        step = min(GSO_MAX_SEGMENTS, GSO_MAX_BYTES // size)
        control = [(SOL_UDP, UDP_SEGMENT, size.to_bytes(2, sys.byteorder))]
        for first in range(0, len(sealed), step):
            group = sealed[first : first + step]
            try:
                self.sock.sendmsg([b"".join(group)], control, 0, self.addr)
                self.gso_sends += 1
            except (BlockingIOError, InterruptedError):
                self._send_sealed(sealed[first:])  # asyncio buffers them until writable, in order
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP):
                    _gso["on"] = False  # a kernel or interface without it: one sendto a packet from now on
                    log.info("relay: UDP GSO refused (%s), sending one packet at a time", exc)
                    self._send_sealed(sealed[first:])
                else:
                    log.debug("relay: sendmsg failed: %s", exc)
                return

    def _send_sealed(self, sealed: list[bytes]) -> None:
        for data in sealed:
            self._put(data)


def link_of(dtls) -> "Link | None":
    """A link on `dtls` (a sender's or receiver's transport), or None while it is not connected."""
    if dtls._state is not CONNECTED:
        return None
    pair = dtls.transport._connection._nominated.get(1)
    return Link(dtls, pair) if pair is not None else None


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


def send_rtcp_now(dtls, packet) -> None:
    link = link_of(dtls)
    if link is not None:
        link.transport.sendto(
            link.session.protect_rtcp(packet if isinstance(packet, bytes) else bytes(packet)), link.addr
        )


# --- receiving: publisher -> relay ----------------------------------------------------


class PassthroughReceiver(RTCRtpReceiver):
    """RTCRtpReceiver that hands packets to a `routing.Feed` instead of decoding them."""

    _feed: "Feed"  # routing.Feed
    _red: tuple[int, int] | None = None  # (RED's payload type, Opus's) when the peer may send RED

    async def receive(self, parameters) -> None:
        # RTCRtpReceiver.receive() without the decoder thread.
        if self._RTCRtpReceiver__started:
            return
        codecs = self._RTCRtpReceiver__codecs
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
        # a sender may use any negotiated payload type: RED from a publisher goes on as its primary Opus
        red_pts = [c.payloadType for c in parameters.codecs if c.mimeType.lower() == red.MIME]
        self._red = (red_pts[0], parameters.codecs[0].payloadType) if red_pts else None
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        self.transport._register_rtp_receiver(self, parameters)
        # aiortc's router knows only the primary SSRCs and falls back on the payload type, which
        # names every video m-line of a bundle: with two (a link's down tracks) retransmissions
        # were dropped. Route them by their own SSRC.
        router = self.transport._rtp_router
        for encoding in parameters.encodings:
            if encoding.rtx:
                router.ssrc_table[encoding.rtx.ssrc] = self
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
        elif self._red is not None and packet.payload_type == self._red[0]:
            packet.payload, packet.payload_type = red.primary(packet.payload)[0], self._red[1]
            if not packet.payload:
                return  # a RED packet cut short
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
        media_ssrc = getattr(self._feed, "media_ssrc", None)
        echo = echoed_loss(self._feed) if media_ssrc in streams else 0  # the rooms' loss (feedback.py)
        for ssrc, stream in streams.items():
            lsr, seen_at = self._sr_seen.get(ssrc, (0, None))
            delay = now - seen_at if seen_at is not None else 0
            reports.append(
                RtcpReceiverInfo(
                    ssrc=ssrc,
                    fraction_lost=max(stream.fraction_lost, echo) if ssrc == media_ssrc else stream.fraction_lost,
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
            send_rtcp_now(self.transport, RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=rtcp_ssrc, media_ssrc=media_ssrc))


# --- sending: relay -> subscriber ---------------------------------------------------


class ForwardingSender(RTCRtpSender):
    """RTCRtpSender whose frames are pushed by the relay (see `peerslot.PeerSlot`)."""

    _slot: "PeerSlot"  # peerslot.PeerSlot
    feedback: SenderFeedback  # what the subscriber reports about this stream

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def rtx_ssrc(self) -> int:
        return self._rtx_ssrc

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
                    self.feedback.report(report.fraction_lost, report.jitter)
        elif isinstance(packet, RtcpRtpfbPacket):
            if packet.fmt == RTCP_RTPFB_NACK:
                self.feedback.asked(slot.fresh(packet.lost))
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
                    self.feedback.remb(bitrate)


# --- taking over the transceivers of an offer ----------------------------------------


def _keep_codecs(kind: str, codecs: list) -> list:
    """VP8 (with its RTX) or Opus only: the subscriber leg must use the publisher's codec."""
    main = [c for c in codecs if c.mimeType.lower() == CODEC[kind]][:1]
    if not main:
        return []
    pt = main[0].payloadType
    return main + [c for c in codecs if is_rtx(c) and c.parameters.get("apt") == pt]


def adopt_transceivers(
    pc: RTCPeerConnection,
    new_feed: Callable[[str, "PassthroughReceiver"], object],
    new_slot: Callable[[str, "ForwardingSender"], object],
    new_low_feed: Callable[["PassthroughReceiver"], object] | None = None,
    low_both_ways: bool = False,
) -> None:
    """Take over the transceivers setRemoteDescription made from an offer: the first m-line of
    each kind the peer sends on becomes a feed (`new_feed(kind, receiver)`), every m-line it
    receives on an output slot (`new_slot(kind, sender)`); call before createAnswer. With
    `new_low_feed`, a second video m-line the peer only sends on is its low layer (media/lowlayer.py); with
    `low_both_ways` (a child relay's link, media/links.py) also one it sends and receives on: the low layer of a
    source below climbs on it while the program's comes down."""
    received: set[str] = set()
    main_video: RTCRtpReceiver | None = None
    for transceiver in pc.getTransceivers():
        kind = transceiver.kind
        codecs = _keep_codecs(kind, transceiver._codecs)
        if not codecs:
            raise DomainError("media.codec_unsupported", f"the {kind} m-line offers no {CODEC[kind]}")
        if kind == "audio":
            codecs[0].parameters.update(opus_parameters())
            codecs += _offered_red(pc, transceiver.mid, codecs[0].payloadType)
        transceiver._codecs = codecs
        offered = transceiver._offerDirection  # seen from our side
        receives = offered in ("sendrecv", "recvonly") and kind not in received  # one track per kind
        sends = offered in ("sendrecv", "sendonly")
        low_feed = None
        if (
            new_low_feed is not None
            and kind == "video"
            and "video" in received
            and (offered == "recvonly" or (offered == "sendrecv" and low_both_ways))
        ):
            receives, low_feed, new_low_feed = True, new_low_feed, None  # one low layer
        transceiver.direction = {
            (True, True): "sendrecv",
            (True, False): "recvonly",
            (False, True): "sendonly",
            (False, False): "inactive",
        }[receives, sends]
        if low_feed is not None:
            take_receiver(transceiver.receiver, low_feed)
            if main_video is not None:
                share_bandwidth_estimate(main_video, transceiver.receiver)
        elif receives:
            received.add(kind)
            take_receiver(transceiver.receiver, functools.partial(new_feed, kind))
            if kind == "video":
                main_video = transceiver.receiver
        if sends:
            take_sender(transceiver.sender, functools.partial(new_slot, kind))


def _offered_red(pc: RTCPeerConnection, mid: str | None, opus_pt: int) -> list:
    """The `red/48000/2` the peer offers on the m-line `mid` with our Opus as its blocks (aiortc drops it from its
    answers): kept after Opus, a browser sends Opus and may be sent RED (media/red.py)."""
    offer = pc._RTCPeerConnection__pendingRemoteDescription  # the parsed offer, until the answer is set
    for media in offer.media if offer is not None else ():
        if media.kind != "audio" or media.rtp.muxId != mid:
            continue
        for codec in media.rtp.codecs:
            blocks = list(codec.parameters)
            if (
                codec.mimeType.lower() == "audio/red"
                and codec.clockRate == 48000
                and len(blocks) == 1
                and set(str(blocks[0]).split("/")) == {str(opus_pt)}
            ):
                return [codec]
    return []


def opus_parameters() -> dict:
    """The Opus fmtp of the relay's answers (RFC 7587 7.1): what a publisher's encoder should send us.
    The relay forwards Opus untouched, so this sets the browser's encoder: in-band FEC (a low-rate copy
    of the previous frame, which the receiving rooms' decoders use on loss), DTX (no packets in silence,
    a 400 ms keep-alive instead: a meeting room is silent most of the time) and an average bitrate."""
    return {
        "minptime": 10,
        "useinbandfec": 1,
        "usedtx": 1,
        "maxaveragebitrate": _setting("MEDIA_OPUS_MAXAVGBITRATE", OPUS_MAX_AVERAGE_BITRATE),
    }


def _setting(name: str, default):
    from django.conf import settings

    return getattr(settings, name, default) if settings.configured else default


def take_receiver(receiver: RTCRtpReceiver, new_feed: Callable[["PassthroughReceiver"], object]) -> object:
    """Make `receiver` hand its packets to the feed `new_feed(receiver)` returns; before it starts."""
    receiver.__class__ = PassthroughReceiver
    receiver._sr_seen = {}
    receiver._feed = new_feed(receiver)
    return receiver._feed


def share_bandwidth_estimate(main: RTCRtpReceiver, other: RTCRtpReceiver) -> None:
    """`other` (a publisher's low layer) feeds `main`'s receive-side estimator instead of one of its own: one REMB
    for the peer's whole bundle. Each aiortc video receiver estimates and sends REMB from its own packets alone, and a
    browser takes any REMB as the estimate for everything it sends: the low layer's (~100 kbps, from its ~65-150
    kbps) held Chromium's camera stream at its start size (tests/e2e/test_lowlayer_browser.py, idle machine)."""
    other._RTCRtpReceiver__remote_bitrate_estimator = main._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]


def take_sender(sender: RTCRtpSender, new_slot: Callable[["ForwardingSender"], object]) -> object:
    """Make `sender` send what the slot `new_slot(sender)` returns forwards; before it starts."""
    sender.__class__ = ForwardingSender
    sender.feedback = SenderFeedback(CLOCK[sender.kind])
    sender._slot = new_slot(sender)
    return sender._slot


def offer_relay_codecs(transceiver) -> None:
    """Offer only what the relay forwards (VP8 with its RTX, or Opus) on a transceiver we create:
    the child end of a relay-to-relay link (media/links.py) offers like a room would."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    main = [c for c in codecs if c.mimeType.lower() == CODEC[transceiver.kind]]
    rtx = [c for c in codecs if c.mimeType.lower().endswith("/rtx")]
    transceiver.setCodecPreferences(main + rtx)

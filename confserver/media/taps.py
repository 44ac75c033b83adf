"""Hooks into aiortc for the test and load peers (confserver/media/bot.py, bench/): they reach
into senders, receivers and the asyncio selector (aiortc 1.16.0). The relay never uses them.
"""

import asyncio
import queue
import socket
import struct
import time
from collections.abc import Callable

from aiortc import RTCPeerConnection
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

from .transport import PassthroughReceiver


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


def rtp_timestamp(receiver: RTCRtpReceiver, pts: int) -> int:
    """The RTP timestamp of the frame a stock receiver gave its decoder as `pts` (it counts from its first frame)."""
    origin = receiver._RTCRtpReceiver__timestamp_mapper._origin
    return (pts + (origin or 0)) & 0xFFFFFFFF


class _QuietReceiver(PassthroughReceiver):
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

    def __init__(
        self, pc: RTCPeerConnection, on_rtp: Callable[[bytes, float], None], polled: bool, forward: bool = False
    ):
        self.forward = forward
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
                if self.forward:  # seen, and still aiortc's (a peer that decodes)
                    self._protocol.datagram_received(data, addr)
            else:
                self._protocol.datagram_received(data, addr)


def tap_rtp(
    pc: RTCPeerConnection, on_rtp: Callable[[bytes, float], None], *, polled: bool = False, forward: bool = False
) -> RtpTap:
    """Read a connected peer's UDP socket ourselves: SRTP packets go to on_rtp(packet,
    kernel arrival time as time.time()) still encrypted (the RTP header is in clear);
    STUN, DTLS and SRTCP go on to aiortc. `polled`: nothing reads until the caller
    calls drain() (many load peers then cost one wake-up per tick, not per packet).
    `forward`: SRTP goes on to aiortc too, after on_rtp (a decoding peer timed at the kernel).
    """
    return RtpTap(pc, on_rtp, polled, forward)

"""What a room is sent, on real sockets (media/peerslot.py, transport.py). A video frame's packets to one room go
in one system call (`Link.send_frame`, UDP GSO): the room receives the same datagrams, in order, as from one
`sendto` each; sizes the kernel cannot cut that way, and a socket on which the kernel refuses segmentation, fall
back to one `sendto` a packet. A paced room's numbering; the sound's header extensions."""

import asyncio
import socket
from types import SimpleNamespace

import pytest
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from confserver.media import transport
from confserver.media.frames import Frame, split
from confserver.media.pacing import Pacer
from confserver.media.peerslot import AUDIO_LEVEL_URI, MID_URI, PeerSlot
from confserver.media.transport import Link


class Plain(asyncio.DatagramProtocol):
    pass


@pytest.fixture
async def pair():
    """A Link's sending half on an asyncio datagram transport (as aioice's), and a plain socket receiving."""
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    sending, _ = await loop.create_datagram_endpoint(Plain, local_addr=("127.0.0.1", 0))
    link = Link.__new__(Link)
    link.protect = lambda packet: packet + b"-tag-of-16-bytes"  # as SRTP: the header kept, a tag after
    link.transport = sending
    link.sock = sending._sock  # as Link.__init__ takes it from aioice's transport
    link.addr = receiver.getsockname()
    link.gso_sends = 0
    yield link, receiver
    sending.close()
    receiver.close()
    transport._gso["on"] = True


def received(receiver: socket.socket, count: int) -> list[bytes]:
    return [receiver.recv(65536) for _ in range(count)]


async def drained(pacer: Pacer) -> None:
    while pacer.queue:
        await asyncio.sleep(0.01)


def frame_packets(size: int, chunk: int = 1100) -> list[bytes]:
    data = bytes(range(256)) * (size // 256 + 1)
    return [
        bytes((0x80, 96)) + seq.to_bytes(2, "big") + bytes(8) + part
        for seq, part in enumerate(split(data[:size], chunk))
    ]


async def test_a_frame_goes_in_one_call_and_arrives_as_its_packets(pair):
    link, receiver = pair
    packets = frame_packets(5_000)  # 5 chunks: 4 of one size, a shorter last one
    assert len({len(p) for p in packets[:-1]}) == 1 and len(packets[-1]) <= len(packets[0])
    link.send_frame(packets)
    assert received(receiver, len(packets)) == [link.protect(p) for p in packets]
    assert link.gso_sends == 1


async def test_a_keyframe_over_64_packets_goes_in_groups(pair):
    link, receiver = pair
    packets = frame_packets(100 * 600, chunk=600)  # 100 packets of 612 bytes
    link.send_frame(packets)
    assert received(receiver, 100) == [link.protect(p) for p in packets]
    assert link.gso_sends == 2  # at most 64 segments a call


async def test_unequal_sizes_go_one_at_a_time(pair):
    link, receiver = pair
    packets = frame_packets(3_000)
    packets[0] += b"longer"  # a first packet larger than the others: not cut by one segment size
    link.send_frame(packets)
    assert received(receiver, len(packets)) == [link.protect(p) for p in packets]
    assert link.gso_sends == 0


async def test_a_socket_refusing_segmentation_falls_back_and_loses_nothing(pair):
    link, receiver = pair
    # a socket sending without UDP checksums: the kernel refuses GSO on it (EINVAL)
    link.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_NO_CHECK", 11), 1)
    packets = frame_packets(4_000)
    link.send_frame(packets)
    assert received(receiver, len(packets)) == [link.protect(p) for p in packets]
    assert link.gso_sends == 0 and transport._gso["on"] is False
    link.send_frame(packets)  # and from then on one sendto a packet
    assert received(receiver, len(packets)) == [link.protect(p) for p in packets]


async def test_a_paced_room_gets_what_the_pacer_allows_at_once_and_the_rest_later_numbered_in_order(pair):
    """PeerSlot._send with the room's pacer: the packets the bucket admits now are numbered and go in one call, the
    rest of the frame waits in the pacer and is numbered as it leaves, so the room sees one run of sequence numbers,
    the frame's marker on its last packet only."""
    link, receiver = pair
    pacer = Pacer()
    pacer.set_rate(100_000)  # 12.5 KB/s, 1.2 KB at once: two packets of the frame now, three later
    peer = SimpleNamespace(link=False, tiering=SimpleNamespace(pacer=pacer))
    slot = PeerSlot(None, peer, "video", 0, SimpleNamespace(ssrc=1234, rtx_ssrc=None, transport=None))
    slot.pt, slot.ready, slot.link, slot.pacer = 96, True, link, pacer
    data = bytes(range(256)) * 20  # 5,120 bytes: 5 chunks
    slot._send(link.send, Frame(90_000, data, True), 90_000, 0, b"\0\0\0")
    first = received(receiver, 2)
    assert link.gso_sends == 1 and len(pacer.queue) == 3
    await asyncio.wait_for(drained(pacer), 3)  # 3.4 KB at 12.5 KB/s: ~0.3 s
    rest = received(receiver, 3)
    packets = [p[:-16] for p in first + rest]
    seqs = [int.from_bytes(p[2:4], "big") for p in first + rest]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(5)]
    assert [p[1] & 0x80 for p in packets] == [0, 0, 0, 0, 0x80]
    pacer.close()


async def test_audio_goes_with_its_mid_and_the_publishers_level(pair):
    """The sound's RTP as a room parses it: MID and the publisher's voice activity and level (RFC 6464), or the MID
    alone when the publisher sent no level."""
    link, receiver = pair
    slot = PeerSlot(
        None, SimpleNamespace(link=False), "audio", 0, SimpleNamespace(ssrc=77, rtx_ssrc=None, transport=None)
    )
    extensions = [
        RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
        RTCRtpHeaderExtensionParameters(id=3, uri=AUDIO_LEVEL_URI),
    ]
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
    slot.start(RTCRtpParameters(codecs=[opus], headerExtensions=extensions, muxId="1"))
    slot.link = link
    ids = HeaderExtensionsMap()
    ids.configure(RTCRtpParameters(headerExtensions=extensions))
    slot._send(link.send, Frame(4800, b"opus-one", True, (True, 30)), 4800, 0, b"")
    slot._send(link.send, Frame(5760, b"opus-two", True), 5760, 0, b"")
    one, two = (RtpPacket.parse(p[:-16], ids) for p in received(receiver, 2))
    assert (one.payload_type, one.ssrc, one.timestamp, one.payload) == (111, 77, 4800, b"opus-one")
    assert one.extensions.mid == "1" and one.extensions.audio_level == (True, 30)
    assert two.extensions.mid == "1" and two.extensions.audio_level is None and two.payload == b"opus-two"
    assert two.sequence_number == (one.sequence_number + 1) & 0xFFFF

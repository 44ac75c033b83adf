"""Where one room-send of the relay's fan-out spends its CPU (issue 11: is a native send loop worth it?).

150 audio and 150 video `PeerSlot`s (media/peerslot.py) with real `Link`s: asyncio datagram sockets as aioice's,
pylibsrtp sessions protecting as the relay's do (`transport._lean_protect`), sending on loopback to 300 sockets a
second process drains. Each round hands an Opus packet to the 150 audio slots through `Slot.take` (the path
`Relay._fan_out` takes), and every third round a two-packet VP8 frame to the 150 video slots (one GSO call each).
Three variants, alternated so that the machine's drift falls on all of them alike: as in the relay; with the
socket's send made a no-op; with SRTP a no-op too. Their differences are the kernel's send (on loopback it also
runs the receiving socket's side, which a network card would take off the relay), SRTP, and what is left: our
Python. CPU is the process's (time.process_time), best of --reps rounds of each variant.

    .venv/bin/python bench/send_cost.py [--rooms 150] [--rounds 1500] [--reps 5]

Last line: one JSON object, microseconds per room-send: `us_per_room_send`, `sendto_us`, `srtp_us`, `python_us`.
Loopback only; stops by itself (about 30 s).
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import select
import socket
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiortc.rtcrtpparameters import (  # noqa: E402
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from pylibsrtp import Policy, Session  # noqa: E402

from confserver.media import transport  # noqa: E402
from confserver.media.frames import Frame  # noqa: E402
from confserver.media.peerslot import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, PeerSlot  # noqa: E402
from confserver.media.transport import CONNECTED, Link  # noqa: E402

EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
    RTCRtpHeaderExtensionParameters(id=2, uri=ABS_SEND_TIME_URI),
    RTCRtpHeaderExtensionParameters(id=3, uri=AUDIO_LEVEL_URI),
]
CODECS = {
    "audio": RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111),
    "video": RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
}
OPUS = bytes(90)
VP8 = bytes([0x31]) + bytes(1999)  # an interframe's first byte; two packets after frames.split


def drain(ports, count: int) -> None:
    """The receiving side: `count` sockets read as fast as datagrams come (in a process of its own)."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    ports.put([s.getsockname()[1] for s in socks])
    poll = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poll.register(fd, select.EPOLLIN)
    while True:
        for fd, _ in poll.poll():
            try:
                while True:
                    by_fd[fd].recv(2048)
            except BlockingIOError:
                pass


class _Quiet(asyncio.DatagramProtocol):
    pass


async def slots_on_sockets(rooms: int, ports: list[int]) -> dict:
    loop = asyncio.get_running_loop()
    feeds = {kind: SimpleNamespace(main=None, gop=[], want_key=False, kind=kind) for kind in CODECS}
    out: dict = {kind: [] for kind in CODECS}
    links = []
    for n, port in enumerate(ports):
        kind = "audio" if n < rooms else "video"
        sending, _ = await loop.create_datagram_endpoint(_Quiet, local_addr=("127.0.0.1", 0))
        link = Link.__new__(Link)  # what link_of makes from a connected DTLS transport, on our own socket
        link.dtls = SimpleNamespace(_state=CONNECTED)
        link.session = Session(Policy(key=bytes(range(30)), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        link.protect = transport._lean_protect(link.session)
        link.transport, link.sock, link.addr, link.gso_sends = sending, sending._sock, ("127.0.0.1", port), 0
        slot = PeerSlot(
            None, SimpleNamespace(link=False), kind, 0, SimpleNamespace(ssrc=1000 + n, rtx_ssrc=None, transport=None)
        )
        slot.start(RTCRtpParameters(codecs=[CODECS[kind]], headerExtensions=EXTENSIONS, muxId="1"))
        slot.link, slot.current, slot.waiting_key = link, feeds[kind], False
        out[kind].append(slot)
        links.append((link, link.sock, link.protect))
    return {"feeds": feeds, "slots": out, "links": links}


def variant(links, name: str) -> None:
    def nothing(*args):
        return None

    for link, sock, protect in links:
        link.sock = sock if name == "full" else SimpleNamespace(sendto=nothing, sendmsg=nothing)
        link.protect = (lambda packet: packet) if name == "python" else protect


async def one_pass(setup: dict, rounds: int) -> float:
    """CPU microseconds per room-send over `rounds` audio packets (and a video frame every third round)."""
    feeds, slots = setup["feeds"], setup["slots"]
    sends = 0
    started = time.process_time()
    for n in range(rounds):
        now = time.monotonic()
        packet = Frame(n * 960, OPUS, True, (True, 40))
        for slot in slots["audio"]:
            slot.take(feeds["audio"], packet, now, 0, b"\0\0\0")
        sends += len(slots["audio"])
        if n % 3 == 0:
            frame = Frame(n * 1800, VP8, False)
            for slot in slots["video"]:
                slot.take(feeds["video"], frame, now, 0, b"\0\0\0")
            sends += len(slots["video"])
        if n % 50 == 0:
            await asyncio.sleep(0)  # let asyncio write what it buffered
    return (time.process_time() - started) / sends * 1e6


async def main(args) -> dict:
    ports: multiprocessing.Queue = multiprocessing.Queue()
    sink = multiprocessing.Process(target=drain, args=(ports, 2 * args.rooms), daemon=True)
    sink.start()
    try:
        setup = await slots_on_sockets(args.rooms, ports.get(timeout=30))
        best = {"full": float("inf"), "nosend": float("inf"), "python": float("inf")}
        for rep in range(args.reps):
            for name in best:
                variant(setup["links"], name)
                best[name] = min(best[name], await one_pass(setup, args.rounds))
            print(f"rep {rep}: " + ", ".join(f"{k} {v:.2f}" for k, v in best.items()), file=sys.stderr)
    finally:
        sink.kill()
    return {
        "rooms": args.rooms,
        "us_per_room_send": round(best["full"], 2),
        "sendto_us": round(best["full"] - best["nosend"], 2),
        "srtp_us": round(best["nosend"] - best["python"], 2),
        "python_us": round(best["python"], 2),
        "loadavg": os.getloadavg()[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))

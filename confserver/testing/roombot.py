"""A room on a weak link, run in its own process inside a room's network namespace (testing/netns.py):

    ip netns exec NS python -m confserver.testing.roombot --host 10.x.y.2

It receives the program like a room (aiortc, decoding its video, sending receiver reports, NACKs and
REMB like a browser) and publishes nothing. A loss and delay shim sits on its receive path (the kernel
here has no `netem`): bursty loss (a two-state Gilbert-Elliott chain: `loss_pct` on average, in bursts
of `burst` packets on average) and a fixed delay, on every RTP packet, audio and video alike.

JSON lines: it writes {"offer": sdp}, reads {"answer": sdp}, writes {"connected": true}; then reads
{"shim": {"loss_pct": .., "burst": .., "delay_ms": ..}}, {"storm": {"per_s": .., "count": ..}} (NACKs for the
last `count` video packets, `per_s` times a second; {"storm": null} stops), {"report": true} (it writes the pictures
decoded
and audio packets taken since the last report, as time.monotonic() times: one clock for every process
of the machine) and {"quit": true}.
"""

import argparse
import asyncio
import json
import random
import sys
import threading

from confserver.media.bot import Bot, decode_errors
from confserver.media.config import IceConfig


class LossShim:
    """Bursty loss and delay on a peer's incoming RTP (before SRTP, whose RTP header is in clear)."""

    def __init__(self, bot: Bot, on_audio):
        self.loss = 0.0
        self.burst = 1.0
        self.delay_s = 0.0
        self.bad = False
        self.seen = 0
        self.dropped = 0
        self._on_audio = on_audio
        dtls = bot.pc.getTransceivers()[0].receiver.transport
        self._original = dtls._handle_rtp_data
        self._audio_pts = {
            t._codecs[0].payloadType for t in bot.pc.getTransceivers() if t.kind == "audio" and t._codecs
        }
        self._video_pt = next(t._codecs[0].payloadType for t in bot.pc.getTransceivers() if t.kind == "video")
        self.video_seq: int | None = None  # the last video sequence number that came in
        dtls._handle_rtp_data = self._handle
        self._loop = asyncio.get_running_loop()

    def set(self, loss_pct: float = 0.0, burst: float = 1.0, delay_ms: float = 0.0) -> None:
        self.loss = max(0.0, min(loss_pct / 100, 0.95))
        self.burst = max(burst, 1.0)
        self.delay_s = max(delay_ms, 0.0) / 1000

    def _lost(self) -> bool:
        if not self.loss:
            self.bad = False
            return False
        leave_bad = 1 / self.burst
        enter_bad = self.loss * leave_bad / (1 - self.loss)  # stationary share of the bad state: loss
        self.bad = random.random() >= leave_bad if self.bad else random.random() < enter_bad
        return self.bad

    async def _handle(self, data: bytes, arrival_time_ms: int) -> None:
        self.seen += 1
        if self._lost():
            self.dropped += 1
            return
        if len(data) > 1 and data[1] & 0x7F in self._audio_pts:
            self._on_audio()
        elif len(data) > 3 and data[1] & 0x7F == self._video_pt:
            self.video_seq = (data[2] << 8) | data[3]
        if self.delay_s:
            self._loop.call_later(self.delay_s, lambda: asyncio.ensure_future(self._original(data, arrival_time_ms)))
        else:
            await self._original(data, arrival_time_ms)


async def nack_storm(bot: Bot, shim: LossShim, per_s: float, count: int) -> None:
    """Ask again for the last `count` video packets, `per_s` times a second: a broken or hostile room."""
    receiver = next(t.receiver for t in bot.pc.getTransceivers() if t.kind == "video")
    while True:
        await asyncio.sleep(1 / per_s)
        sources = receiver.getSynchronizationSources()
        if shim.video_seq is None or not sources:
            continue
        last = shim.video_seq
        await receiver._send_rtcp_nack(sources[0].source, sorted((last - i) & 0xFFFF for i in range(count)))


def restart_at_keyframes(bot: Bot) -> None:
    """Make the room's video receiver start again at every keyframe, whatever is missing before it, as
    Chromium's does: aiortc's waits for the hole to be filled until 512 packets have come (a minute of a
    low tier), so a room back from audio only after a lossy spell would show nothing for that long."""
    from aiortc.codecs.vpx import VpxPayloadDescriptor
    from aiortc.jitterbuffer import JitterBuffer

    receiver = next(t.receiver for t in bot.pc.getTransceivers() if t.kind == "video")
    original = receiver._handle_rtp_packet

    async def handle(packet, arrival_time_ms: int) -> None:
        try:
            descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
            key = descriptor.partition_start and descriptor.partition_id == 0 and data and not data[0] & 1
        except ValueError:
            key = False
        if key:
            buffer = receiver._RTCRtpReceiver__jitter_buffer
            if buffer is not None and buffer._origin is not None:
                waiting = (packet.sequence_number - buffer._origin) & 0xFFFF
                slots = buffer._packets
                if waiting >= buffer.capacity or any(
                    slots[(buffer._origin + i) % buffer.capacity] is None for i in range(waiting)
                ):
                    receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=buffer.capacity, is_video=True)
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line)
    loop.call_soon_threadsafe(queue.put_nowait, None)


def _say(**message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(host: str, name: str) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_stdin_lines, args=(loop, lines), daemon=True).start()
    bot = Bot(name, publish=False, ice=IceConfig(host_addresses=(host,)))
    audio: list[float] = []
    shim = None
    storm = None
    reported = 0
    try:
        _say(offer=await bot.offer())
        while True:
            line = await lines.get()
            if line is None:
                return
            message = json.loads(line)
            if "answer" in message:
                await bot.accept(message["answer"])
                await bot.wait_connected(20)
                shim = LossShim(bot, lambda: audio.append(loop.time()))
                restart_at_keyframes(bot)
                _say(connected=True)
            elif "storm" in message and shim is not None:
                if storm is not None:
                    storm.cancel()
                storm = asyncio.ensure_future(nack_storm(bot, shim, **message["storm"])) if message["storm"] else None
                _say(ok=True)
            elif "shim" in message and shim is not None:
                shim.set(**message["shim"])
                _say(ok=True)
            elif "report" in message:
                pictures = bot.video[0].pictures
                new, reported = pictures[reported:], len(pictures)
                taken, audio[:] = list(audio), []
                _say(
                    pictures=[p.at for p in new],
                    audio=taken,
                    decode_errors=decode_errors(),
                    rtp_seen=shim.seen if shim else 0,
                    rtp_dropped=shim.dropped if shim else 0,
                )
            elif "quit" in message:
                return
    finally:
        if storm is not None:
            storm.cancel()
        await bot.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="this namespace's address (the ICE host candidate)")
    parser.add_argument("--name", default="room")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.name))

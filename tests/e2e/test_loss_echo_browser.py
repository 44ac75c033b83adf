"""Issue 15, audio first: a room's loss reaches the publisher. A real Chromium publisher, a room (aiortc) that
loses a share of what the relay sends it (the loss shim of testing/roombot.py on its receive path): the
relay's receiver reports on the publisher's audio carry the room's loss (media/feedback.py `echoed_loss`), so
Chromium's Opus encoder expects it and its getStats shows it as remote-inbound-rtp.fractionLost; the video's
reports do not (the publisher's video rate is every room's). The encoder's answer shows in its packets: the tone
it sends as CELT on a clean link (Opus TOC configs 16-31: no in-band FEC in that mode) goes to hybrid or SILK
(configs 0-15, whose SILK layer carries the FEC) once the loss is echoed. The relay runs in this process."""

import asyncio
import time

import pytest

from confserver.media.bot import Bot
from confserver.media.config import IceConfig
from confserver.media.relay import Relay
from confserver.testing.roombot import LossShim

from .test_opus_fec_browser import PAGE, chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

# Camera from the fake device; a tone as the microphone (speech-like: no DTX pauses).
OFFER_JS = """async () => {
  const camera = await navigator.mediaDevices.getUserMedia({video: true});
  const ctx = new AudioContext();
  await ctx.resume();
  const tone = ctx.createOscillator(), out = ctx.createMediaStreamDestination();
  tone.connect(out);
  tone.start();
  const pc = window.pc = new RTCPeerConnection();
  pc.addTransceiver(camera.getVideoTracks()[0], {direction: "sendrecv"});
  pc.addTransceiver(out.stream.getAudioTracks()[0], {direction: "sendrecv"});
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise(r => pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && r()));
  }
  return pc.localDescription.sdp;
}"""

# What the publisher hears back about what it sends: the relay's receiver reports.
REMOTE_JS = """async () => {
  const out = {};
  (await window.pc.getStats()).forEach(s => {
    if (s.type === "remote-inbound-rtp") out[s.kind] = {fractionLost: s.fractionLost ?? null, lost: s.packetsLost};
  });
  return out;
}"""


async def _watch(page, seconds: float) -> list[dict]:
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(await page.evaluate(REMOTE_JS))
        await asyncio.sleep(0.5)
    return seen


def _silk_share(packets: list[tuple[float, int]], start: float, end: float) -> float:
    """The share of the publisher's Opus packets between `start` and `end` in a mode with SILK (TOC config < 16)."""
    configs = [config for at, config in packets if start <= at < end]
    return sum(config < 16 for config in configs) / max(len(configs), 1)


def _audio(seen: list[dict]) -> list[float]:
    return [s["audio"]["fractionLost"] for s in seen if s.get("audio") and s["audio"]["fractionLost"] is not None]


async def test_a_rooms_loss_shows_in_the_chromium_publishers_stats(chromium):  # noqa: F811
    relay = Relay(IceConfig.loopback())
    room = Bot("R", publish=False)
    try:
        page = await chromium.new_page()
        await page.route(
            PAGE, lambda route: route.fulfill(body="<!doctype html><title>p</title>", content_type="text/html")
        )
        await page.goto(PAGE)
        answer = await relay.open_peer("P", await page.evaluate(OFFER_JS))
        await page.evaluate("sdp => window.pc.setRemoteDescription({type: 'answer', sdp})", answer)
        await page.wait_for_function("window.pc.connectionState === 'connected'", timeout=15000)
        await room.accept(await relay.open_peer("R", await room.offer()))
        await room.wait_connected(15)
        relay.set_program("P", ["P"])
        shim = LossShim(room, lambda: None)
        feed = relay._peers["P"].feeds["audio"]
        packets: list[tuple[float, int]] = []  # (when, Opus TOC config) of what the publisher sends
        forward = feed.on_packet

        def on_packet(packet) -> None:
            if packet.payload:
                packets.append((time.monotonic(), packet.payload[0] >> 3))
            forward(packet)

        feed.on_packet = on_packet

        clean_at = time.monotonic()
        clean = await _watch(page, 5.0)  # the uplink is loopback: nothing lost, nothing echoed
        assert _audio(clean) and max(_audio(clean)) == 0, clean

        shim.set(loss_pct=20)  # random loss on the room's downlink
        lossy_at = time.monotonic()
        lossy = await _watch(page, 12.0)
        silk_clean, silk_lossy = _silk_share(packets, clean_at, lossy_at), _silk_share(packets, lossy_at + 6, 1e18)
        audio = _audio(lossy)
        assert max(audio) >= 0.1, lossy  # the room's ~20 % (its reports each cover ~1 s: 10-30 %)
        assert max(audio) <= 0.25 + 1 / 256, lossy  # bounded (feedback.ECHO_MAX)
        assert all(s.get("video", {}).get("fractionLost", 0) == 0 for s in lossy), lossy  # video: never echoed
        assert max(s["audio"]["lost"] for s in lossy if s.get("audio")) == 0, lossy  # the count stays the relay's

        shim.set(loss_pct=0)
        after = await _watch(page, 16.0)  # held, then decaying (ECHO_TAU_S 4 s; reports every 0.5-1.5 s)
        audio = _audio(after)
        assert audio[-1] < 0.02, after
        print("echoed fraction lost: clean max", max(_audio(clean)), "lossy max", max(_audio(lossy)), "after", audio)
        print(
            f"publisher's Opus packets with SILK (in-band FEC possible): clean {silk_clean:.2f}, lossy {silk_lossy:.2f}"
        )
        assert silk_lossy > silk_clean + 0.3, (silk_clean, silk_lossy)  # its encoder reacted
    finally:
        await asyncio.wait_for(room.close(), 10)
        await asyncio.wait_for(relay.close(), 10)

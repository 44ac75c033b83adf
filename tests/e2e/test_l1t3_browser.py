"""Issue 15: a real Chromium publisher sending VP8 with `scalabilityMode: "L1T3"` (as web/js/media.js asks):
the relay reads its temporal layers, and a room pinned to T0 receives a quarter of its frames, decodable,
with no re-encoding; back at full it gets them all. The relay runs in this process."""

import asyncio

import pytest

from confserver.media.bot import Bot, decode_errors
from confserver.media.config import IceConfig
from confserver.media.relay import Relay

from .test_opus_fec_browser import PAGE, chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

OFFER_JS = """async () => {
  const media = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360, frameRate: 30}, audio: true});
  const pc = window.pc = new RTCPeerConnection();
  const v = pc.addTransceiver(media.getVideoTracks()[0], {direction: "sendrecv",
    sendEncodings: [{maxBitrate: 800000, scalabilityMode: "L1T3"}]});
  pc.addTransceiver(media.getAudioTracks()[0], {direction: "sendrecv"});
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise(r => pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && r()));
  }
  return pc.localDescription.sdp;
}"""

MODE_JS = """() => window.pc.getSenders()[0].getParameters().encodings[0].scalabilityMode || null"""


async def fps_over(bot, seconds):
    start = bot.video[0].frames
    await asyncio.sleep(seconds)
    return (bot.video[0].frames - start) / seconds


async def test_chromium_l1t3_publisher_tiers_without_reencoding(chromium):  # noqa: F811
    relay = Relay(IceConfig.loopback())
    room = Bot("S", (30, 40, 220))
    try:
        page = await chromium.new_page()
        await page.route(
            PAGE, lambda route: route.fulfill(body="<!doctype html><title>p</title>", content_type="text/html")
        )
        await page.goto(PAGE)
        answer = await relay.open_peer("P", await page.evaluate(OFFER_JS))
        await page.evaluate("sdp => window.pc.setRemoteDescription({type: 'answer', sdp})", answer)
        await page.wait_for_function("window.pc.connectionState === 'connected'", timeout=15000)
        await room.accept(await relay.open_peer("S", await room.offer()))
        await room.wait_connected(15)
        relay.set_program("P", ["P"])
        relay.pin_tier("S", "full")
        errors = decode_errors()
        deadline = asyncio.get_running_loop().time() + 15
        while room.video[0].frames < 20:
            assert asyncio.get_running_loop().time() < deadline, "no picture from Chromium"
            await asyncio.sleep(0.1)
        assert await page.evaluate(MODE_JS) == "L1T3"
        layers = relay._peers["P"].feeds["video"].layers
        assert layers.layered  # Chromium marks TIDs in the VP8 descriptor
        full = await fps_over(room, 4)
        relay.pin_tier("S", "t0")
        await asyncio.sleep(1)
        quarter = await fps_over(room, 4)
        relay.pin_tier("S", "full")
        await asyncio.sleep(1)
        again = await fps_over(room, 4)
        print(
            f"Chromium L1T3 at S: full {full:.1f} fps, T0 {quarter:.1f}, full again {again:.1f}; "
            f"rates {layers.cumulative()}"
        )
        assert full >= 10, full
        assert quarter <= 0.4 * full and quarter >= 0.1 * full, (full, quarter)
        assert again >= 0.8 * full, (full, again)
        assert decode_errors() == errors  # every frame forwarded decoded
    finally:
        await asyncio.wait_for(room.close(), 10)
        await asyncio.wait_for(relay.close(), 10)

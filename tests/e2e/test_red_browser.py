"""Issue 15, audio first: redundant audio (RFC 2198) for the rooms that need it (media/red.py). Two rooms in one
Chromium page receive the same program sound through the relay with the same random loss (the loss shim of
testing/lossyrelay.py on the relay's send path), both on the T0 tier; one offered `red/48000/2` (Chromium's
default) and is sent RED, the other's offer had it removed and gets plain Opus. The RED room conceals far less of
the sound. The relay runs in this process; the publisher is an aiortc room (a continuous tone)."""

import asyncio
import json
import time

import pytest

from confserver.media.bot import Bot
from confserver.media.config import IceConfig
from confserver.media.relay import Relay
from confserver.testing import lossyrelay

from .test_opus_fec_browser import PAGE, chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

LOSS_PCT = 20

# Two receiving peer connections (sound only, each played: Chromium decodes, and conceals, only what plays).
OFFERS_JS = """async () => {
  window.pcs = [];
  const offers = [];
  for (const keepRed of [true, false]) {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    pc.ontrack = (e) => {
      if (e.track.kind !== "audio") return;
      const el = document.createElement("audio");
      el.srcObject = new MediaStream([e.track]);
      el.autoplay = true;
      document.body.append(el);
      el.play().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise(r => pc.addEventListener("icegatheringstatechange",
        () => pc.iceGatheringState === "complete" && r()));
    }
    let sdp = pc.localDescription.sdp;
    if (!keepRed) {  // the same offer without red/48000/2 (an older browser's)
      const pt = (sdp.match(/a=rtpmap:(\\d+) red\\/48000\\/2/) || [])[1];
      if (pt) {
        sdp = sdp.split("\\r\\n").filter(l => !l.startsWith(`a=rtpmap:${pt} `) && !l.startsWith(`a=fmtp:${pt} `))
          .map(l => l.startsWith("m=audio") ? l.split(" ").filter((f, i) => i < 3 || f !== pt).join(" ") : l)
          .join("\\r\\n");
      }
    }
    window.pcs.push(pc);
    offers.push(sdp);
  }
  return offers;
}"""

AUDIO_JS = """async (i) => {
  let out = null;
  (await window.pcs[i].getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "audio") out = {received: s.packetsReceived, lost: s.packetsLost, bytes: s.bytesReceived,
      concealed: s.concealedSamples, samples: s.totalSamplesReceived, codec: s.codecId};
  });
  return out;
}"""


async def test_a_room_on_a_low_tier_that_offered_red_conceals_less(chromium, tmp_path):  # noqa: F811
    loss_file = tmp_path / "loss.json"
    loss_file.write_text("{}")
    uninstall = lossyrelay.install(str(loss_file))
    relay = Relay(IceConfig.loopback())
    publisher = Bot("A", (200, 40, 40))
    try:
        await publisher.accept(await relay.open_peer("A", await publisher.offer()))
        page = await chromium.new_page()
        await page.route(
            PAGE, lambda route: route.fulfill(body="<!doctype html><title>r</title>", content_type="text/html")
        )
        await page.goto(PAGE)
        offers = await page.evaluate(OFFERS_JS)
        assert "red/48000/2" in offers[0] and "red/48000/2" not in offers[1]
        answers = [await relay.open_peer(name, offer) for name, offer in zip(("R", "P"), offers)]
        assert "red/48000/2" in answers[0] and "red/48000/2" not in answers[1]
        # Opus first: a room that publishes keeps sending plain Opus (Chromium sends RED only when it comes first)
        audio_line = next(line for line in answers[0].splitlines() if line.startswith("m=audio"))
        assert answers[0].index("opus/48000/2") < answers[0].index("red/48000/2"), audio_line
        for i, answer in enumerate(answers):
            await page.evaluate("([i, sdp]) => window.pcs[i].setRemoteDescription({type: 'answer', sdp})", [i, answer])
        await page.wait_for_function("window.pcs.every(pc => pc.connectionState === 'connected')", timeout=15000)
        relay.set_program("A", ["A"])
        for name in ("R", "P"):
            relay.pin_tier(name, "t0")  # a low tier: RED for a room that offered it

        await asyncio.sleep(3.0)
        before = [await page.evaluate(AUDIO_JS, i) for i in (0, 1)]
        loss_file.write_text(json.dumps({"R": LOSS_PCT, "P": LOSS_PCT}))
        started = time.monotonic()
        await asyncio.sleep(12.0)
        loss_file.write_text("{}")
        after = [await page.evaluate(AUDIO_JS, i) for i in (0, 1)]
        took = time.monotonic() - started

        def share(i: int) -> tuple[float, float]:
            b, a = before[i], after[i]
            samples = a["samples"] - b["samples"]
            lost = (a["lost"] - b["lost"]) / max(a["received"] - b["received"] + a["lost"] - b["lost"], 1)
            return (a["concealed"] - b["concealed"]) / max(samples, 1), lost

        (red_concealed, red_lost), (plain_concealed, plain_lost) = share(0), share(1)
        red_kbps, plain_kbps = ((after[i]["bytes"] - before[i]["bytes"]) * 8 / took / 1000 for i in (0, 1))
        print(
            f"{LOSS_PCT} % random loss for {took:.1f} s: RED room concealed {red_concealed:.3f} of its samples "
            f"(packets lost {red_lost:.3f}), plain Opus room {plain_concealed:.3f} (lost {plain_lost:.3f}); audio payload "
            f"received {red_kbps:.1f} vs {plain_kbps:.1f} kbps"
        )
        assert after[0]["samples"] > before[0]["samples"] and after[1]["samples"] > before[1]["samples"], after
        assert plain_concealed > 0.05, (before, after)  # the loss is there and costs sound without RED
        assert red_concealed < plain_concealed / 2, (red_concealed, plain_concealed, before, after)
    finally:
        uninstall()
        await asyncio.wait_for(publisher.close(), 10)
        await asyncio.wait_for(relay.close(), 10)

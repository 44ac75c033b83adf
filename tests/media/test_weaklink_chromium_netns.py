"""Issue 15 with a browser as the weak room: a Chromium page in a network namespace of its own (testing/netns.py:
veth + tbf), receiving the program of a layered L1T3 publisher (testing/layered.py) through an in-process relay,
with bursty loss on the relay's send path toward it (testing/burstyrelay.py: the kernel here has no `netem`).
Schedule: 2 Mbps -> 256 kbps with 5 % then 10 % loss in bursts -> 2 Mbps and no loss.

The page is a minimal one of this test's own (an RTCPeerConnection offered to the relay through Playwright, no
server): the product's room page needs a daphne server, a database, a meeting and signalling, and the network
inside the namespace reaches only the relay's veth address. What is under test is the relay's tier loop against
a real browser's feedback (REMB, receiver reports, NACKs) and what that browser then plays.

Asserted, as issue 15 asks of a room: during the cap W keeps a video tier (T0 and audio fit 256 kbps) and Chromium
decodes >= 5 frames a second over the cap's second half, its sound goes on, and W is back to full within 20 s of the
lift. The other bounds are loose (two cores shared by many runs); the figures and the tier loop's turns are printed.
"""

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from confserver.media.config import IceConfig
from confserver.media.relay import Relay
from confserver.testing.burstyrelay import BurstyLosses
from confserver.testing.layered import LayeredPublisher, encode_clip
from confserver.testing.netns import RoomNet, unavailable
from confserver.testing.weaklink import TierWatch

from .conftest import until

CHROMIUM = "/usr/bin/chromium"


def _why_not() -> str | None:
    reason = unavailable()
    if reason is not None:
        return reason
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (bin/setup --tests)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


REASON = _why_not()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
CLEAN, WEAK = 2000, 256
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # to connect from inside a namespace (issue 15): the namespace's address, not an mDNS name, as candidate
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

OFFER_JS = """async () => {
  const pc = window.pc = new RTCPeerConnection({iceServers: []});
  pc.addTransceiver("video", {direction: "sendrecv"});
  pc.addTransceiver("audio", {direction: "sendrecv"});
  pc.ontrack = (e) => {
    const el = document.createElement(e.track.kind);
    el.autoplay = true; el.muted = e.track.kind === "video";
    el.srcObject = new MediaStream([e.track]);
    document.body.appendChild(el); el.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 5000);
  });
  return pc.localDescription.sdp;
}"""
# every 250 ms: the inbound audio and video as getStats says, stamped with the wall clock (Date.now(), the
# same clock as time.time() here), kept in the page and read at the end
ANSWER_JS = """async (sdp) => {
  await window.pc.setRemoteDescription({type: "answer", sdp});
  window.samples = [];
  setInterval(async () => {
    const row = {t: Date.now() / 1000};
    (await window.pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp") row[r.kind] = {packets: r.packetsReceived, lost: r.packetsLost,
        frames: r.framesDecoded, width: r.frameWidth, concealed: r.concealedSamples, samples: r.totalSamplesReceived,
        nacks: r.nackCount, plis: r.pliCount, keys: r.keyFramesDecoded};
    });
    window.samples.push(row);
  }, 250);
}"""


def _netns(index: int) -> RoomNet:
    net = RoomNet(index)
    tag = f"{os.getpid() % 100000}x{index}"
    net.ns, net.host_dev, net.room_dev = f"h8w{tag}", f"h8wh{tag}"[:15], f"h8wr{tag}"[:15]
    return net


def _kill_inside(net: RoomNet) -> None:
    """Whatever still runs in the namespace (this test's Chromium), killed."""
    pids = subprocess.run(["ip", "netns", "pids", net.ns], capture_output=True, text=True, timeout=10).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass


@pytest.fixture
async def chromium_room(tmp_path):
    """Relay, publisher P and Chromium room W behind a tbf cap in namespace h8w...; all removed at the end."""
    from playwright.async_api import async_playwright

    net = _netns(0)
    losses = BurstyLosses()
    uninstall = losses.install()
    relay = publisher = watcher = pw = None
    try:
        net.open()
        net.cap_kbps(CLEAN)
        # without a camera permission Chromium gathers candidates on the default route's interface only
        net.exec_ok("ip", "route", "add", "default", "via", net.host_ip)
        wrapper = tmp_path / "chromium-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {net.ns} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        relay = Relay(IceConfig(host_addresses=("127.0.0.1", net.host_ip)))
        publisher = LayeredPublisher("P", encode_clip(kbps=350))
        await publisher.accept(await relay.open_peer("P", await publisher.offer()))
        await publisher.wait_connected(20)
        pw = await async_playwright().start()
        browser = await pw.chromium.launch(executable_path=str(wrapper), args=FLAGS, timeout=60000)
        page = await browser.new_page()
        page.set_default_timeout(30000)
        offer = await page.evaluate(OFFER_JS)
        assert f"{net.room_ip} " in offer, [line for line in offer.splitlines() if "candidate" in line]
        await page.evaluate(ANSWER_JS, await relay.open_peer("W", offer))
        await page.wait_for_function("window.pc.iceConnectionState === 'connected'", timeout=30000)
        relay.set_program("P", ["P"])
        watch = TierWatch(relay)
        watcher = asyncio.ensure_future(watch.run())
        yield relay, watch, net, losses, page
    finally:
        if watcher is not None:
            watcher.cancel()
        if pw is not None:
            try:
                await asyncio.wait_for(pw.stop(), 20)  # closes the browser
            except Exception:
                pass
        _kill_inside(net)
        uninstall()
        if publisher is not None:
            await publisher.close()
        if relay is not None:
            await asyncio.wait_for(relay.close(), 20)
        net.close()


def _rates(samples: list[dict], start: float, end: float, kind: str, key: str) -> list[float]:
    """Per second over [start, end): how much `key` of the inbound `kind` grew between successive samples."""
    rows = [(s["t"], s[kind][key]) for s in samples if kind in s and s[kind].get(key) is not None]
    rows = [r for r in rows if start <= r[0] <= end]
    return [(b[1] - a[1]) / max(b[0] - a[0], 1e-3) for a, b in zip(rows, rows[1:])]


def _grew(samples: list[dict], start: float, end: float, kind: str, key: str) -> tuple[float, float]:
    """(growth of `key` over [start, end], seconds between the samples it was read at)."""
    rows = [(s["t"], s[kind][key]) for s in samples if kind in s and s[kind].get(key) is not None]
    rows = [r for r in rows if start <= r[0] <= end]
    if len(rows) < 2:
        return 0.0, 0.0
    return rows[-1][1] - rows[0][1], rows[-1][0] - rows[0][0]


def _longest_stall_s(samples: list[dict], start: float, end: float) -> float:
    """The longest time over [start, end) during which Chromium's inbound audio packet count did not grow (0 when
    it grew between every two samples, 250 ms apart)."""
    rows = [(s["t"], s["audio"]["packets"]) for s in samples if "audio" in s and start <= s["t"] < end]
    longest, since = 0.0, rows[0][0] if rows else start
    for (_, before), (t, after) in zip(rows, rows[1:]):
        if after > before:
            since = t
        longest = max(longest, t - since)
    return longest


async def test_a_chromium_room_keeps_its_sound_drops_a_tier_at_256k_with_loss_and_comes_back(chromium_room):
    relay, watch, net, losses, page = chromium_room
    await until(lambda: watch.tier("W") == "full" and relay.stats()["W"].bitrate_out_kbps > 150, 20, "W at full")
    await page.wait_for_function("window.samples.length && (window.samples.at(-1).video || {}).frames > 10")
    await asyncio.sleep(5)
    clean_from, cap_at, cap_wall = time.time() - 5, time.monotonic(), time.time()
    slot = relay._peers["W"].slots["video"][0]
    rtx0 = slot.retransmitted, slot.rtx_skipped
    net.cap_kbps(WEAK)
    losses.set("W", loss_pct=5, burst=3)
    await until(lambda: watch.tier("W") not in ("full", None), 10, "W below full")
    down_s = time.monotonic() - cap_at
    await asyncio.sleep(max(0.0, 8 - (time.monotonic() - cap_at)))
    losses.set("W", loss_pct=10, burst=3)
    await asyncio.sleep(max(0.0, 16 - (time.monotonic() - cap_at)))
    lift_at, lift_wall = time.monotonic(), time.time()
    sent, dropped = losses.counts("W")
    resent, skipped = slot.retransmitted - rtx0[0], slot.rtx_skipped - rtx0[1]
    net.cap_kbps(CLEAN)
    losses.set("W")
    up_s = await until(lambda: watch.tier("W") == "full", 45, "W back to full")
    full_wall = time.time()
    await asyncio.sleep(5)
    samples = await page.evaluate("window.samples")
    end_wall = samples[-1]["t"]

    # W's tiers from the cap to the lift (the one it was on when the cap came, then every change)
    tiers = [tier for at, tier in watch.changes["W"] if at <= cap_at][-1:]
    tiers += [tier for at, tier in watch.changes["W"] if cap_at < at <= lift_at]
    steady = cap_wall + 3
    audio, audio_s = _grew(samples, steady, lift_wall, "audio", "packets")
    stall_s = _longest_stall_s(samples, steady, lift_wall)
    audio_rates = _rates(samples, steady, lift_wall, "audio", "packets")
    concealed, _ = _grew(samples, steady, lift_wall, "audio", "concealed")
    received, _ = _grew(samples, steady, lift_wall, "audio", "samples")
    nacks, plis, keys = (_grew(samples, cap_wall, lift_wall, "video", key)[0] for key in ("nacks", "plis", "keys"))
    half_wall = (cap_wall + lift_wall) / 2
    fps_clean, fps_5pct, fps_half, fps_back = (
        f / max(s, 1e-3)
        for f, s in (
            _grew(samples, clean_from, cap_wall, "video", "frames"),
            _grew(samples, cap_wall + 3, cap_wall + 8, "video", "frames"),
            _grew(samples, half_wall, lift_wall, "video", "frames"),
            _grew(samples, max(full_wall, end_wall - 4), end_wall, "video", "frames"),
        )
    )
    print(
        f"Chromium W: down after {down_s:.1f} s, back to full {up_s:.1f} s after the cap was lifted; "
        f"tiers {[(round(at - cap_at, 1), tier) for at, tier in watch.changes['W']]} ({watch.reasons['W']}); "
        f"relay dropped {dropped}/{sent} packets toward W during the cap; "
        f"audio during the cap {audio / max(audio_s, 1e-3):.1f} packets/s (min {min(audio_rates, default=0):.0f} "
        f"over 250 ms), longest stall {stall_s * 1000:.0f} ms, concealed {concealed:.0f}/{received:.0f} samples; "
        f"video fps clean {fps_clean:.1f}, at 256 kbps 5 % loss (3-8 s) {fps_5pct:.1f}, "
        f"second half of the cap (10 % loss) {fps_half:.1f}, after the lift at full {fps_back:.1f}; "
        f"during the cap Chromium sent {nacks:.0f} NACKs, {plis:.0f} PLIs, decoded {keys:.0f} keyframes; "
        f"the relay resent {resent}, not {skipped}"
    )
    trace = "W's tier loop, each turn from 5 s before the cap:\n" + watch.trace("W", cap_at - 5)
    print(trace)
    assert down_s <= 10 and tiers and tiers[0] == "full" and tiers[1] != "audio", (down_s, watch.changes["W"], trace)
    # at 256 kbps W keeps a video tier (T0 + audio fit) and Chromium plays it: >= 5 of T0's 7.5 frames a second
    # over the cap's second half (10 % bursty loss), and the full picture comes back within 20 s of the lift
    assert "audio" not in tiers, (watch.changes["W"], watch.reasons["W"], trace)
    assert fps_half >= 5, (fps_half, trace)
    assert up_s <= 20, (up_s, watch.changes["W"], trace)
    # the sound went on in Chromium: about 50 packets a second less what was lost, none missing for long
    assert audio_s >= 0.8 * (lift_wall - steady - 1), (audio_s, len(samples))
    assert audio >= 0.5 * 50 * audio_s, (audio, audio_s, watch.changes["W"], watch.reasons["W"])
    assert stall_s <= 1.0, stall_s
    assert received > 0 and concealed <= 0.3 * received, (concealed, received)  # played, mostly not made up
    # and the full picture came back: Chromium decodes about as many frames a second as before the cap
    assert fps_back >= 0.6 * fps_clean, (fps_clean, fps_half, fps_back)

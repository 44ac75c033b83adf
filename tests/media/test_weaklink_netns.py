"""Issue 15 on real weak links: rooms in network namespaces of their own (testing/netns.py: veth + tbf),
each an aiortc process decoding the program (testing/roombot.py, with a bursty loss shim on its receive
path), fed by an in-process relay from a layered L1T3 publisher (testing/layered.py).

Bounds are loose on purpose (two cores shared by many agents); bench/weaklink.py measures the figures.
"""

import asyncio
import time

import pytest

from confserver.media.config import IceConfig
from confserver.media.relay import Relay
from confserver.testing.layered import LayeredPublisher, encode_clip
from confserver.testing.netns import RoomNet, unavailable
from confserver.testing.weaklink import RoomProcess, TierWatch, fps, max_gap_ms

from .conftest import until

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")
CLEAN = 2000


@pytest.fixture
async def weak():
    """Relay, publisher P, a weak room W and a neighbour N on clean links; all removed at the end."""
    nets = [RoomNet(0), RoomNet(1)]
    rooms, relay, publisher, watcher = [], None, None, None
    try:
        for net in nets:
            net.open()
            net.cap_kbps(CLEAN)
        relay = Relay(IceConfig(host_addresses=("127.0.0.1", *(n.host_ip for n in nets))))
        publisher = LayeredPublisher("P", encode_clip(kbps=350))
        await publisher.accept(await relay.open_peer("P", await publisher.offer()))
        await publisher.wait_connected(20)
        for net, name in zip(nets, ("W", "N")):
            room = RoomProcess(net, name)
            await room.start(relay)
            rooms.append(room)
        relay.set_program("P", ["P"])
        watch = TierWatch(relay)
        watcher = asyncio.ensure_future(watch.run())
        yield relay, watch, nets[0], rooms[0], rooms[1]
    finally:
        if watcher is not None:
            watcher.cancel()
        for room in rooms:
            await room.close()
        if publisher is not None:
            await publisher.close()
        if relay is not None:
            await asyncio.wait_for(relay.close(), 20)
        for net in nets:
            net.close()


async def test_256k_with_bursty_loss_keeps_the_sound_drops_a_tier_and_comes_back(weak):
    relay, watch, net, w, n = weak
    await until(lambda: watch.tier("W") == "full" and relay.stats()["W"].bitrate_out_kbps > 150, 15, "W at full")
    await asyncio.sleep(5)
    clean_from, cap_at = time.monotonic() - 5, time.monotonic()
    net.cap_kbps(256)
    await w.shim(loss_pct=5, burst=3)
    await until(lambda: watch.tier("W") not in ("full", None), 10, "W below full")
    down_s = time.monotonic() - cap_at
    await asyncio.sleep(max(0.0, 16 - (time.monotonic() - cap_at)))
    lift_at = time.monotonic()
    await w.collect()
    await n.collect()
    net.cap_kbps(CLEAN)
    await w.shim()
    try:
        up_s = await until(lambda: watch.tier("W") == "full", 45, "W back to full")
    except AssertionError:
        print(f"W's tiers {watch.changes['W']} ({watch.reasons['W']}); each turn from 5 s before the cap:")
        print(watch.trace("W", cap_at - 5))
        raise

    tiers = [tier for at, tier in watch.changes["W"] if cap_at <= at <= lift_at]
    assert down_s <= 10 and tiers[0] in ("t0t1", "t0"), (down_s, watch.changes["W"])
    # the sound went on: about 50 packets a second less the 5 % lost, never a long silence
    steady = cap_at + 3
    audio = [t for t in w.audio if steady <= t < lift_at]
    assert len(audio) >= 0.6 * 50 * (lift_at - steady), (len(audio), watch.changes["W"], watch.reasons["W"])
    assert max_gap_ms(w.audio, steady, lift_at) <= 1000
    # the neighbour did not notice
    before, during = fps(n.pictures, clean_from, cap_at), fps(n.pictures, cap_at, lift_at)
    assert during >= 0.8 * before, (before, during)
    assert relay.stats()["N"].tier == "full"
    print(
        f"W: down after {down_s:.1f} s, back to full {up_s:.1f} s after the cap was lifted; "
        f"tiers {watch.changes['W']}; "
        f"({watch.reasons['W']}); W fps in the cap's last 8 s {fps(w.pictures, lift_at - 8, lift_at):.1f}; "
        f"N fps {before:.1f} -> {during:.1f}"
    )
    print(f"W's tier loop, each turn from 5 s before the cap (lifted at {lift_at - cap_at + 5:.1f}):")
    print(watch.trace("W", cap_at - 5))


# Once in a full run (load ~1) W went back to audio only 0.9 s after its video returned; passes alone. Since then
# one bad turn at T0 no longer takes a room to audio only (media/tiers.py LAST_PERSIST_S: every turn bad for 2 s,
# or over 25 % asked again); not seen in 2 runs after that change. Rerun once until more runs show it gone (issue 15).
@pytest.mark.flaky(reruns=1)
async def test_under_100k_a_room_goes_audio_only_and_comes_back(weak):
    relay, watch, net, w, n = weak
    await until(lambda: watch.tier("W") == "full", 15, "W at full")
    cap_at = time.monotonic()
    net.cap_kbps(80)
    took = await until(lambda: watch.tier("W") == "audio", 20, "W on audio only")
    assert relay.stats()["W"].tier_reason in ("nack", "loss", "remb")
    await asyncio.sleep(6)
    await w.collect()
    quiet_from = time.monotonic() - 5
    assert fps(w.pictures, quiet_from, time.monotonic()) <= 1  # no video (a frame in flight at most)
    audio = [t for t in w.audio if quiet_from <= t]
    assert len(audio) >= 0.6 * 50 * 5, len(audio)  # the sound goes on
    lift_at = time.monotonic()
    net.cap_kbps(CLEAN)
    back = await until(lambda: watch.tier("W") not in ("audio", None), 30, "W's video back")
    await asyncio.sleep(6)
    await w.collect()
    assert fps(w.pictures, time.monotonic() - 4, time.monotonic()) >= 3, watch.changes["W"]
    print(
        f"W: audio only {took:.1f} s after the 80 kbps cap, video again {back:.1f} s after it was lifted "
        f"(cap at {cap_at:.0f}, lifted {lift_at:.0f}); tiers {watch.changes['W']}"
    )


async def test_a_nack_storm_is_answered_within_its_budget(weak):
    relay, watch, net, w, n = weak
    await until(lambda: watch.tier("W") == "full" and relay.stats()["W"].bitrate_out_kbps > 150, 15, "W at full")
    await asyncio.sleep(3)
    slot = relay._peers["W"].slots["video"][0]
    await n.collect()
    cpu0, t0, rtx0 = time.process_time(), time.monotonic(), slot.retransmitted
    await asyncio.sleep(6)
    cpu_quiet = (time.process_time() - cpu0) / (time.monotonic() - t0)
    await w.storm(200, 64)  # 12,800 packets asked again a second
    cpu1, t1, rtx1 = time.process_time(), time.monotonic(), slot.retransmitted
    pace_bps = relay._peers["W"].tiering.pacer.bps  # the most it paces at: the storm takes W down a tier
    await asyncio.sleep(6)
    storm_s = time.monotonic() - t1
    cpu_storm = (time.process_time() - cpu1) / storm_s
    resent = slot.retransmitted - rtx1
    await w.storm(None)
    await n.collect()
    # at most a quarter of the pace rate (1.5x the tier's) goes to retransmissions, each packet once per RTT
    assert pace_bps > 0
    assert resent * 1000 <= 0.25 * pace_bps / 8 * storm_s + 20 * 1250, (resent, pace_bps)
    assert slot.rtx_skipped > 10 * resent
    assert cpu_storm <= cpu_quiet + 0.35, (cpu_quiet, cpu_storm)
    before, during = fps(n.pictures, t0, t1), fps(n.pictures, t1, t1 + storm_s)
    assert during >= 0.8 * before, (before, during)
    print(
        f"storm: relay process CPU {cpu_quiet:.0%} -> {cpu_storm:.0%} of a core; {resent} packets resent in "
        f"{storm_s:.1f} s ({rtx1 - rtx0} before in 6 s), {slot.rtx_skipped} not; N fps {before:.1f} -> {during:.1f}"
    )

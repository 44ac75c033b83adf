"""Each room's tier loop in the relay (issue 15): once a second, measure the room's downlink
(media/feedback.py), decide its tier (media/tiers.py), and apply it: the temporal layers its video
slots forward (media/temporal.py) and the rate its sending is paced at (media/pacing.py).
The relay calls `step` from its rate sampler; peerslot.PeerSlot reads `peer.tiering` on its send path.
"""

import time
from dataclasses import replace

from . import lowlayer
from .feedback import downlink
from .pacing import PACE_FACTOR, Pacer
from .tiers import AUDIO, FULL, MAX_TID, Measure, TierState, decide, pin, rate_of

MIN_PACE_BPS = 64_000  # the pacer's floor (video; audio is not paced)


class RoomTiering:
    """One room's tier, pacer and history (plain data on the relay's peer)."""

    __slots__ = ("state", "pacer", "history", "_mark", "enabled", "last", "last_at")
    # _mark: (when, packets sent, sequence numbers asked again) at the last step

    def __init__(self, now: float | None = None, enabled: bool = True):
        now = time.monotonic() if now is None else now
        self.state = TierState(changed_at=now, good_since=now)
        self.pacer = Pacer()
        self.history: list[tuple[float, str, str]] = [(now, FULL, self.state.reason)]
        self._mark: tuple[float, int, int] | None = None
        self.enabled = enabled  # False: plain passthrough (the bench's baseline)
        self.last: Measure | None = None  # what the last turn read, and when (tests and benches trace it)
        self.last_at = 0.0


def tiering(peer) -> RoomTiering:
    t = getattr(peer, "tiering", None)
    if t is None:
        t = peer.tiering = RoomTiering()
    return t


def measure(peer, now: float) -> Measure:
    t = tiering(peer)
    slots = [s for kind in ("video", "audio") for s in peer.slots[kind] if hasattr(s, "sender")]
    packets = sum(s.packets for s in slots)
    nacks = sum(s.sender.feedback.nacks for s in slots)
    packets_per_s = nacks_per_s = 0.0
    since = t._mark[0] if t._mark is not None else -1.0  # the last turn
    if t._mark is not None and now > t._mark[0]:
        packets_per_s = (packets - t._mark[1]) / (now - t._mark[0])
        # over the last step only: the feedback's moving average still carries a cap's first second two
        # seconds later, which would take the room a second step down for what the first one mended
        nacks_per_s = (nacks - t._mark[2]) / (now - t._mark[0])
    t._mark = (now, packets, nacks)
    feed = next((s.current for s in peer.slots["video"] if s.current is not None), None)
    feed = feed.main or feed if feed is not None else None  # the source's main feed, when the slot takes its low layer
    layers = feed.layers.cumulative(now) if feed is not None and feed.layers is not None else None
    fb = downlink((s.sender.feedback for s in slots), now)
    # Loss as the video's reports say: the tier changes the video, and 5 % lost in bursts reads anything
    # from 0 to 20 % over a second of audio (50 packets), which no tier would mend. Only the reports that came
    # since the last turn, so that each is read once: Chromium reports about once a second and the turns drift
    # against it; one report of 66 % lost read on two turns made two of the three bad turns in a row that took a
    # Chromium room at T0 behind 256 kbps to audio only (issue 15; its NACKs were under 8 % on all three).
    lost = [s.sender.feedback.fraction_lost for s in slots if s.kind == "video" and s.sender.feedback.report_at > since]
    return Measure(
        remb_bps=fb.remb_bps,
        loss_pct=round(max(lost, default=0.0) * 100, 2),
        nack_per_s=nacks_per_s,
        packets_per_s=packets_per_s,
        sent_bps=peer.kbps_out * 1000,
        rates_bps=(0.0, *layers) if layers is not None else None,
        low_bps=lowlayer.rate(feed),
    )


def step(peer, now: float | None = None) -> TierState:
    """One turn of the room's loop (the relay's sampler, about once a second)."""
    now = time.monotonic() if now is None else now
    t = tiering(peer)
    m = measure(peer, now)
    t.last, t.last_at = m, now
    if not t.enabled:
        return t.state
    apply(peer, decide(t.state, m, now), m, now)
    return t.state


def set_pinned(peer, tier: str | None, now: float | None = None) -> TierState:
    """The chair pins the room to `tier` (None: the loop decides again)."""
    now = time.monotonic() if now is None else now
    t = tiering(peer)
    apply(peer, pin(t.state, tier, now), None, now)
    return t.state


def apply(peer, new: TierState, m: Measure | None, now: float) -> None:
    t = tiering(peer)
    old = t.state
    t.state = new
    lowlayer.follow(peer, new.tier)  # the shared low layer at LOW (first: leaving audio only restarts the feed taken)
    if new.tier != old.tier:
        t.history.append((now, new.tier, new.reason))
        del t.history[:-50]
        for slot in peer.slots["video"]:
            layers = getattr(slot, "layers", None)
            if layers is not None and layers.set_target(MAX_TID[new.tier]):
                slot.restart()
    if m is not None:
        rate = rate_of(new.tier, m)
        t.pacer.set_rate(max(PACE_FACTOR * rate, MIN_PACE_BPS) if rate and new.tier != AUDIO else 0.0)


def summary(peer) -> dict:
    """The room's tier for stats: tier, why, pinned."""
    t = getattr(peer, "tiering", None)
    if t is None:
        return {"tier": FULL, "tier_reason": "start", "tier_pinned": None}
    return {"tier": t.state.tier, "tier_reason": t.state.reason, "tier_pinned": t.state.pinned}


def disable(peer) -> None:
    """Plain passthrough for this room: all layers, not paced, no loop (the bench's baseline)."""
    t = tiering(peer)
    t.enabled = False
    apply(peer, replace(t.state, tier=FULL), None, time.monotonic())
    t.pacer.set_rate(0.0)


def enable(peer) -> None:
    """The room's loop runs again (from full)."""
    tiering(peer).enabled = True

"""A room's tier (issue 15): how much of the program's video its link is sent, decided from what the
room reports about that link. Plain functions on plain data: `decide(state, measure, now)` returns the
next state; media/adapt.py measures and applies it, once a second or so per room.

Tiers, best first: FULL (every temporal layer), T0T1 (half the frames), T0 (a quarter), LOW (the shared
low layer: the publisher's second, 320x180 ~15 fps ~150 kbps track, media/lowlayer.py; only while the source
sends one, else the ladder skips it), AUDIO (no video: the room keeps its sound). Down fast: more than
DOWN_NACK_RATIO of the packets sent asked again, more than DOWN_LOSS_PCT lost, or a REMB that had reached the
tier's rate staying under it while the room loses some packets; then to the best tier the link still carried
(its goodput; LOW and audio only one step at a time from T0), at least one step, at most once per DOWN_GAP_S
after a step down (the next reports must show the change first); a step up that goes bad comes back at once.
From the last video tier to audio only on a severe sign, or on one that every turn shows for LAST_PERSIST_S.
Up one tier at a time after HOLD_S without any such sign, when the REMB does not rule it out; a step up is on
trial for PROBE_S: one that goes bad makes the hold HOLD_BACKOFF times longer (up to HOLD_MAX_S), one whose every
turn was good is followed
by the next step at once (the trial was its hold). The chair may pin a room to a tier: the loop
then only watches.
"""

from dataclasses import dataclass, replace

FULL, T0T1, T0, LOW, AUDIO = "full", "t0t1", "t0", "low", "audio"
ORDER = (AUDIO, LOW, T0, T0T1, FULL)  # worst to best
# The main feed's temporal layers at each tier. LOW: the main feed's base layer until the room's video slot has
# switched to the low layer at its keyframe (the low layer's frames all pass), or when the source sends none.
MAX_TID = {FULL: 2, T0T1: 1, T0: 0, LOW: 0, AUDIO: -1}
_RATE_INDEX = {AUDIO: 0, T0: 1, T0T1: 2, FULL: 3}  # Measure.rates_bps

DOWN_NACK_RATIO = 0.08
DOWN_LOSS_PCT = 30.0  # the video's receiver report over ~1 s: at T0 (~20 packets) 5 % lost in bursts often
# reads 15 %; a cap that the tier overruns shows in the NACKs first (fresh packets asked again)
GOOD_NACK_RATIO = 0.03  # below this (and GOOD_LOSS_PCT) the link counts as good for the hold
GOOD_LOSS_PCT = 3.0
REMB_FALL = 0.85  # a REMB under this share of the tier's rate says the link no longer carries it...
REMB_LOSS_RATIO = 0.01  # ...and the room loses more than this (of packets lost, or asked again)
REMB_PERSIST_S = 2.0  # ...when it stays there this long (the rate is measured over windows; keyframes swing it)
DOWN_GAP_S = 3.0  # a receiver report covers ~1 s and comes late: the one after a step still shows the cap
# From the last video tier to audio only: on a bad sign that every turn shows for LAST_PERSIST_S, or at once when
# more than SEVERE_NACK_RATIO of the packets are asked again. A link that carries the last video tier still shows
# single bad turns: at T0 (~20 video packets a second, ~70 with audio) a Chromium room behind 256 kbps with 10 %
# bursty loss read 10-12 % asked again, or 33-50 % lost in a receiver report, on one turn in five (its reports cover
# few packets: loss alone is never severe). One that does not carry it (under ~100 kbps) shows them on every turn.
LAST_PERSIST_S = 2.0
SEVERE_NACK_RATIO = 0.25
HOLD_S = 8.0  # "about 10 s": two steps up (T0 -> full) stay within 20 s of a link recovering
HOLD_MAX_S = 40.0
# A step up that failed: the next hold is this many times longer. Doubling, a probe that failed just before a cap
# was lifted kept a room at T0 for 16 s after it (bench/weaklink.py: back to full in 21.4 s; goal 20).
HOLD_BACKOFF = 1.5
PROBE_S = 5.0
REMB_PROBE = 1.05  # a REMB this much above what the room receives lets it step up (see decide)
HEADROOM = 1.15  # a tier fits a link whose goodput is this much above its rate

# Why a room is where it is: shown to the chair and, for AUDIO, to the room (Vietnamese in the pages).
REASON_START, REASON_NACK, REASON_LOSS, REASON_REMB, REASON_PINNED, REASON_RECOVERED = (
    "start",
    "nack",
    "loss",
    "remb",
    "pinned",
    "recovered",
)


@dataclass(frozen=True)
class Measure:
    """What the relay knows about one room's downlink now (media/feedback.py Downlink, and its own rates).

    rates_bps: the video's rate at each tier (AUDIO, T0, T0T1, FULL) from the publisher's layers, or None.
    low_bps: the rate of the source's low layer, None when it sends none (the LOW tier is then skipped).
    sent_bps: what the relay sent the room over the last second (audio and video).
    packets_per_s: packets sent over the last second; nack_per_s: packets it asked again.
    """

    remb_bps: int | None = None
    loss_pct: float = 0.0
    nack_per_s: float = 0.0
    packets_per_s: float = 0.0
    sent_bps: float = 0.0
    rates_bps: tuple[float, float, float, float] | None = None
    low_bps: float | None = None


@dataclass(frozen=True)
class TierState:
    tier: str = FULL
    reason: str = REASON_START
    changed_at: float = 0.0
    good_since: float = 0.0  # the link has been good since then (the hold counts from here)
    hold_s: float = HOLD_S
    probe_until: float = 0.0  # a step up is on trial until then
    remb_reached: bool = False  # a REMB came at or above the tier's rate (REMB grows slowly from start)
    remb_low_since: float | None = None  # since then the REMB has been under REMB_FALL of the tier's rate
    pinned: str | None = None
    bad_since: float | None = None  # every turn since then has shown a bad sign (at the last video tier)


def rate_of(tier: str, measure: Measure) -> float | None:
    if tier == LOW and measure.low_bps:
        return measure.low_bps
    if measure.rates_bps is None:
        return None
    return measure.rates_bps[_RATE_INDEX[T0 if tier == LOW else tier]]


def ladder(measure: Measure) -> tuple[str, ...]:
    """The tiers a room may be on now, worst to best: LOW only while the source sends a low layer."""
    return ORDER if measure.low_bps else _NO_LOW


_NO_LOW = tuple(t for t in ORDER if t != LOW)


def bad_sign(state: TierState, measure: Measure, now: float) -> str | None:
    """Why the link does not carry the room's tier, or None."""
    if measure.packets_per_s > 0 and measure.nack_per_s / measure.packets_per_s > DOWN_NACK_RATIO:
        return REASON_NACK
    if measure.loss_pct > DOWN_LOSS_PCT:
        return REASON_LOSS
    if state.remb_low_since is not None and now - state.remb_low_since >= REMB_PERSIST_S and _losing(measure):
        return REASON_REMB
    return None


def _losing(measure: Measure) -> bool:
    """Some loss: what makes a low REMB a sign (a busy receiver's delay-based estimate falls on a clean link too)."""
    ratio = measure.nack_per_s / measure.packets_per_s if measure.packets_per_s > 0 else 0.0
    return ratio > REMB_LOSS_RATIO or measure.loss_pct > REMB_LOSS_RATIO * 100


def _severe(measure: Measure) -> bool:
    return measure.packets_per_s > 0 and measure.nack_per_s / measure.packets_per_s > SEVERE_NACK_RATIO


def _good(measure: Measure) -> bool:
    ratio = measure.nack_per_s / measure.packets_per_s if measure.packets_per_s > 0 else 0.0
    return ratio <= GOOD_NACK_RATIO and measure.loss_pct <= GOOD_LOSS_PCT


def _fitting(below: str, measure: Measure, remb_reached: bool) -> str:
    """The best tier under `below` that the link's goodput carries (one step down when unknown)."""
    steps = ladder(measure)
    index = steps.index(below) - 1
    if index <= 0:
        return AUDIO
    # Under T0 one step at a time (the low layer, then audio only): the loss in a cap's first second overstates
    # what the link lacks (bench/weaklink.py: 256 kbps took a room from full past T0 to the low layer).
    floor = min(index, steps.index(T0))
    goodput = measure.sent_bps * (1 - min(measure.loss_pct, 100.0) / 100)
    if measure.remb_bps is not None and remb_reached:
        goodput = min(goodput, measure.remb_bps) if goodput else measure.remb_bps
    if measure.rates_bps is None or not goodput:
        return steps[index]
    audio = measure.sent_bps - (rate_of(below, measure) or 0.0) if measure.sent_bps else 0.0
    audio = min(max(audio, 0.0), 64_000.0)
    while index > floor and (rate_of(steps[index], measure) or 0.0) * HEADROOM + audio > goodput:
        index -= 1
    return steps[index]


def decide(state: TierState, measure: Measure, now: float) -> TierState:
    """The room's next tier state from what its link reports now."""
    if state.pinned is not None:
        if state.tier != state.pinned:
            return replace(state, tier=state.pinned, reason=REASON_PINNED, changed_at=now, good_since=now)
        return state
    steps = ladder(measure)
    if state.tier not in steps:
        state = replace(state, tier=T0)  # the source stopped sending its low layer (or another source came)
    rate = rate_of(state.tier, measure)
    if not state.remb_reached and rate and measure.remb_bps is not None and measure.remb_bps >= rate:
        state = replace(state, remb_reached=True)
    low = bool(state.remb_reached and rate and measure.remb_bps is not None and measure.remb_bps < REMB_FALL * rate)
    if low != (state.remb_low_since is not None):
        state = replace(state, remb_low_since=now if low else None)
    sign = bad_sign(state, measure, now)
    last = state.tier == steps[1]  # the last video tier: the next step down is audio only
    stepped_down = state.reason not in (REASON_RECOVERED, REASON_START, REASON_PINNED)
    if sign is None:
        if state.bad_since is not None:
            state = replace(state, bad_since=None)
    elif last and state.bad_since is None and (not stepped_down or now - state.changed_at >= DOWN_GAP_S):
        state = replace(state, bad_since=now)  # (the turns just after a step down still show the tier above)
    if sign == REASON_REMB and last:
        # Audio only on losses, not on a delay-based estimate alone: a busy receiver's REMB swings under a
        # cap (bench/weaklink.py: a room at T0 behind 256 kbps went to audio only on it, run to run).
        return replace(state, good_since=now)
    if sign is not None:
        if state.tier == AUDIO or (stepped_down and now - state.changed_at < DOWN_GAP_S):
            return replace(state, good_since=now)
        if last and not _severe(measure) and (state.bad_since is None or now - state.bad_since < LAST_PERSIST_S):
            # one bad turn at T0 took a Chromium room behind 256 kbps (T0 and audio fit) to audio only (issue 15)
            return replace(state, good_since=now)
        hold = min(state.hold_s * HOLD_BACKOFF, HOLD_MAX_S) if now < state.probe_until else state.hold_s
        return TierState(
            tier=_fitting(state.tier, measure, state.remb_reached),
            reason=sign,
            changed_at=now,
            good_since=now,
            hold_s=hold,
        )
    if not _good(measure):
        return replace(state, good_since=now)
    climbing = False
    if state.probe_until and now >= state.probe_until:
        # The last step up held. When every turn of its trial was good, that trial was the hold for the next step:
        # a link that came back is not made to wait HOLD_S again at each tier (audio only -> full in ~HOLD_S +
        # 2 PROBE_S, not 3 HOLD_S: bench/weaklink.py took 23.6 s from T0 through the low layer's tier).
        climbing = now - state.good_since >= PROBE_S
        state = replace(state, probe_until=0.0, hold_s=HOLD_S)
    if state.tier == FULL or (not climbing and now - state.good_since < state.hold_s):
        return state
    up = steps[steps.index(state.tier) + 1]
    up_rate = rate_of(up, measure)
    if measure.remb_bps is not None and up_rate and state.remb_reached and now - state.good_since < 2 * state.hold_s:
        # A REMB at or under what we send is the link's limit; one above it is the estimate growing (a
        # receive-side estimate never runs far ahead of what it receives: stepping up is the probe). For one hold
        # at most: after a cap was lifted an aiortc room's REMB stayed at 143 kbps, under what it was sent, for 9 s
        # of a clean link (and over 45 s once, in CI): a clean link for two holds is worth a probe.
        if measure.remb_bps < up_rate and measure.remb_bps < REMB_PROBE * measure.sent_bps:
            return state
    return TierState(
        tier=up, reason=REASON_RECOVERED, changed_at=now, good_since=now, hold_s=state.hold_s, probe_until=now + PROBE_S
    )


def pin(state: TierState, tier: str | None, now: float) -> TierState:
    """The chair pins the room to `tier`, or lets the loop decide again (None: from the pinned tier)."""
    if tier is None:
        return replace(state, pinned=None, reason=REASON_RECOVERED, good_since=now, changed_at=now, bad_since=None)
    if tier not in MAX_TID:
        raise ValueError(tier)
    return replace(state, pinned=tier, tier=tier, reason=REASON_PINNED, changed_at=now, good_since=now)

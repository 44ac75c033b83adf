"""Issue 15, the shared low layer in the tier loop (media/tiers.py LOW) as plain functions: on the ladder only
while the source sends one, between T0 and audio only; and its keyframe's size (media/lowlayer.py)."""

from confserver.media import lowlayer
from confserver.media.tiers import AUDIO, FULL, LOW, T0, T0T1, Measure, TierState, decide, ladder, pin, rate_of

RATES = (0.0, 150_000.0, 300_000.0, 600_000.0)  # AUDIO, T0, T0T1, FULL


def measure(low_bps=None, **kw):
    base = dict(packets_per_s=80, sent_bps=640_000, rates_bps=RATES, low_bps=low_bps)
    base.update(kw)
    return Measure(**base)


def climb(state, m, start, seconds):
    t = start
    seen = [state.tier]
    while t < start + seconds:
        state = decide(state, m, t)
        if state.tier != seen[-1]:
            seen.append(state.tier)
        t += 1.0
    return state, seen


def test_low_is_on_the_ladder_only_while_the_source_sends_it():
    assert ladder(measure()) == (AUDIO, T0, T0T1, FULL)
    assert ladder(measure(low_bps=120_000)) == (AUDIO, LOW, T0, T0T1, FULL)
    assert rate_of(LOW, measure(low_bps=120_000)) == 120_000
    assert rate_of(LOW, measure()) == 150_000  # pinned without one: the main feed's T0


def test_from_t0_a_lossy_link_steps_to_low_before_audio_only_and_back_up_through_it():
    m = measure(low_bps=120_000)
    lossy = measure(low_bps=120_000, loss_pct=40.0, nack_per_s=30, sent_bps=200_000)
    state = TierState(tier=T0, reason="nack", changed_at=0.0, good_since=0.0)
    state = decide(state, lossy, 10.0)
    assert state.tier == LOW
    state = decide(state, lossy, 14.0)
    assert state.tier == AUDIO
    state, seen = climb(state, m, 20.0, 40)
    assert seen == [AUDIO, LOW, T0, T0T1, FULL]
    # without a low layer the same link goes from T0 to audio only and comes back to T0 directly
    state = decide(TierState(tier=T0, reason="nack"), measure(loss_pct=40.0, nack_per_s=30, sent_bps=200_000), 10.0)
    assert state.tier == AUDIO
    _, seen = climb(state, measure(), 20.0, 20)
    assert seen[:2] == [AUDIO, T0]


def test_a_link_that_carries_only_the_low_layer_gets_there_through_t0():
    # 640 kbps sent into ~200 kbps: T0 (150 k) + audio does not fit with headroom, the low layer (100 k) does; but
    # a cap's first second overstates the loss: T0 first, the low layer if T0 loses too
    bad = measure(low_bps=100_000, loss_pct=70.0, nack_per_s=50, sent_bps=640_000 * 0.4)
    state = decide(TierState(), bad, 5.0)
    assert state.tier == T0
    assert decide(state, bad, 8.5).tier == LOW


def test_a_room_at_low_whose_source_stops_its_low_layer_is_back_at_t0():
    state = TierState(tier=LOW, reason="nack", changed_at=0.0, good_since=0.0)
    assert decide(state, measure(), 1.0).tier == T0


def test_the_chair_may_pin_low():
    state = pin(TierState(), LOW, 1.0)
    assert decide(state, measure(), 2.0).tier == LOW  # even without one: the main feed's T0 then


def test_a_vp8_keyframes_size():
    key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A]) + (320).to_bytes(2, "little") + (180).to_bytes(2, "little")
    assert lowlayer.frame_size(key) == (320, 180)
    assert lowlayer.frame_size(bytes([0x11]) + key[1:]) is None  # an interframe

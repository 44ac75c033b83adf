"""What a subscriber tells the relay about the link it receives on (issue 15, the inputs of a tier
loop): its bandwidth estimate (REMB), the loss and jitter in its receiver reports, and how many
packets it asks again (NACK). Plain data, no aiortc: transport.py records each RTCP packet here.
"""

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

NACK_TAU_S = 1.0  # the NACK rate is a moving average over about this long
NACK_REPEAT_S = 1.0  # a sequence number asked again within this long counts once (receivers repeat their NACKs)
FRESH_S = 3.0  # a REMB or report older than this (~3 reporting intervals) no longer says anything


class SenderFeedback:
    """The feedback about one outgoing stream; updated per RTCP packet, never per RTP packet."""

    __slots__ = (
        "clock",
        "remb_bps",
        "remb_at",
        "fraction_lost",
        "jitter_s",
        "report_at",
        "_nack_rate",
        "_nack_at",
        "nacks",
        "_asked",
    )

    def __init__(self, clock: int):
        self.clock = clock  # RTP ticks per second of the stream
        self.remb_bps: int | None = None
        self.remb_at = 0.0
        self.fraction_lost = 0.0  # 0..1, of the packets sent since the previous report
        self.jitter_s = 0.0
        self.report_at = 0.0
        self.nacks = 0  # sequence numbers asked again, in all
        self._nack_rate = 0.0
        self._nack_at = 0.0
        self._asked: dict[int, float] = {}  # sequence number -> when first asked, recently

    def remb(self, bps: int, now: float | None = None) -> None:
        self.remb_bps = bps
        self.remb_at = time.monotonic() if now is None else now

    def report(self, fraction_lost: int, jitter: int, now: float | None = None) -> None:
        """A receiver report block: fraction lost in 1/256ths, interarrival jitter in RTP ticks (RFC 3550 6.4.1)."""
        self.fraction_lost = fraction_lost / 256
        self.jitter_s = jitter / self.clock
        self.report_at = time.monotonic() if now is None else now

    def nacked(self, count: int, now: float | None = None) -> None:
        """`count` sequence numbers asked again in one NACK packet."""
        now = time.monotonic() if now is None else now
        self.nacks += count
        self._nack_rate = self._decayed(now) + count / NACK_TAU_S
        self._nack_at = now

    def asked(self, seqs, now: float | None = None) -> None:
        """The sequence numbers of one NACK packet: those not asked within NACK_REPEAT_S count (a receiver
        repeats its request for a packet until it comes; the tier loop wants packets missing, not requests)."""
        now = time.monotonic() if now is None else now
        asked = self._asked
        if len(asked) > 512:
            for seq in [s for s, at in asked.items() if now - at > NACK_REPEAT_S]:
                del asked[seq]
        new = 0
        for seq in seqs:
            at = asked.get(seq)
            if at is None or now - at > NACK_REPEAT_S:
                asked[seq] = now
                new += 1
        if new:
            self.nacked(new, now)

    def nack_per_s(self, now: float | None = None) -> float:
        return self._decayed(time.monotonic() if now is None else now)

    def _decayed(self, now: float) -> float:
        # An exponentially weighted event rate: no timer, no per-packet work, 0 when requests stop.
        if not self._nack_rate:
            return 0.0
        return self._nack_rate * math.exp(-max(now - self._nack_at, 0.0) / NACK_TAU_S)


@dataclass(frozen=True)
class Downlink:
    """One subscriber's link as its feedback describes it (fresh reports only).

    remb_bps: its latest bandwidth estimate for everything we send it (REMB covers the whole bundle).
    loss_pct: the highest fraction lost among its streams' latest receiver reports.
    jitter_ms: the highest interarrival jitter among them.
    nack_per_s: packets it asks again per second, all streams together.
    """

    remb_bps: int | None = None
    loss_pct: float = 0.0
    jitter_ms: float | None = None
    nack_per_s: float = 0.0


def downlink(feedbacks: Iterable[SenderFeedback], now: float | None = None) -> Downlink:
    """A subscriber's downlink from the feedback about each stream we send it."""
    now = time.monotonic() if now is None else now
    remb_at, remb, loss, jitter, nacks = -1.0, None, 0.0, None, 0.0
    for fb in feedbacks:
        if fb.remb_bps is not None and now - fb.remb_at <= FRESH_S and fb.remb_at > remb_at:
            remb_at, remb = fb.remb_at, fb.remb_bps
        if fb.report_at and now - fb.report_at <= FRESH_S:
            loss = max(loss, fb.fraction_lost)
            jitter = max(jitter or 0.0, fb.jitter_s)
        nacks += fb.nack_per_s(now)
    return Downlink(
        remb_bps=remb,
        loss_pct=round(loss * 100, 2),
        jitter_ms=round(jitter * 1000, 1) if jitter is not None else None,
        nack_per_s=round(nacks, 1),
    )


# --- the rooms' loss, told to the publisher ---------------------------------------------------------------
# The relay terminates RTCP per hop: a publisher hears only how its own uplink does, so its Opus encoder never
# learns that rooms lose packets and keeps its in-band FEC for a clean link (issue 15, "audio first"). The
# receiver report the relay sends a publisher about its audio carries, as fraction lost, the larger of what the
# relay itself lost and a high percentile of what the rooms receiving that audio lose: Chromium hands a report's
# fraction lost to its Opus encoder (expected loss: more FEC) and shows it as remote-inbound-rtp.fractionLost.
# The cumulative count stays the relay's own, which is what Chromium's loss-based bandwidth estimate reads, so
# the publisher's video rate is untouched (a weak room's video is its tier's business, not every room's).
ECHO_PERCENTILE = 0.9  # with fewer than ten rooms, the worst one; then one broken room in ten does not count
ECHO_MAX = 0.25  # bounded: past this Opus FEC has nothing more to give, and a broken room must not bend the sound
ECHO_TAU_S = 4.0  # the echo falls back this fast (exponentially) once the rooms report less
ECHO_FRESH_S = {"audio": 12.0, "video": FRESH_S}  # Chromium reports on audio every ~5 s, on video every ~1 s


class LossEcho:
    """The loss a feed's rooms report, bounded, held and decaying (state for `echoed_loss`)."""

    __slots__ = ("value", "at")

    def __init__(self):
        self.value = 0.0
        self.at = 0.0

    def update(self, target: float, now: float) -> float:
        decayed = self.value * math.exp(-max(now - self.at, 0.0) / ECHO_TAU_S) if self.value else 0.0
        value = max(min(max(target, 0.0), ECHO_MAX), decayed)
        self.value, self.at = (value if value >= 0.002 else 0.0), now
        return self.value


def room_loss(feedbacks: Iterable[tuple[str, SenderFeedback]], now: float) -> float | None:
    """One room's loss (0..1): the highest among its streams' fresh reports, or None when none is fresh."""
    loss = None
    for kind, fb in feedbacks:
        if fb.report_at and now - fb.report_at <= ECHO_FRESH_S.get(kind, FRESH_S):
            loss = max(loss or 0.0, fb.fraction_lost)
    return loss


def percentile(values: list[float], share: float = ECHO_PERCENTILE) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or under it (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def echoed_loss(feed, now: float | None = None) -> int:
    """What the relay's receiver report on `feed` (a routing.Feed) adds as fraction lost, in 1/256ths: for an
    audio feed, the ECHO_PERCENTILE of its receiving rooms' loss (every stream a room is sent shares its link),
    bounded by ECHO_MAX and decaying over ECHO_TAU_S; 0 for video."""
    if getattr(feed, "kind", None) != "audio":
        return 0
    now = time.monotonic() if now is None else now
    rooms: dict[int, object] = {}
    for slot in feed.slots:
        peer = getattr(slot, "peer", None)  # a PeerSlot's (the recorder's slots have none)
        if peer is not None:
            rooms[id(peer)] = peer
    losses = []
    for peer in rooms.values():
        streams = [
            (s.kind, s.sender.feedback) for k in ("audio", "video") for s in peer.slots[k] if hasattr(s, "sender")
        ]
        loss = room_loss(streams, now)
        if loss is not None:
            losses.append(loss)
    echo = getattr(feed, "loss_echo", None)
    if echo is None:
        echo = feed.loss_echo = LossEcho()
    return min(round(echo.update(percentile(losses), now) * 256), 255)

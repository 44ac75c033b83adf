"""Pacing one room's sending (issue 15): a token bucket at about 1.5x the room's tier rate, so that a
keyframe or a burst of retransmissions does not overflow a thin link's queue, and a cap on what
retransmissions may take of it.

Audio is never queued: it goes at once, outside the bucket, whose rate is the video's (a room never
loses its sound to its own video). Video waits in a bounded queue (about QUEUE_S of the rate); when it is full the
oldest video frame goes, whole, and its slot restarts at a keyframe (its room could not decode what
follows the hole). Retransmissions take at most RTX_SHARE of the rate, from a bucket of their own,
and are charged to the main one too. Plain asyncio, one call per packet; no aiortc.
"""

import asyncio
import time
from collections import deque
from collections.abc import Callable

PACE_FACTOR = 1.5  # the bucket's rate, times the tier's video rate
QUEUE_S = 0.6  # video waits at most about this long; older frames are dropped
QUEUE_MIN_BYTES = 48_000  # a keyframe of a small picture always fits
# What the buckets may send at once. Everything sent at once waits in the thin link's queue, and the sound with
# it: behind 256 kbps the old floors (4 KB of video and 5 KB of retransmissions at once, ~280 ms of that link) were
# the room's longest audio gaps (bench/weaklink.py: 220-320 ms; the cap's queue dropped 23 packets in all).
BURST_S = 0.05  # 50 ms of the bucket's rate (a busy event loop wakes late: it sends what it owes then)
BURST_MIN_BYTES = 1_200  # one full packet: a packet goes whenever the bucket is not in debt
RTX_SHARE = 0.25  # retransmissions: at most this share of the rate
RTX_BURST_BYTES = 2_400
RTX_UNPACED_BPS = 1_000_000  # their cap while the room is not paced (its tier rate not known yet)


class Bucket:
    """A token bucket in bytes; `rate` in bytes per second."""

    __slots__ = ("rate", "size", "tokens", "at")

    def __init__(self, rate: float, size: float):
        self.rate = rate
        self.size = size
        self.tokens = size
        self.at = time.monotonic()

    def refill(self, now: float) -> float:
        tokens = self.tokens + (now - self.at) * self.rate
        self.tokens = tokens if tokens < self.size else self.size
        self.at = now
        return self.tokens


class Pacer:
    """One room's sending: `video(send, owner, packet)` and `audio(send, packet)` instead of `send(packet)`.
    `owner.paced_out()` is called when a frame of the owner's is dropped from the queue."""

    def __init__(self) -> None:
        self.bps = 0.0  # 0: not paced (the tier's rate is not known yet)
        self.bucket: Bucket | None = None
        self.rtx = Bucket(RTX_UNPACED_BPS * RTX_SHARE / 8, RTX_UNPACED_BPS * RTX_SHARE / 8 * 0.25)
        self.queue: deque = deque()  # [owner, packet, send]
        self.queued = 0
        self.max_queued: float = QUEUE_MIN_BYTES
        self.timer: asyncio.TimerHandle | None = None
        # what it did
        self.frames_dropped = 0
        self.rtx_refused = 0
        self.max_delay_s = 0.0

    def set_rate(self, bps: float) -> None:
        """Pace at `bps` bits per second (0: stop pacing and send what waits)."""
        self.bps = bps
        rtx_bps = (bps or RTX_UNPACED_BPS) * RTX_SHARE
        self.rtx.refill(time.monotonic())
        self.rtx.rate = rtx_bps / 8
        # a burst of losses is asked again in one NACK: a quarter second of retransmissions, or 4 packets, at once
        self.rtx.size = max(rtx_bps / 8 * 0.25, RTX_BURST_BYTES)
        if bps <= 0:
            self.bucket = None
            self._flush()
            return
        rate = bps / 8
        size = max(rate * BURST_S, BURST_MIN_BYTES)
        if self.bucket is None:
            self.bucket = Bucket(rate, size)
        else:
            self.bucket.refill(time.monotonic())
            self.bucket.rate, self.bucket.size = rate, size
        self.max_queued = max(rate * QUEUE_S, QUEUE_MIN_BYTES)

    # the send path

    def admit(self, size: int) -> bool:
        """May a video packet of `size` bytes go now, ahead of nothing? Charged if so (the caller sends it);
        if not, the caller hands it to `video`, which queues it."""
        bucket = self.bucket
        if bucket is None:
            return True  # not pacing (set_rate(0) sent what waited)
        if not self.queue and bucket.refill(time.monotonic()) > 0:
            bucket.tokens -= size
            return True
        return False

    def video(self, send: Callable[[bytes], None], owner, packet: bytes) -> None:
        if self.admit(len(packet)):
            send(packet)
        else:
            self.enqueue(owner, packet, send)

    def enqueue(self, owner, packet: bytes, send: Callable[[bytes], None]) -> None:
        """Queue a video packet behind the others (`admit` said no): it goes when the bucket allows."""
        self.queue.append((owner, packet, send, time.monotonic()))
        self.queued += len(packet)
        if self.queued > self.max_queued:
            self._drop_oldest()
        if self.timer is None and self.queue:
            self._schedule()

    def audio(self, send: Callable[[bytes], None], packet: bytes) -> None:
        send(packet)  # not charged: the rate is the video's (audio is a small, steady share on top)

    def allow_rtx(self, size: int) -> bool:
        """May a retransmission of `size` bytes go now? Charged to both buckets if so."""
        now = time.monotonic()
        if self.rtx.refill(now) < size:
            self.rtx_refused += 1
            return False
        self.rtx.tokens -= size
        if self.bucket is not None:
            self.bucket.refill(now)
            self.bucket.tokens -= size
        return True

    # the queue

    def _drop_oldest(self) -> None:
        queue = self.queue
        while self.queued > self.max_queued and queue:
            owner, packet, _send, _at = queue.popleft()
            self.queued -= len(packet)
            stamp = packet[4:8]
            # the rest of that frame: same slot, same RTP timestamp
            while queue and queue[0][0] is owner and queue[0][1][4:8] == stamp:
                self.queued -= len(queue.popleft()[1])
            self.frames_dropped += 1
            owner.paced_out()

    def _schedule(self) -> None:
        bucket = self.bucket
        assert bucket is not None  # only while pacing
        wait = max(-bucket.tokens, 0.0) / bucket.rate if bucket.rate else 0.0
        self.timer = asyncio.get_running_loop().call_later(max(wait, 0.001), self._drain)

    def _drain(self) -> None:
        self.timer = None
        bucket = self.bucket
        if bucket is None:
            self._flush()
            return
        now = time.monotonic()
        bucket.refill(now)
        queue = self.queue
        while queue and bucket.tokens > 0:
            _owner, packet, send, at = queue.popleft()
            self.queued -= len(packet)
            bucket.tokens -= len(packet)
            delay = now - at
            if delay > self.max_delay_s:
                self.max_delay_s = delay
            send(packet)
        if queue:
            self._schedule()

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        queue, self.queue, self.queued = self.queue, deque(), 0
        for _owner, packet, send, _at in queue:
            send(packet)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.queued = 0

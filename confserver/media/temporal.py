"""VP8 temporal layers in the relay (issue 15): which layer a publisher's frame belongs to, which frames
a room's video slot forwards at its tier, and how many bits each layer carries.

A publisher sending `scalabilityMode: "L1T3"` marks each frame's temporal layer (TID 0-2) and layer
sync bit (Y: the frame references only the base layer) in the VP8 payload descriptor (RFC 7741 4.2).
Frames of the upper layers are referenced only by frames of their own or a higher layer, so a room
can be sent T0 (a quarter of the frames), T0+T1 (half) or all of them with no re-encoding and no
keyframe: the slot writes its own sequence numbers and picture IDs (peerslot.PeerSlot), so the room
sees one continuous stream at a lower frame rate. Going down is possible at any frame; going up
only at a layer-sync frame of the layer to add, or at a keyframe. Plain Python, no aiortc.
"""

import time

NO_VIDEO = -1  # the audio-only tier: the slot forwards no video frame
ALL_LAYERS = 2  # TID of the top layer of L1T3


def vp8_temporal(payload: bytes) -> tuple[int | None, bool]:
    """(TID, layer sync) of a VP8 RTP payload's descriptor; TID None when the publisher marks no layers
    (then the whole stream is one layer, 0)."""
    if len(payload) < 2 or not payload[0] & 0x80:
        return None, False
    ext = payload[1]
    if not ext & 0x20:  # T bit: no TID
        return None, False
    pos = 2
    if ext & 0x80:  # I: picture ID, 7 or 15 bits
        if len(payload) <= pos:
            return None, False
        pos += 2 if payload[pos] & 0x80 else 1
    if ext & 0x40:  # L: TL0PICIDX
        pos += 1
    if len(payload) <= pos:
        return None, False
    tk = payload[pos]
    return tk >> 6, bool(tk & 0x20)


class TemporalFilter:
    """Which frames of its source one video slot forwards: layers up to `cap` (TID), moving toward
    `target` set by the room's tier. Down at once; up only where the decoder can follow."""

    __slots__ = ("cap", "target", "dropped", "passed")

    def __init__(self) -> None:
        self.cap = ALL_LAYERS
        self.target = ALL_LAYERS
        self.dropped = 0
        self.passed = 0

    def set_target(self, max_tid: int) -> bool:
        """Aim at layers up to `max_tid` (NO_VIDEO: none). True when the slot must restart at a
        keyframe (it leaves the audio-only tier: the room's decoder has missed references)."""
        self.target = max_tid
        if max_tid < self.cap:
            self.cap = max_tid  # down: dropping upper layers never breaks decoding
            return False
        if self.cap == NO_VIDEO and max_tid > NO_VIDEO:
            self.cap = max_tid  # from audio only: the slot waits for a keyframe anyway
            return True
        return False

    def admit(self, tid: int | None, sync: bool, key: bool) -> bool:
        """Forward this frame? Called per frame on the hot path."""
        cap = self.cap
        if cap == NO_VIDEO:
            self.dropped += 1
            return False
        if key:
            self.cap = self.target  # nothing before a keyframe is referenced: every layer aimed at follows
            self.passed += 1
            return True
        tid = tid or 0
        if tid <= cap:
            self.passed += 1
            return True
        if self.target > cap and tid <= self.target and sync:
            self.cap = tid  # the frame references only T0: its layer can follow
            self.passed += 1
            return True
        self.dropped += 1
        return False


class LayerRates:
    """Bits per second of each temporal layer of one publisher's video, over about WINDOW_S: what each
    tier costs a room. `add` per frame; `cumulative()` when the tier loop asks (about once a second).

    Below the root of a cascade the feed is a link's down track, which its parent may send with its upper
    layers held back (media/links.py: the leaf's rooms are all on a lower tier). Those layers' rates are then
    not measured here but kept from when they came (`hold`): a room stepping up must know what it steps to."""

    WINDOW_S = 2.0
    # libvpx's L1T3 targets: T0 40 %, T0+T1 65 % of the whole; the guess for layers never seen while held back
    SHARES = (0.4, 0.25, 0.35)

    __slots__ = ("_bytes", "_since", "_layer", "layered", "held")

    def __init__(self) -> None:
        self._bytes = [0, 0, 0]
        self._since = time.monotonic()
        self._layer: list[float] | None = None  # each layer's own rate, smoothed
        self.layered = False  # the publisher marks temporal layers
        self.held = ALL_LAYERS  # the layers above this TID do not come (held back upstream)

    def add(self, tid: int | None, size: int) -> None:
        if tid is None:
            self._bytes[0] += size
        else:
            self.layered = True
            self._bytes[tid if tid < 3 else 2] += size

    def hold(self, max_tid: int, now: float | None = None) -> None:
        """Only the layers up to `max_tid` come from now on (NO_VIDEO: none): the others keep their last rate."""
        if max_tid != self.held:
            self.held = max_tid
            self._bytes = [0, 0, 0]  # a window that saw part of a layer would understate it
            self._since = time.monotonic() if now is None else now

    def cumulative(self, now: float | None = None) -> tuple[float, float, float] | None:
        """(T0, T0+T1, all) in bits per second, or None before the first window ends."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._since
        if elapsed >= self.WINDOW_S:
            measured = [8 * b / elapsed for b in self._bytes]
            old, held = self._layer, self.held
            if old is None:
                if held >= ALL_LAYERS or held < 0:
                    layer = measured if held >= 0 else None
                else:  # never seen whole: guess the missing layers from the base layer's share
                    base = measured[0] / self.SHARES[0]
                    layer = [m if tid <= held else base * self.SHARES[tid] for tid, m in enumerate(measured)]
            else:  # smoothed: a window with a keyframe and one without differ a lot
                layer = [0.5 * (o + m) if tid <= held else o for tid, (o, m) in enumerate(zip(old, measured))]
            self._layer = layer
            self._bytes = [0, 0, 0]
            self._since = now
        layer = self._layer
        if layer is None:
            return None
        b0, b1, b2 = layer
        # one layer (not marked): no lower tier saves anything
        return (b0, b0 + b1, b0 + b1 + b2) if self.layered else (b0, b0, b0)

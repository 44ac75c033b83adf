"""The shared low layer (issue 15): a 320x180, ~15 fps, ~150 kbps picture of a source for the rooms whose
link does not carry even its base temporal layer (media/tiers.py LOW, between T0 and audio only).

It comes from the publisher: the publishing page sends a second video track, a `clone()` of its camera, with
`scaleResolutionDownBy`, `maxBitrate` and `maxFramerate` (web/js/media.js), on a sendonly m-line after the
others; stock aiortc receives it (media/transport.py `adopt_transceivers` makes it the source's second `Feed`).
Chosen over decoding once and encoding once per meeting in the relay (PyAV/libvpx) because the relay stays a
forwarder: no decoder, no encoder and no extra process per meeting (that was measured at 2-4 % of a core per
meeting, on machines that carry 2 relays per core), no added delay and no second generation of coding loss;
the cost is the publisher's (one more small encoder in the browser and ~150 kbps of its uplink), paid only by
the few pages that publish the program: the chair's console, and a room while it has the floor or broadcasts
(docs/low-layer.md). A room at LOW gets the source's low layer through the same routing as a change of source
(routing.Slot.want_low): it switches at the low layer's keyframe and back at the main feed's, and its
timestamps, sequence numbers and picture IDs run on. A source that sends none leaves the ladder without LOW.
"""

import time

from .routing import LOW_LIVE_S, Feed
from .tiers import LOW

KEY = "video_low"  # the low feed's key in the relay's peer.feeds (the main feed is "video")


def new_feed(relay, peer, receiver) -> Feed:
    """The publisher's low layer: a video feed tied to its main one (made after it, m-line order)."""
    main = peer.feeds["video"]
    peer.feeds[KEY] = low = Feed(relay, peer, "video", receiver)
    low.main, main.low = main, low
    return low


def live(feed: "Feed | None") -> bool:
    return feed is not None and time.monotonic() - feed.last_frame_at < LOW_LIVE_S


def rate(main: "Feed | None") -> float | None:
    """The bits per second of the low layer of the source `main`, None while it sends none (the tier loop's
    Measure.low_bps: LOW is on a room's ladder only then)."""
    low = main.low if main is not None else None
    if not live(low):
        return None
    rates = low.layers.cumulative()
    return rates[2] if rates is not None and rates[2] > 0 else None


def follow(peer, tier: str) -> None:
    """Route the room's video slots to their sources' low layers at LOW, else to the main feeds (each at the
    keyframe of the feed it takes). Called on every turn of the room's tier loop: a low layer that stops is left
    for the main feed."""
    want = tier == LOW
    for slot in peer.slots["video"]:
        slot.want_low(want)


def frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a VP8 keyframe's header (RFC 6386 9.1), None for other frames."""
    if len(data) < 10 or data[0] & 1 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF


class Meter:
    """The low layer's figures over a span (tests and bench/weaklink.py): its rate, frame rate and size."""

    def __init__(self, low: Feed):
        self.low = low
        self.start = (time.monotonic(), low.bytes_in, low.frames_in)

    def read(self) -> dict:
        then, bytes_in, frames = self.start
        elapsed = max(time.monotonic() - then, 1e-3)
        size = frame_size(self.low.key_head)
        return {
            "low_kbps": round((self.low.bytes_in - bytes_in) * 8 / elapsed / 1000, 1),
            "low_fps": round((self.low.frames_in - frames) / elapsed, 1),
            "low_size": f"{size[0]}x{size[1]}" if size else None,
        }

"""The fast start (media/routing.py Slot.take): a room whose decoder starts afresh gets the source's cached
keyframe and the frames since at once, and only those of its tier's temporal layers (issue 15: a room at T0
behind a thin link was sent every layer of the cached frames at the worst moment, its keyframe)."""

from types import SimpleNamespace

from confserver.media.frames import Frame
from confserver.media.routing import Slot
from confserver.media.temporal import NO_VIDEO

L1T3 = (0, 2, 1, 2)  # each frame's temporal layer, repeating from the keyframe


class Capture(Slot):
    """A slot whose delivery keeps the frames it was handed."""

    def __init__(self) -> None:
        super().__init__("video", 0)
        self.ready = True
        self.sent: list[Frame] = []

    def _output(self):
        return lambda packet: None

    def _send(self, send, frame, ts, ntp, ast) -> None:
        self.sent.append(frame)


def gop(count: int) -> list[Frame]:
    return [
        Frame(1000 + 3000 * i, bytes([i]) * 50, i == 0, tid=L1T3[i % 4], sync=L1T3[i % 4] == 1 and i < 4)
        for i in range(count)
    ]


def source(frames: list[Frame]):
    """What Slot.take reads of a feed: its cached frames; a main feed (no `main`); keyframe requests counted."""
    feed = SimpleNamespace(gop=frames, main=None, want_key=False, slots=[], asked=0)
    feed.request_keyframe = lambda: setattr(feed, "asked", feed.asked + 1)
    return feed


def start_at(max_tid: int, frames: list[Frame]) -> Capture:
    slot, feed = Capture(), source(frames)
    slot.current = feed
    slot.layers.set_target(NO_VIDEO)  # back from audio only: the slot restarts at a keyframe
    slot.layers.set_target(max_tid)
    slot.waiting_key = True
    slot.take(feed, frames[-1], 0.0, 0, b"")
    assert feed.asked == 0  # started from the cache, no keyframe asked for
    return slot


def test_a_room_at_t0_is_started_with_the_cached_keyframe_and_the_base_layer_only():
    frames = gop(9)  # the last one (index 8) is on T0: the frame that starts the room
    slot = start_at(0, frames)
    assert [f.ts for f in slot.sent] == [frames[i].ts for i in (0, 4, 8)]
    assert slot.layers.cap == 0 and slot.fast_starts == 1


def test_a_room_at_t0t1_gets_layers_0_and_1_and_a_full_room_every_cached_frame():
    frames = gop(9)
    assert [f.tid for f in start_at(1, frames).sent] == [0, 1, 0, 1, 0]
    assert len(start_at(2, frames).sent) == 9

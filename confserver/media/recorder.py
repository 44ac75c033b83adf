"""The program recorder: a subscriber of the relay that writes instead of sends (issue 10, items 1-4).

It follows the program exactly as a room's slots do (video slot 0: the program's video source;
audio slot 0: the chair; audio slot 1: the source room), through the same routing code: a source
switches at its keyframe, timestamps continue across switches, a new recording starts from the
source's cached keyframe or one asked for. Its "send" appends each frame, already reassembled by the
feed (VP8 payload descriptors stripped; Opus as it came), to a batch as a `(stream, data, rtp_ts,
keyframe)` tuple (recording/packets.py: the slot's RTP timestamp, zero when recording started; the
writer thread unwraps it onto one clock for audio and video). `put` is `Recorder.put`: the batch goes
to its `Recorder.put_frames` every FLUSH_S, one queue operation per batch instead of per packet, and the
recorders of the loop hand over together, so the process's writer thread wakes once for all of them; the
writing happens on that thread, off the forwarding path.

This event loop forwards every meeting of the process, so the slot's steady state (its source's frames,
no switch, no catch-up) takes a short path: one tuple appended (bench/_recording_cpu.py measures it).

Browsers send keyframes only when asked: while recording, the program's video source is asked for
one whenever the file has had none for `keyframe_s` (seeking needs them, issue 10 item 4).
"""

import asyncio
import time
import weakref
from collections.abc import Callable
from fractions import Fraction

from confserver.recording.packets import (
    AUDIO,
    AUDIO_TRACKS,
    CLOCKS,
    STREAM_AUDIO,
    STREAM_VIDEO,
    VIDEO,
    EncodedPacket,
    RtpClock,
)

from .frames import Frame
from .routing import Slot

# Ask this long before a keyframe is due: the request's round trip and the next frame of the
# source, so the file's keyframes come about every keyframe_s, not keyframe_s plus that.
KEYFRAME_LEAD_S = 0.3
FLUSH_S = 0.2  # at most this much more is lost when the process is killed (the muxer's own bound is ~1 s)
_TIME_BASES = [Fraction(1, clock) for clock in CLOCKS]


class RecordSlot(Slot):
    """One output of the recorder: its frames become hand-over tuples, timestamps counted from the start."""

    def __init__(self, recorder: "ProgramRecorder", kind: str, index: int, started: float):
        super().__init__(kind, index)
        self.recorder = recorder
        self.ready = True
        self.stream = STREAM_VIDEO if kind == VIDEO else STREAM_AUDIO + index
        self.video = kind == VIDEO
        self.add = recorder.batch.append  # the batch is emptied in place (ProgramRecorder.flush)
        # The routing anchors the first frame at "last frame sent + time since": make that the
        # time since recording started, on the kind's clock, for audio and video alike.
        self.last_ts = 0
        self.last_time = started
        self.frames = 0

    def take(self, feed, frame: Frame, now: float, ntp: int, ast: bytes) -> None:
        # The steady state, as Slot.take would do it: the current source's frame, nothing to re-anchor, switch
        # or catch up. Anything else goes the general way (which calls _send).
        if feed is not self.current or self.anchor or self.waiting_key or self.recorder.refused:
            Slot.take(self, feed, frame, now, ntp, ast)
            return
        self.last_ts = ts = (frame.ts + self.ts_offset) & 0xFFFFFFFF
        self.last_time = now
        self.frames += 1
        key = frame.key
        self.add((self.stream, frame.data, ts, key))
        if key and self.video:
            self.recorder.last_key = now

    def _output(self):
        return None if self.recorder.refused else self.add

    def _send(self, add, frame: Frame, ts: int, ntp: int, ast: bytes) -> None:
        self.frames += 1
        add((self.stream, frame.data, ts, frame.key))
        if frame.key and self.video:
            self.recorder.last_key = time.monotonic()


class ProgramRecorder:
    """The recorder's slots and its keyframe clock; the relay routes the slots with the program."""

    # Never a peer's id: the recorder is no room, so it takes the program's picture even when
    # the chair is the program's source, and hears the chair (a peer's own audio slot is silent).
    id = "(recorder)"

    def __init__(self, put: Callable[[EncodedPacket], bool], keyframe_s: float):
        self.put = put
        # `put` is Recorder.put (segments.py): hand its Recorder.put_frames a whole batch of tuples, one queue
        # operation for ~26 packets instead of one each (the owner, local.py, passes only `put`). Any other
        # callable gets EncodedPackets one by one.
        self.put_frames: Callable[[list[tuple]], bool] | None = getattr(
            getattr(put, "__self__", None), "put_frames", None
        )
        self._clock: RtpClock | None = None  # for EncodedPackets (a `put` that takes no tuples)
        self.keyframe_s = keyframe_s
        self.refused = False  # the writer stopped or failed: its owner detaches us (not inside a fan-out)
        self.batch: list[tuple] = []  # (stream, data, rtp_ts, keyframe): packets.STREAM_*, RtpClock
        started = self.last_key = time.monotonic()
        self.video = RecordSlot(self, VIDEO, 0, started)
        self.slots: dict[str, list[Slot]] = {
            "video": [self.video],
            "audio": [RecordSlot(self, AUDIO, track, started) for track in range(AUDIO_TRACKS)],
        }
        loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = loop.call_later(max(keyframe_s - KEYFRAME_LEAD_S, 0.1), self._tick)
        self._loop = loop
        _flushed_together(loop).append(self)

    def _tick(self) -> None:
        now = time.monotonic()
        due = self.last_key + self.keyframe_s - KEYFRAME_LEAD_S
        if now >= due:
            self.video.keyframe_requested()  # the feed coalesces it and asks again until one comes
            due = now + self.keyframe_s
        self._timer = asyncio.get_running_loop().call_later(max(due - now, 0.05), self._tick)

    def flush(self) -> None:
        """Hand what was recorded since the last flush to the writer: in one call when it takes batches."""
        batch = self.batch
        if not batch:
            return
        if self.put_frames is not None:
            taken = self.put_frames(batch)  # takes a copy
            batch.clear()  # in place: the slots append to this list
            if not taken:
                self.refused = True
            return
        frames = batch.copy()
        batch.clear()
        put = self.put
        for packet in self.packets(frames):
            if not put(packet):
                self.refused = True
                return

    def packets(self, frames: list[tuple]) -> list[EncodedPacket]:
        """Hand-over tuples as EncodedPackets (pts unwrapped on each stream's RTP clock)."""
        if self._clock is None:
            self._clock = RtpClock()
        pts = self._clock.pts
        return [
            EncodedPacket(VIDEO, data, pts(stream, ts), _TIME_BASES[stream], key)
            if stream == STREAM_VIDEO
            else EncodedPacket(AUDIO, data, pts(stream, ts), _TIME_BASES[stream], True, stream - STREAM_AUDIO)
            for stream, data, ts, key in frames
        ]

    def close(self) -> None:
        """Hand over what is left and leave every source; nothing more is put."""
        if not self.refused:
            self.flush()
        self.refused = True
        self.batch.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        together = _flushing.get(self._loop)
        if together is not None and self in together:
            together.remove(self)
        for slots in self.slots.values():
            for slot in slots:
                slot._drop_pending()
                slot._detach_current()


# The recorders of an event loop hand their batches over together, every FLUSH_S: the process's one writer thread
# (recording/recorder.py) is woken once for all of them, not once per meeting.
_flushing: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[ProgramRecorder]]" = weakref.WeakKeyDictionary()


def _flushed_together(loop: asyncio.AbstractEventLoop) -> list[ProgramRecorder]:
    together = _flushing.get(loop)
    if together is None:
        together = _flushing[loop] = []
        loop.call_later(FLUSH_S, _flush_all, loop)
    return together


def _flush_all(loop: asyncio.AbstractEventLoop) -> None:
    together = _flushing.get(loop)
    if not together:
        _flushing.pop(loop, None)  # the next recorder starts the timer again
        return
    for recorder in list(together):
        recorder.flush()
    loop.call_later(FLUSH_S, _flush_all, loop)

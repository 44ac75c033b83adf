"""The program recorder: a subscriber of the relay that writes instead of sends (issue 10, items 1-4).

It follows the program exactly as a room's slots do (video slot 0: the program's video source;
audio slot 0: the chair; audio slot 1: the source room), through the same routing code: a source
switches at its keyframe, timestamps continue across switches, a new recording starts from the
source's cached keyframe or one asked for. Its "send" hands each frame, already reassembled by the
feed (VP8 payload descriptors stripped; Opus as it came), to `put` as an `EncodedPacket`, with pts
on one clock for audio and video (zero when recording started). `put` is `Recorder.put`: it only
queues, the writing happens on the recorder's thread, off the forwarding path. Packets are handed
over every FLUSH_S rather than one by one, as one batch (`Recorder.put_many`): each hand-over wakes the
writer thread, and a queue operation and wake-up per packet cost more CPU than the writing
(bench/_recording_cpu.py).

Browsers send keyframes only when asked: while recording, the program's video source is asked for
one whenever the file has had none for `keyframe_s` (seeking needs them, issue 10 item 4).
"""
import asyncio
import time
from collections.abc import Callable
from fractions import Fraction

from confserver.recording.packets import AUDIO, AUDIO_TRACKS, VIDEO, EncodedPacket

from .frames import Frame
from .routing import CLOCK, Slot

# Ask this long before a keyframe is due: the request's round trip and the next frame of the
# source, so the file's keyframes come about every keyframe_s, not keyframe_s plus that.
KEYFRAME_LEAD_S = 0.3
FLUSH_S = 0.2  # at most this much more is lost when the process is killed (the muxer's own bound is ~1 s)


class RecordSlot(Slot):
    """One output of the recorder: its frames become EncodedPackets, pts counted from the start."""

    def __init__(self, recorder: "ProgramRecorder", kind: str, index: int, started: float):
        super().__init__(kind, index)
        self.recorder = recorder
        self.ready = True
        # The routing anchors the first frame at "last frame sent + time since": make that the
        # time since recording started, on the kind's clock, for audio and video alike.
        self.last_ts = 0
        self.last_time = started
        self.time_base = Fraction(1, CLOCK[kind])
        self.pts = 0  # last_ts unwrapped (RTP timestamps are 32 bits)
        self.frames = 0

    def _output(self):
        recorder = self.recorder
        return None if recorder.refused else recorder.batch.append

    def _send(self, add, frame: Frame, ts: int, ntp: int, ast: bytes) -> None:
        delta = (ts - self.pts) & 0xFFFFFFFF
        self.pts += delta - 0x100000000 if delta >= 0x80000000 else delta
        if self.kind == VIDEO:
            packet = EncodedPacket(VIDEO, frame.data, self.pts, self.time_base, frame.key)
            if frame.key:
                self.recorder.last_key = time.monotonic()
        else:
            packet = EncodedPacket(AUDIO, frame.data, self.pts, self.time_base, True, self.index)
        self.frames += 1
        add(packet)


class ProgramRecorder:
    """The recorder's slots and its keyframe clock; the relay routes the slots with the program."""

    # Never a peer's id: the recorder is no room, so it takes the program's picture even when
    # the chair is the program's source, and hears the chair (a peer's own audio slot is silent).
    id = "(recorder)"

    def __init__(self, put: Callable[[EncodedPacket], bool], keyframe_s: float):
        self.put = put
        # `put` is Recorder.put (segments.py): hand its Recorder.put_many a whole batch, one queue operation for
        # ~26 packets instead of one each (the owner, local.py, passes only `put`). Any other callable gets
        # packets one by one.
        self.put_many: Callable[[list[EncodedPacket]], bool] | None = getattr(
            getattr(put, "__self__", None), "put_many", None)
        self.keyframe_s = keyframe_s
        self.refused = False  # the writer stopped or failed: its owner detaches us (not inside a fan-out)
        self.batch: list[EncodedPacket] = []
        started = self.last_key = time.monotonic()
        self.video = RecordSlot(self, VIDEO, 0, started)
        self.slots: dict[str, list[Slot]] = {
            "video": [self.video],
            "audio": [RecordSlot(self, AUDIO, track, started) for track in range(AUDIO_TRACKS)],
        }
        loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = loop.call_later(max(keyframe_s - KEYFRAME_LEAD_S, 0.1), self._tick)
        self._flusher: asyncio.TimerHandle | None = loop.call_later(FLUSH_S, self._flush_soon)

    def _tick(self) -> None:
        now = time.monotonic()
        due = self.last_key + self.keyframe_s - KEYFRAME_LEAD_S
        if now >= due:
            self.video.keyframe_requested()  # the feed coalesces it and asks again until one comes
            due = now + self.keyframe_s
        self._timer = asyncio.get_running_loop().call_later(max(due - now, 0.05), self._tick)

    def _flush_soon(self) -> None:
        self.flush()
        self._flusher = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_soon)

    def flush(self) -> None:
        """Hand what was recorded since the last flush to the writer: in one call when it takes batches."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        if self.put_many is not None:
            if not self.put_many(batch):
                self.refused = True
            return
        put = self.put
        for packet in batch:
            if not put(packet):
                self.refused = True
                return

    def close(self) -> None:
        """Hand over what is left and leave every source; nothing more is put."""
        if not self.refused:
            self.flush()
        self.refused = True
        self.batch = []
        for timer in (self._timer, self._flusher):
            if timer is not None:
                timer.cancel()
        self._timer = self._flusher = None
        for slots in self.slots.values():
            for slot in slots:
                slot._drop_pending()
                slot._detach_current()

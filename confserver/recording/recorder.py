"""Recorders: each meeting's bounded queue of packets, written by one writer thread for the whole process.

Issue 10 (recording), item 3: the relay's event loop only queues; writing happens off the forwarding path. One
thread writes every recording of the process, in turns (at most TURN_BATCHES batches of a recorder before the
next recorder's), instead of a thread per meeting: a relay process records 20 and more meetings, and waking 20
threads five times a second cost more CPU than the writing itself (bench/_recording_cpu.py). A write error, a
sink's failure or any exception stops that meeting's recording only; the thread goes on with the others, and ends
when no recorder is left. Every meeting writes under the same RECORDINGS_ROOT: a disk that stalls stalls them all,
each with its own queue bound (queue_full), as it did with a thread each.
"""

import collections
import logging
import operator
import queue
import threading
from collections.abc import Callable

from confserver.observability import metrics

from .packets import EncodedPacket
from .segments import WRITE_ERRORS, ClosedSegment, SegmentedWriter, SegmentSink

log = logging.getLogger("confserver.recording")

TURN_BATCHES = 4  # a recorder's batches written in one turn (~0.8 s of its program) before the next recorder's
IDLE_S = 5.0  # the writer thread ends after this long with no recorder left
THREAD_NAME = "recording-writer"

_STOP = object()
_DATA = operator.itemgetter(1)  # a hand-over tuple's bytes


class _Frames(list):
    """A batch of the relay's hand-over tuples (a plain list or tuple is a batch of EncodedPackets)."""

    __slots__ = ()


class Recorder:
    """A meeting's recording: a bounded queue the writer thread empties into a SegmentedWriter; `put` never blocks
    and never raises.

    On a full queue or a write error it stops, closes what it can and calls `on_failure(code, detail)` once, from
    a thread that is not the caller's. Codes: queue_full, disk_error, error.
    """

    def __init__(
        self,
        sink: SegmentSink,
        on_failure: Callable[[str, str], None] | None = None,
        segment_s: float | None = None,
        max_queue: int | None = None,
        name: str = "recorder",
    ):
        from django.conf import settings

        self.name = name
        self._writer = SegmentedWriter(sink, segment_s if segment_s is not None else settings.RECORDING_SEGMENT_S)
        # Batches wait in a deque; the bound is on packets, counted in _pending. `_scheduled`: the recorder is in
        # the writer thread's turns (queued or being written), so a new batch needs no wake-up.
        self._batches: collections.deque = collections.deque()
        self.max_queue = max_queue or settings.RECORDING_QUEUE_PACKETS
        self._pending = 0  # packets queued and not yet written (under _lock)
        self._scheduled = False  # (under _lock)
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._done = threading.Event()  # the writer closed the segment (or gave it up) and finished the sink
        self.failure: tuple[str, str] | None = None
        self.stopped = False
        self._thread = _writer_thread.register(self)

    @property
    def segments(self) -> list[ClosedSegment]:
        return list(self._writer.closed)

    def put(self, packet: EncodedPacket) -> bool:
        """Queue one packet; False once the recorder has stopped or failed."""
        return self.put_many((packet,))

    def put_frames(self, frames: list) -> bool:
        """put_many for the relay's hand-over: `(stream, data, rtp_ts, keyframe)` tuples (packets.RtpClock), all
        from one relay slot set, in order. Same bound, same answers; the recorder keeps a copy of the list."""
        return self.put_many(_Frames(frames))

    def put_many(self, packets: "list[EncodedPacket] | tuple[EncodedPacket, ...]") -> bool:
        """Queue packets, in order, as one hand-over (one queue operation and at most one wake-up of the writer
        for the whole batch); all or none. False once the recorder has stopped or failed, or when the batch
        would take the queue past `max_queue` packets (then the recorder fails with queue_full). The writer thread
        reads the list itself: the caller must not change it afterwards."""
        if self.stopped:
            return False
        n = len(packets)
        wake = False
        with self._lock:
            full = self._pending + n > self.max_queue
            if not full and n:
                self._pending += n
                self._batches.append(packets)
                wake, self._scheduled = not self._scheduled, True
        if full:
            # The writer may be stuck on the disk: tell the owner from a fresh thread, now.
            if self._fail("queue_full", f"hàng đợi đầy ({self.max_queue} gói) / queue full"):
                threading.Thread(target=self._report, name="recorder-failure", daemon=True).start()
            return False
        if wake:
            self._thread.schedule(self)
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Finish the queued packets, close the segment; True if the writer finished it in time."""
        self.stopped = True
        with self._lock:
            self._batches.append(_STOP)  # the bound is on packets, and nothing more is put now
            wake, self._scheduled = not self._scheduled, True
        if wake:
            self._thread.schedule(self)
        return self._done.wait(timeout)

    def _fail(self, code: str, detail: str) -> bool:
        with self._lock:
            if self.failure is not None:
                return False
            self.failure = (code, detail)
            self.stopped = True
            return True

    def _report(self) -> None:
        log.error("recording stopped: %s %s", *self.failure)
        if self._on_failure is not None:
            try:
                self._on_failure(*self.failure)
            except Exception:
                log.exception("recording failure callback raised")

    # on the writer thread

    def _turn(self) -> bool:
        """Write up to TURN_BATCHES batches; True while the recorder has more (it stays scheduled)."""
        writer = self._writer
        try:
            for _ in range(TURN_BATCHES):
                with self._lock:
                    batch = self._batches.popleft() if self._batches else None
                    if batch is None:
                        self._scheduled = False
                        return False
                if batch is _STOP or self.failure is not None:
                    # Stopped, or the queue overflowed: the segment written so far is still closed properly.
                    writer.close()
                    self._finish()
                    return False
                if type(batch) is _Frames:
                    writer.write_frames(batch)
                    # metrics.recorded's count, without a Python step a packet
                    metrics.RECORDING_BYTES.inc(sum(map(len, map(_DATA, batch))))
                else:
                    write = writer.write
                    for packet in batch:
                        write(packet)
                    metrics.recorded(batch)
                with self._lock:
                    self._pending -= len(batch)
            return True
        except WRITE_ERRORS as e:
            self._abandon()
            if self._fail("disk_error", f"lỗi ghi đĩa / write failed: {e}"):
                self._report()
        except Exception as e:  # one meeting's failure never ends the others' writing
            log.exception("recorder %s crashed", self.name)
            self._abandon()
            if self._fail("error", repr(e)):
                self._report()
        self._finish()
        return False

    def _abandon(self) -> None:
        try:
            self._writer.abandon()
        except Exception:  # a writer broken past its file's own errors: the thread still serves the others
            log.exception("recorder %s: abandoning its segment failed", self.name)

    def _finish(self) -> None:
        with self._lock:
            self._batches.clear()
            self._pending = 0
            self._scheduled = True  # never again: a late put finds the recorder stopped
        try:
            self._writer.sink.finished()
        except Exception:
            log.exception("recording sink cleanup failed")
        self._done.set()
        _writer_thread.unregister(self)


class _WriterThread:
    """The process's writer thread: recorders with batches take turns; started on demand, ends when idle."""

    def __init__(self):
        self._lock = threading.Lock()
        self._turns: queue.SimpleQueue = queue.SimpleQueue()  # recorders with work, in order
        self._recorders: set[Recorder] = set()
        self._thread: threading.Thread | None = None

    @property
    def native_id(self) -> int | None:
        thread = self._thread
        return thread.native_id if thread is not None else None

    def register(self, recorder: Recorder) -> "_WriterThread":
        with self._lock:
            self._recorders.add(recorder)
            if self._thread is None:
                self._start()
        return self

    def unregister(self, recorder: Recorder) -> None:
        with self._lock:
            self._recorders.discard(recorder)

    def schedule(self, recorder: Recorder) -> None:
        self._turns.put(recorder)

    def _run(self) -> None:
        turns = self._turns
        try:
            while True:
                try:
                    recorder = turns.get(timeout=IDLE_S)
                except queue.Empty:
                    with self._lock:
                        if not self._recorders and turns.empty():
                            self._thread = None
                            return
                    continue
                try:
                    more = recorder._turn()
                except Exception:  # _turn handles its meeting's errors; this is a bug in that handling
                    log.exception("recording writer: %s's turn failed", recorder.name)
                    more = False
                    recorder._fail("error", "writer turn failed")
                    recorder._done.set()
                    self.unregister(recorder)
                if more:
                    turns.put(recorder)  # more to write: after the others' turns
        finally:
            with self._lock:  # ended by an error of its own: the recorders left get another thread
                if self._thread is threading.current_thread():
                    self._thread = None
                    if self._recorders:
                        self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()


_writer_thread = _WriterThread()

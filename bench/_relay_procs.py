"""The processes of bench/relay.py: relay, publisher, subscriber bots.

Each runs an asyncio loop that takes (command, args) from a pipe to the
orchestrator and answers ("ok", result) or ("error", traceback).
"""

import asyncio
import fractions
import os
import sys
import time
import traceback

import av
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _relay_clips import FPS, PREFIX, frame_names, load_clips  # noqa: E402

from confserver.media.bot import CountingSubscriber  # noqa: E402
from confserver.media.config import IceConfig  # noqa: E402
from confserver.media.frames import parse_vp8_descriptor  # noqa: E402
from confserver.media.relay import Relay  # noqa: E402
from confserver.media.taps import on_keyframe_request, quiet_peer  # noqa: E402
from confserver.media.transport import apply_ice_config, new_peer_connection  # noqa: E402

ICE = IceConfig.loopback()
DEBUG = bool(os.environ.get("BENCH_DEBUG"))  # dump every hop to /tmp/bench-hops-PID.txt


def _pin(cpu: int, realtime: bool) -> None:
    """Run on `cpu` only and, with `realtime` (root only), ahead of whatever else shares
    the machine, e.g. a test run alongside: SCHED_FIFO, which the kernel still caps at
    95% of a CPU. Otherwise (or if refused) a session of its own at autogroup nice -10."""
    os.sched_setaffinity(0, {cpu})
    try:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            return
    except OSError:
        pass
    try:
        os.setsid()
        with open("/proc/self/autogroup", "w") as f:
            f.write("-10")
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def _serve(conn, handle) -> None:
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "quit":
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", await handle(command, *args)))
        except Exception:
            conn.send(("error", traceback.format_exc()))


# --- relay ---------------------------------------------------------------------------


def relay_main(conn, cpu: int, realtime: bool, naive: bool) -> None:
    _pin(cpu, realtime)
    if os.environ.get("BENCH_RELAY_GC") != "default":  # as `manage.py run_relay` does
        from confserver.runtime import DEFAULT_GC_THRESHOLDS, tune_gc

        tune_gc(DEFAULT_GC_THRESHOLDS)
    asyncio.run(_relay(conn, naive))


async def _relay(conn, naive: bool) -> None:
    if naive:
        from _relay_naive import NaiveRelay

        relay = NaiveRelay(ICE, publisher="pubA")
    else:
        relay = Relay(ICE)
        if DEBUG:
            _log_fan_out(relay)

    async def handle(command, *args):
        if command == "open":
            return [(peer_id, await relay.open_peer(peer_id, offer)) for peer_id, offer in args[0]]
        if command == "program":
            relay.set_program(*args)
            return time.time()
        if command == "cpu":
            times = os.times()
            return times.user, times.system, time.monotonic()
        if command == "stats":
            stats = relay.stats()
            return {
                "peers": len(stats),
                "connected": sum(s.connected for s in stats.values()),
                "loss_in_pct": max((s.loss_in_pct for s in stats.values()), default=0.0),
            }
        raise ValueError(command)

    await _serve(conn, handle)
    await relay.close()


def _log_fan_out(relay) -> None:
    """BENCH_DEBUG: log every video fan-out (wall time, RTP ts, slots, seconds taken)."""
    rows = []
    original = relay._fan_out

    def fan_out(feed, frame):
        started = time.time()
        original(feed, frame)
        if feed.kind == "video":
            rows.append((started, frame.ts, len(feed.slots), time.time() - started))
            if len(rows) % 300 == 0:
                with open(f"/tmp/bench-fanout-{os.getpid()}.txt", "w") as f:
                    f.writelines(" ".join(map(str, row)) + "\n" for row in rows)

    relay._fan_out = fan_out


# --- publisher -----------------------------------------------------------------------


class _ReplayVideo(MediaStreamTrack):
    """Sends the clip's packets at 30 fps; restarts it (keyframe) when asked for one."""

    kind = "video"

    def __init__(self, frames: list[bytes], sent_at, base: int):
        super().__init__()
        self.frames = frames
        self.sent_at = sent_at
        self.base = base
        self.count = 0
        self.index = 0
        self.start: float | None = None
        self.restart = False

    async def recv(self) -> av.Packet:
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.count / FPS - time.monotonic()))
        if self.restart:
            self.restart = False
            self.index = 0
        packet = av.Packet(self.frames[self.index])
        packet.pts = self.count * (90000 // FPS)
        packet.time_base = fractions.Fraction(1, 90000)
        self.sent_at[self.base + self.index] = time.time()
        self.index = (self.index + 1) % len(self.frames)
        self.count += 1
        return packet


class _ReplayAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self, packets: list[bytes]):
        super().__init__()
        self.packets = packets
        self.count = 0
        self.start: float | None = None

    async def recv(self) -> av.Packet:
        if self.start is None:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.count * 0.02 - time.monotonic()))
        packet = av.Packet(self.packets[self.count % len(self.packets)])
        packet.pts = self.count * 960
        packet.time_base = fractions.Fraction(1, 48000)
        self.count += 1
        return packet


def publisher_main(conn, cpu: int, realtime: bool, sent_at) -> None:
    _pin(cpu, realtime)
    asyncio.run(_publisher(conn, sent_at))


async def _publisher(conn, sent_at) -> None:
    clips = load_clips()
    pcs = {}

    async def handle(command, *args):
        if command == "offers":
            offers = []
            for name, clip_index in args[0]:
                pc = new_peer_connection(ICE, max_bundle=True)
                video = _ReplayVideo(clips[clip_index].video, sent_at, clip_index * len(clips[clip_index].video))
                sender = pc.addTransceiver(video, direction="sendrecv").sender
                pc.addTransceiver(_ReplayAudio(clips[clip_index].audio), direction="sendrecv")
                on_keyframe_request(sender, lambda video=video: setattr(video, "restart", True))
                quiet_peer(pc)  # it receives the program too: do not decode it
                apply_ice_config(pc, ICE)
                await pc.setLocalDescription(await pc.createOffer())
                pcs[name] = pc
                offers.append((name, pc.localDescription.sdp))
            return offers
        if command == "accept":
            for name, answer in args[0]:
                await pcs[name].setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            return True
        if command == "close":
            for pc in pcs.values():
                await pc.close()
            pcs.clear()
            return True
        if command == "cpu":
            return _cpu_seconds(), time.monotonic()
        raise ValueError(command)

    await _serve(conn, handle)
    for pc in pcs.values():
        await pc.close()


# --- subscriber bots -----------------------------------------------------------------


def poll_subscribers(subs: dict, interval: float = 0.005) -> asyncio.Task:
    """Drain every polled subscriber in `subs` once per tick (one wake-up for all of them; kernel timestamps keep
    the arrival times exact). Cancel the task when done."""

    async def poll() -> None:
        while True:
            await asyncio.sleep(interval)
            for sub in list(subs.values()):
                sub.drain()

    return asyncio.ensure_future(poll())


async def accept_answers(subs: dict, answers, waiting, timeout: float) -> int:
    """Give each named subscriber its relay's answer; how many of `waiting` connect within `timeout`."""
    for name, answer in answers:
        await subs[name].accept(answer)
    results = await asyncio.gather(*(s.wait_connected(timeout) for s in waiting), return_exceptions=True)
    return sum(r is None for r in results)


class _Watch:
    """What the bots of one process measure, between `mark` and `report`."""

    def __init__(self, sent_at, names, frames_per_clip: int):
        self.sent_at = sent_at
        self.names = names
        self.frames_per_clip = frames_per_clip
        self.on = False
        self.hops: list[float] = []
        self.switch_to: int | None = None
        self.switch_arrivals: list[float] = []
        self.debug: list = []

    def name(self, sub, packet: bytes):
        try:
            plain = sub.unprotect(packet)
        except Exception:
            return None
        head = 12 + 4 * (plain[0] & 0x0F)
        if plain[0] & 0x10:
            head += 4 + 4 * int.from_bytes(plain[head + 2 : head + 4], "big")
        payload = plain[head:]
        try:
            start, offset = parse_vp8_descriptor(payload)
        except ValueError:
            return None
        return self.names.get(payload[offset : offset + PREFIX]) if start else None

    def packet(self, sub, kind: str, packet: bytes, arrival: float) -> None:
        if kind != "video":
            return
        ts = packet[4:8]
        if ts != sub.bench_ts:
            sub.bench_ts = ts
            sub.bench_name = self.name(sub, packet) if sub.unprotect is not None else None
        if packet[1] & 0x80:
            if sub.bench_first is None:
                sub.bench_first = arrival
            name = sub.bench_name
            if name is None:
                return
            clip, index = name
            if self.on and index >= 0:
                self.hops.append(arrival - self.sent_at[clip * self.frames_per_clip + index])
                if DEBUG:
                    self.debug.append(
                        (arrival, sub.name, clip, index, arrival - self.sent_at[clip * self.frames_per_clip + index])
                    )
            if sub.bench_switch is not None and clip == sub.bench_switch:
                self.switch_arrivals.append(arrival)
                sub.bench_switch = None


def bots_main(conn, cpu: int, realtime: bool, sent_at) -> None:
    _pin(cpu, realtime)
    asyncio.run(_bots(conn, sent_at))


async def _bots(conn, sent_at) -> None:
    clips = load_clips()
    watch = _Watch(sent_at, frame_names(clips), len(clips[0].video))
    subs: dict[str, CountingSubscriber] = {}
    pending: list[CountingSubscriber] = []
    marks: dict[str, tuple] = {}
    mark_time = [0.0]

    def counters(sub):
        v, a = sub.streams["video"], sub.streams["audio"]
        return v.packets, v.lost, v.frames, a.packets, a.lost

    poller = poll_subscribers(subs)

    async def handle(command, *args):
        if command == "offers":
            offers = []
            for name in args[0]:
                sub = CountingSubscriber(name, ICE, on_packet=watch.packet, polled=True)
                sub.bench_ts = sub.bench_name = sub.bench_first = sub.bench_switch = None
                sub.offered_at = time.time()
                subs[name] = sub
                pending.append(sub)
                offers.append((name, await sub.offer()))
            return offers
        if command == "accept":
            return await accept_answers(subs, args[0], pending, 30)
        if command == "first_frames":
            # connected -> first complete video frame, for the bots that joined last
            await asyncio.sleep(args[0])
            done = [s for s in pending if s.bench_first is not None and s.connected_at is not None]
            result = {
                "from_connected_ms": [(s.bench_first - s.connected_at) * 1000 for s in done],
                "from_offer_ms": [(s.bench_first - s.offered_at) * 1000 for s in done],
                "missing": len(pending) - len(done),
            }
            pending.clear()
            return result
        if command == "mark":
            watch.on = True
            watch.hops = []
            mark_time[0] = time.time()
            for name, sub in subs.items():
                marks[name] = counters(sub)
            return _cpu_seconds()
        if command == "report":
            watch.on = False
            if watch.debug:
                with open(f"/tmp/bench-hops-{os.getpid()}.txt", "w") as f:
                    for row in watch.debug:
                        f.write(" ".join(map(str, row)) + "\n")
            elapsed = time.time() - mark_time[0]
            totals = [0, 0, 0, 0, 0]
            fps = []
            for name, sub in subs.items():
                now, then = counters(sub), marks.get(name, (0, 0, 0, 0, 0))
                delta = [x - y for x, y in zip(now, then)]
                totals = [x + y for x, y in zip(totals, delta)]
                fps.append(delta[2] / elapsed)
            return {
                "bots": len(subs),
                "video_packets": totals[0],
                "video_lost": totals[1],
                "audio_packets": totals[3],
                "audio_lost": totals[4],
                "min_fps": min(fps, default=0.0),
                "mean_fps": sum(fps) / len(fps) if fps else 0.0,
                "hops_ms": [h * 1000 for h in watch.hops],
                "cpu": _cpu_seconds(),
            }
        if command == "switch":
            watch.switch_arrivals = []
            for sub in subs.values():
                sub.bench_switch = args[0]
            return True
        if command == "switched":
            await asyncio.sleep(args[0])
            missing = sum(s.bench_switch is not None for s in subs.values())
            return {"arrivals": list(watch.switch_arrivals), "missing": missing}
        if command == "close":
            await asyncio.gather(*(s.close() for s in subs.values()), return_exceptions=True)
            subs.clear()
            return True
        raise ValueError(command)

    await _serve(conn, handle)
    poller.cancel()
    await asyncio.gather(*(s.close() for s in subs.values()), return_exceptions=True)

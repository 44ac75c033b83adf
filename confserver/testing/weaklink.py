"""Issue 15's scenario pieces, shared by tests/media/test_weaklink_netns.py and bench/weaklink.py: rooms
on weak links (testing/roombot.py processes in testing/netns.py namespaces) receiving the program of a
layered publisher (testing/layered.py) through an in-process relay, and the figures read from them.
"""

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .netns import RoomNet

ROOT = Path(__file__).resolve().parents[2]


class RoomProcess:
    """A roombot in its namespace, opened on `relay` as peer `peer_id`."""

    def __init__(self, net: RoomNet, peer_id: str):
        self.net = net
        self.peer_id = peer_id
        self.proc: asyncio.subprocess.Process | None = None
        self.pictures: list[float] = []
        self.audio: list[float] = []
        self.decode_errors = 0
        self.rtp_seen = 0
        self.rtp_dropped = 0

    async def start(self, relay, timeout: float = 30.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        argv = self.net.command(
            [sys.executable, "-m", "confserver.testing.roombot", "--host", self.net.room_ip, "--name", self.peer_id]
        )
        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, cwd=str(ROOT), limit=1 << 24
        )
        offer = (await self._read(timeout))["offer"]
        answer = await relay.open_peer(self.peer_id, offer)
        await self._send(answer=answer)
        await self._read(timeout)  # connected

    async def _send(self, **message) -> None:
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def _read(self, timeout: float = 10.0) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"room {self.peer_id}: its process ended (exit {self.proc.returncode})")
        return json.loads(line)

    async def shim(self, loss_pct: float = 0.0, burst: float = 1.0, delay_ms: float = 0.0) -> None:
        await self._send(shim={"loss_pct": loss_pct, "burst": burst, "delay_ms": delay_ms})
        await self._read()

    async def storm(self, per_s: float | None, count: int = 64) -> None:
        """Flood the relay with NACKs for the last `count` video packets (None: stop)."""
        await self._send(storm={"per_s": per_s, "count": count} if per_s else None)
        await self._read()

    async def collect(self) -> None:
        """Take what the room received since the last call."""
        await self._send(report=True)
        report = await self._read()
        self.pictures += report["pictures"]
        self.audio += report["audio"]
        self.decode_errors = report["decode_errors"]
        self.rtp_seen, self.rtp_dropped = report["rtp_seen"], report["rtp_dropped"]

    async def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        try:
            await self._send_to(proc, quit=True)
            await asyncio.wait_for(proc.wait(), 10)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            proc.kill()
            await proc.wait()

    @staticmethod
    async def _send_to(proc, **message) -> None:
        proc.stdin.write((json.dumps(message) + "\n").encode())
        await proc.stdin.drain()


def fps(times: list[float], start: float, end: float) -> float:
    return sum(1 for t in times if start <= t < end) / max(end - start, 1e-3)


def max_gap_ms(times: list[float], start: float, end: float) -> float:
    """The longest time without a packet in [start, end) (the edges count as packets)."""
    inside = [start] + sorted(t for t in times if start <= t < end) + [end]
    return max(b - a for a, b in zip(inside, inside[1:])) * 1000


@dataclass
class TierWatch:
    """Each room's tier as the relay's stats say, sampled (time.monotonic(), tier)."""

    relay: object
    changes: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # why, for each change
    turns: dict[str, list[dict]] = field(default_factory=dict)  # what each turn of the room's loop read (`turn`)

    def sample(self) -> None:
        now = time.monotonic()
        for peer_id, stats in self.relay.stats().items():
            seen = self.changes.setdefault(peer_id, [])
            if not seen or seen[-1][1] != stats.tier:
                seen.append((now, stats.tier))
                self.reasons.setdefault(peer_id, []).append(stats.tier_reason)
        for peer_id, peer in list(getattr(self.relay, "_peers", {}).items()):
            tiering = getattr(peer, "tiering", None)
            rows = self.turns.setdefault(peer_id, [])
            if tiering is not None and tiering.last is not None and (not rows or rows[-1]["at"] < tiering.last_at):
                rows.append(turn(peer))
                del rows[:-600]

    def trace(self, peer_id: str, start: float, end: float = float("inf")) -> str:
        """The room's turns over [start, end] as lines, times relative to `start` (test output on a failure)."""
        head = "t tier/reason remb loss% nack% pps sent t0 full pace | dropped queued rtx_no fast resent pli key"
        lines = [head]
        for row in self.turns.get(peer_id, []):
            if start <= row["at"] <= end:
                lines.append(
                    f"{row['at'] - start:5.1f} {row['tier']}/{row['reason']} {row['remb']} {row['loss']} "
                    f"{row['nack']} {row['pps']} {row['sent']} {row['t0']} {row['full']} {row['pace']} | "
                    f"{row['dropped']} {row['queued']} {row['rtx_refused']} {row['fast_starts']} "
                    f"{row['resent']} {row['plis']} {row['keys']}"
                )
        return "\n".join(lines)

    async def run(self, period: float = 0.1) -> None:
        while True:
            self.sample()
            await asyncio.sleep(period)

    def first(self, peer_id: str, after: float, test) -> float | None:
        """When the room's tier first met `test` after `after` (or was already meeting it then)."""
        current = None
        for at, tier in self.changes.get(peer_id, []):
            if at <= after:
                current = tier
                continue
            if current is not None and test(current):
                return after
            if test(tier):
                return at
            current = tier
        return after if current is not None and test(current) else None

    def tier(self, peer_id: str) -> str | None:
        seen = self.changes.get(peer_id)
        return seen[-1][1] if seen else None


def turn(peer) -> dict:
    """One turn of a room's tier loop as the relay saw it (media/adapt.py): what it measured (rates in kbps),
    where it went, and the room's pacer, retransmission and keyframe counts so far."""
    tiering = peer.tiering
    m, pacer = tiering.last, tiering.pacer
    video = [s for s in peer.slots["video"] if hasattr(s, "sender")]
    feed = next((s.current for s in video if s.current is not None), None)
    feed = (feed.main or feed) if feed is not None else None
    rates = m.rates_bps or (0.0, 0.0, 0.0, 0.0)
    return {
        "at": tiering.last_at,
        "tier": tiering.state.tier,
        "reason": tiering.state.reason,
        "remb": round(m.remb_bps / 1000) if m.remb_bps is not None else None,
        "loss": round(m.loss_pct, 1),
        "nack": round(100 * m.nack_per_s / m.packets_per_s, 1) if m.packets_per_s else 0.0,
        "pps": round(m.packets_per_s),
        "sent": round(m.sent_bps / 1000),
        "t0": round(rates[1] / 1000),
        "full": round(rates[3] / 1000),
        "pace": round(pacer.bps / 1000),
        "dropped": pacer.frames_dropped,
        "queued": pacer.queued,
        "rtx_refused": pacer.rtx_refused,
        "fast_starts": sum(s.fast_starts for s in video),
        "resent": sum(s.retransmitted for s in video),
        "plis": feed.plis_sent if feed is not None else 0,
        "keys": feed.keyframes if feed is not None else 0,
    }

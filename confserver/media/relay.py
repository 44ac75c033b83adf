"""The media relay: an SFU that forwards encoded VP8/Opus frames between peers.

Publishers' packets are rebuilt into frames (VP8 on the marker bit, Opus per
packet: no jitter buffer), and each frame is repacketised for every subscriber
slot that forwards its source, with the slot's own SSRC, sequence numbers,
picture IDs and timestamps, so that a slot switching source at a keyframe
stays one continuous stream. Nothing is decoded or encoded.

Modules: `relay` (this one: peers, the program, stats, the relay's tasks),
`routing` (feeds to slots: keyframe switching, timestamp continuity,
retransmission), `links` (relay-to-relay links: the cascade), `transport`
(the only place that touches aiortc, aioice and pylibsrtp internals), `taps`
(hooks for the test and load peers).
"""

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RtcpSdesPacket, RtcpSourceInfo
from aiortc.sdp import candidate_from_sdp

from confserver.errors import Conflict, DomainError, NotFound
from confserver.observability import metrics

from . import adapt, lowlayer
from .config import IceConfig
from .feedback import downlink
from .frames import Frame
from .links import Cascade
from .peerslot import PeerSlot
from .recorder import ProgramRecorder
from .routing import Feed, Slot
from .stats import PeerStats
from .transport import (
    ForwardingSender,
    PassthroughReceiver,
    adopt_transceivers,
    apply_ice_config,
    new_peer_connection,
    send_rtcp_now,
)

if TYPE_CHECKING:
    from .links import ParentLink

log = logging.getLogger(__name__)

KINDS = ("video", "audio")
CONNECT_TIMEOUT = 30.0  # a peer not connected by then is closed and forgotten
NTP_EPOCH_OFFSET = 2208988800
SAMPLE_SLICES = 10  # the rates sampler takes a tenth of the peers every tenth of its period


# --- peers and the relay ---------------------------------------------------------------


class _Peer:
    def __init__(self, peer_id: str, pc: RTCPeerConnection):
        self.id = peer_id
        self.pc = pc
        self.feeds: dict[str, Feed] = {}
        self.slots: dict[str, list[Slot]] = {"video": [], "audio": []}
        self.muted = False
        self.link = False  # the parent end of a relay-to-relay link (media/links.py), not a room
        self.state = "new"
        self.connect_timer: asyncio.TimerHandle | None = None
        self.next_rtcp = 0.0
        # rates, updated by the relay's sampler
        self.kbps_in = 0.0
        self.kbps_out = 0.0
        self.loss_in = 0.0
        self._mark: tuple[float, int, int, int, int] | None = None
        self.tier_told = False  # the room was told its tier on this connection (Relay.on_tier)
        self.slice = 0  # its turn in the relay's sampling round

    def bytes_in(self) -> int:
        return sum(f.bytes_in for f in self.feeds.values())

    def bytes_out(self) -> int:
        return sum(s.octets for kind in KINDS for s in self.slots[kind])

    def expected_and_received(self) -> tuple[int, int]:
        expected = received = 0
        for feed in self.feeds.values():
            stream = feed.receiver._stream_stats(feed.media_ssrc)
            if stream is not None and stream.max_seq is not None:
                expected += stream.packets_expected
                received += stream.packets_received
        return expected, received


class Relay(Cascade):
    """Forwards encoded frames between peers; pure asyncio, one per process.

    Peers offer (one sendrecv video + one sendrecv audio: their camera and mic,
    which come back as the program), plus any recvonly m-lines as extra output
    slots, numbered per kind in m-line order after slot 0.

    on_state(peer_id, state) is called with "connected", "failed" (ICE/DTLS
    failed, or not connected within connect_timeout: the peer is then closed
    and forgotten) and "closed" (by close_peer, or by the peer itself).
    on_tier(peer_id, tier, reason), when set, is called when a room's tier loop moves it (media/adapt.py;
    not when the chair pins it: that is the caller's own change), and once at the first turn of the loop of
    each new connection of the room (its page starts afresh with each connection: a pin held over is told so).
    A chair's pin outlives the room's connection: a room that reconnects its media is pinned again.
    max_peers: refuse more (bench/relay.py measures what one core carries).
    """

    def __init__(
        self,
        ice: IceConfig | None = None,
        on_state: Callable[[str, str], None] | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_peers: int | None = None,
    ):
        self.ice = ice or IceConfig()
        self.on_state = on_state
        self.connect_timeout = connect_timeout
        self.max_peers = max_peers
        self._peers: dict[str, _Peer] = {}
        self._program: tuple[str | None, list[str | None], str | None] | None = None
        self._recorder: ProgramRecorder | None = None
        # the cascade (media/links.py): the link to the parent relay, and which child link each room below is behind
        self._parent: ParentLink | None = None
        self._via: dict[str, str] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sampler: asyncio.Task | None = None
        self._opened = 0  # peers opened so far
        self._closed = False
        self.on_tier: Callable[[str, str, str], None] | None = None
        self._pins: dict[str, str] = {}  # the chair's pins by room (peer id), kept across the room's reconnects

    # lifecycle

    async def open_peer(self, peer_id: str, offer_sdp: str, *, link: bool = False) -> str:
        """Accept a peer's offer; return the answer SDP (all candidates included, no trickle).
        `link`: the peer is a child relay (see open_link)."""
        if self._closed:
            raise Conflict("media.relay_closed", "the relay is closed")
        if peer_id in self._peers:
            raise Conflict("media.peer_exists", f"peer {peer_id} is already open")
        if self.max_peers is not None and len(self._peers) >= self.max_peers:
            # past one core's worth of peers, latency grows without bound: refuse instead
            raise Conflict("media.relay_full", f"the relay has its {self.max_peers} peers")
        # One transport for every m-line: aiortc's default ("balanced") leaves a
        # second m-line of the same kind on a transport that BUNDLE then stops.
        pc = new_peer_connection(self.ice, max_bundle=True)
        peer = _Peer(peer_id, pc)
        peer.link = link
        self._opened += 1
        peer.slice = self._opened % SAMPLE_SLICES  # its turn in the sampler's round (_sample_rates)
        self._peers[peer_id] = peer
        try:
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except (ValueError, AssertionError) as exc:
                raise DomainError("media.bad_offer", f"cannot parse the offer: {exc}") from exc
            if not pc.getTransceivers():
                raise DomainError("media.bad_offer", "the offer has no audio or video m-line")
            self._adopt_transceivers(peer)
            apply_ice_config(pc, self.ice)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            self._peers.pop(peer_id, None)
            await pc.close()
            raise
        if self._sampler is None:
            self._sampler = self._spawn(self._sample_rates())
            self._spawn(self._send_rtcp())
        pc.on("connectionstatechange", functools.partial(self._state_changed, peer))
        peer.connect_timer = asyncio.get_running_loop().call_later(self.connect_timeout, self._connect_timeout, peer)
        self._link_new_peer(peer)
        if not link:
            if peer_id in self._pins:
                adapt.set_pinned(peer, self._pins[peer_id])
            self._rooms_changed()
        return pc.localDescription.sdp

    def _adopt_transceivers(self, peer: _Peer) -> None:
        def new_feed(kind: str, receiver: PassthroughReceiver) -> Feed:
            peer.feeds[kind] = feed = Feed(self, peer, kind, receiver)
            return feed

        def new_slot(kind: str, sender: ForwardingSender) -> PeerSlot:
            slots = peer.slots[kind]
            slots.append(PeerSlot(self, peer, kind, len(slots), sender))
            return slots[-1]

        low_feed = functools.partial(lowlayer.new_feed, self, peer)
        adopt_transceivers(peer.pc, new_feed, new_slot, low_feed, low_both_ways=peer.link)

    def _link_new_peer(self, peer: _Peer) -> None:
        # slots that asked for this peer before it came, then the program
        for other in self._subscribers():
            for kind in KINDS:
                for slot in other.slots[kind]:
                    if slot.route_id == peer.id and kind in peer.feeds:
                        slot.route(peer.feeds[kind])
        if self._program is not None:
            self._apply_program(peer)
            self._route_up()  # a source below that opens climbs to the parent

    def _state_changed(self, peer: _Peer) -> None:
        if self._peers.get(peer.id) is not peer:
            return
        state = peer.pc.connectionState
        if state == peer.state:
            return
        peer.state = state
        if state == "connected":
            if peer.connect_timer is not None:
                peer.connect_timer.cancel()
                peer.connect_timer = None
            for slot in peer.slots["video"]:
                slot.restart()
            self._notify(peer.id, "connected")
        elif state == "failed":
            self._fail(peer)
        elif state == "closed":
            # the peer ended the DTLS session itself
            self._spawn(self._close(peer, notify=True))

    def _connect_timeout(self, peer: _Peer) -> None:
        peer.connect_timer = None
        if self._peers.get(peer.id) is peer and peer.state != "connected":
            self._fail(peer)

    def _fail(self, peer: _Peer) -> None:
        self._notify(peer.id, "failed")
        self._spawn(self._close(peer, notify=False))

    async def add_ice_candidate(self, peer_id: str, candidate: dict | None) -> None:
        """Add a browser's trickled candidate ({candidate, sdpMid, sdpMLineIndex}); None ends them.

        Optional: the relay answers with all its candidates, and learns the
        browser's address from its connectivity checks (peer-reflexive), so
        trickling only helps when the browser's checks cannot reach us first.
        """
        peer = self._peer(peer_id)
        if candidate is None or not candidate.get("candidate"):
            try:
                await peer.pc.addIceCandidate(None)
            except ValueError:
                pass  # end-of-candidates said twice
            return
        line = candidate["candidate"]
        try:
            parsed = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
        except (AssertionError, ValueError, IndexError) as exc:
            raise DomainError("media.bad_candidate", f"cannot parse the candidate: {exc}") from exc
        # every m-line is bundled on the first one's transport, whatever mid the browser names
        first = peer.pc.getTransceivers()[0]
        parsed.sdpMid, parsed.sdpMLineIndex = first.mid, 0
        try:
            await peer.pc.addIceCandidate(parsed)
        except ValueError as exc:
            raise DomainError("media.bad_candidate", str(exc)) from exc

    async def close_peer(self, peer_id: str) -> None:
        """Close a peer and forget it; slots that forwarded it go quiet."""
        await self._close(self._peer(peer_id), notify=True)

    async def _close(self, peer: _Peer, notify: bool) -> None:
        if self._peers.get(peer.id) is not peer:
            return
        metrics.peer_closed(peer)  # its counters stay in the process's totals
        del self._peers[peer.id]
        if peer.connect_timer is not None:
            peer.connect_timer.cancel()
        for kind in KINDS:
            for slot in peer.slots[kind]:
                slot._drop_pending()
                slot._detach_current()
                if isinstance(slot, PeerSlot):
                    slot.cancel_key_request()
        for feed in peer.feeds.values():
            feed.close()
        if getattr(peer, "tiering", None) is not None:
            peer.tiering.pacer.close()
        peer.state = "closed"
        if peer.link:
            self._forget_link_rooms(peer.id)
        else:
            self._rooms_changed()
        # shielded: cancelling a waiter of aiortc's close() would cancel its shared future
        await asyncio.shield(peer.pc.close())
        if notify:
            self._notify(peer.id, "closed")

    async def close(self) -> None:
        """Close every peer and end every task the relay started."""
        self._closed = True
        self.stop_recording()
        parent, self._parent = self._parent, None
        if parent is not None:
            await parent.close()
        for peer in list(self._peers.values()):
            await self._close(peer, notify=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # routing

    def set_route(self, peer_id: str, kind: str, slot: int, source_peer_id: str | None) -> None:
        """Make output `slot` of `kind` of a peer forward `source_peer_id` (None: nothing).

        Video switches at the new source's keyframe and keeps the old source
        until then; audio switches at once. A source that is not open yet is
        taken when it opens; the slot carries nothing meanwhile (a multiview
        tile must not show another room than it names).
        """
        target = self._slot(peer_id, kind, slot)
        if source_peer_id == peer_id:
            raise DomainError("media.self_route", "a peer cannot receive itself")
        target.route_id = source_peer_id
        target.route(self._feed(source_peer_id, kind))

    def set_program(
        self, video_source: str | None, audio_sources: list[str | None], source_view: str | None = None
    ) -> None:
        """Route video slot 0 and audio slots 0..n-1 of every peer, now and for peers to come.

        The program source itself sees `source_view` on its video slot 0 (the
        chair: whom it speaks to; its own picture is never sent back to it), or
        keeps its previous picture when there is none, and hears nothing on an
        audio slot that would carry its own sound. A source that has not opened
        yet is taken when it opens; what played before plays on until then.
        """
        self._program = (video_source, list(audio_sources), source_view)
        for peer in self._subscribers():
            self._apply_program(peer)
        self._route_up()

    def _subscribers(self):
        """The peers, and the recorder while it records (slots that follow routes and the program)."""
        yield from self._peers.values()
        if self._recorder is not None:
            yield self._recorder

    def _apply_program(self, peer: "_Peer | ProgramRecorder") -> None:
        video_source, audio_sources, source_view = self._program
        slots = peer.slots["video"]
        if getattr(peer, "link", False):
            self._apply_program_to_link(peer)
            return
        if slots and video_source != peer.id:
            self._follow_program(slots[0], video_source)
        elif slots and source_view is not None and source_view != peer.id:
            # The room given the floor or broadcast watches the chair, not the source before it (issue 12, item 2).
            self._follow_program(slots[0], source_view)
        for index, source in enumerate(audio_sources):
            if index < len(peer.slots["audio"]):
                self._follow_program(peer.slots["audio"][index], None if source == peer.id else source)

    def _follow_program(self, slot: Slot, source_id: str | None) -> None:
        # Below the root, the program comes down the parent link, whatever room it shows.
        slot.route_id = source_id if self._parent is None else None
        feed = self._program_feed(source_id, slot)
        if feed is None and source_id is not None:
            # the source has not opened yet: the program plays on until it comes
            slot._drop_pending()
            return
        slot.route(feed)

    # recording

    def start_recording(self, put: Callable, keyframe_s: float) -> bool:
        """Write the program through `put` (media/recorder.py) until stop_recording; False if it
        already records. Called on the relay's event loop."""
        if self._closed:
            raise Conflict("media.relay_closed", "the relay is closed")
        if self._recorder is not None:
            return False
        self._recorder = ProgramRecorder(put, keyframe_s)
        if self._program is not None:
            self._apply_program(self._recorder)
        return True

    def stop_recording(self) -> bool:
        """Stop writing the program (the writer is its owner's to close); False if it did not record."""
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return False
        recorder.close()
        return True

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def set_muted(self, peer_id: str, muted: bool) -> None:
        """Stop (or resume) forwarding a peer's audio to everyone."""
        self._peer(peer_id).muted = muted

    def pin_tier(self, peer_id: str, tier: str | None) -> str:
        """Pin a room to a tier (media/tiers.py: full, t0t1, t0, low, audio), or None to let its loop decide;
        returns the room's tier now."""
        from .tiers import MAX_TID

        if tier is not None and tier not in MAX_TID:
            raise DomainError("media.bad_tier", f"no tier {tier!r}")
        now = adapt.set_pinned(self._peer(peer_id), tier).tier
        if tier is None:
            self._pins.pop(peer_id, None)
        else:
            self._pins[peer_id] = tier
        return now

    def request_keyframe(self, peer_id: str) -> None:
        """Ask a publisher for a keyframe (coalesced like every other request)."""
        feed = self._peer(peer_id).feeds.get("video")
        if feed is not None:
            feed.request_keyframe()

    # stats

    def stats(self) -> dict[str, PeerStats]:
        return {peer_id: self._peer_stats(peer) for peer_id, peer in self._peers.items() if not peer.link}

    def _peer_stats(self, peer: _Peer) -> PeerStats:
        video = peer.feeds.get("video")
        slots = peer.slots["video"] + peer.slots["audio"]
        rtts = [s.rtt for s in slots if s.rtt is not None]
        rembs = [s.remb for s in peer.slots["video"] if s.remb is not None]
        program = peer.slots["video"][0] if peer.slots["video"] else None
        return PeerStats(
            peer_id=peer.id,
            state=peer.state,
            connected=peer.state == "connected",
            bitrate_in_kbps=round(peer.kbps_in, 1),
            bitrate_out_kbps=round(peer.kbps_out, 1),
            packets_in=sum(f.packets_in for f in peer.feeds.values()),
            packets_out=sum(s.packets for s in slots),
            loss_in_pct=round(peer.loss_in * 100, 2),
            loss_out_pct=round(max((s.fraction_lost for s in slots), default=0.0) * 100, 2),
            rtt_ms=round(min(rtts) * 1000, 1) if rtts else None,
            last_keyframe_in=video.last_key_wall if video else None,
            keyframes_in=video.keyframes if video else 0,
            keyframe_requests_out=video.plis_sent if video else 0,
            frames_dropped_in=video.assembler.frames_dropped if video else 0,
            downlink_kbps=round(min(rembs) / 1000, 1) if rembs else None,
            muted=peer.muted,
            program_video=bool(program and program.current and not program.waiting_key and program.packets),
            **asdict(downlink(s.sender.feedback for s in slots if isinstance(s, PeerSlot))),
            **adapt.summary(peer),
        )

    async def _sample_rates(self, period: float = 1.0, slices: int = SAMPLE_SLICES) -> None:
        """Each peer's rates and its tier loop's turn, once a `period`; the peers in `slices` groups, one group
        every period / slices (done at once, 150 rooms' turns held the event loop ~5 ms once a second, and the
        frames that came meanwhile waited for it)."""
        turn = 0
        while True:
            await asyncio.sleep(period / slices)
            now = time.monotonic()
            for peer in list(self._peers.values()):
                if peer.slice == turn:
                    self._sample(peer, now)
            turn = (turn + 1) % slices

    def _sample(self, peer: _Peer, now: float) -> None:
        bytes_in, bytes_out = peer.bytes_in(), peer.bytes_out()
        expected, received = peer.expected_and_received()
        if peer._mark is not None:
            then, last_in, last_out, last_expected, last_received = peer._mark
            elapsed = max(now - then, 1e-3)
            peer.kbps_in = (bytes_in - last_in) * 8 / elapsed / 1000
            peer.kbps_out = (bytes_out - last_out) * 8 / elapsed / 1000
            interval = expected - last_expected
            lost = interval - (received - last_received)
            peer.loss_in = lost / interval if interval > 0 and lost > 0 else 0.0
        peer._mark = (now, bytes_in, bytes_out, expected, received)
        if not peer.link and peer.state == "connected":
            before = getattr(getattr(peer, "tiering", None), "state", None)
            state = adapt.step(peer, now)  # the room's tier (issue 15)
            if self.on_tier is not None and (not peer.tier_told or before is None or state.tier != before.tier):
                peer.tier_told = True  # the first turn of a connection tells, whatever the tier
                self._tier_moved(peer.id, state.tier, state.reason)

    async def _send_rtcp(self, tick: float = 0.1) -> None:
        """Each connected peer's RTCP, every 0.5-1.5 s (RFC 3550 6.2): one compound
        packet with its slots' sender reports and its feeds' receiver reports, in one
        task for all peers instead of one task per sender and receiver."""
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            peers = list(self._peers.values())
            if self._parent is not None:
                peers.append(self._parent)
            for peer in peers:
                if peer.state != "connected" or now < peer.next_rtcp:
                    continue
                peer.next_rtcp = now + 0.5 + random.random()
                packets, chunks = [], []
                for slot in peer.slots["video"] + peer.slots["audio"]:
                    if slot.ready and slot.packets:
                        packets.append(slot.sender_report())
                        chunks.append(RtcpSourceInfo(ssrc=slot.ssrc, items=[(1, slot.cname)]))
                for feed in peer.feeds.values():
                    report = feed.receiver._receiver_report()
                    if report is not None:
                        packets.append(report)
                if packets:
                    if chunks:
                        packets.append(RtcpSdesPacket(chunks=chunks))
                    send_rtcp_now(peer.pc.getTransceivers()[0].receiver.transport, b"".join(map(bytes, packets)))

    # internals

    def _fan_out(self, feed: Feed, frame: Frame) -> None:
        now = time.monotonic()
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0)
        ast = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        for slot in feed.slots:
            slot.take(feed, frame, now, ntp, ast)

    def _peer(self, peer_id: str) -> _Peer:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise NotFound("media.unknown_peer", f"no open peer {peer_id}")
        return peer

    def _slot(self, peer_id: str, kind: str, index: int) -> Slot:
        slots = self._peer(peer_id).slots.get(kind)
        if slots is None or not 0 <= index < len(slots):
            raise DomainError("media.no_such_slot", f"peer {peer_id} has no {kind} slot {index}")
        return slots[index]

    def _feed(self, peer_id: str | None, kind: str) -> Feed | None:
        peer = self._peers.get(peer_id) if peer_id is not None else None
        return peer.feeds.get(kind) if peer is not None else None

    def _notify(self, peer_id: str, state: str) -> None:
        if self.on_state is not None:
            try:
                self.on_state(peer_id, state)
            except Exception:
                log.exception("media relay: on_state(%s, %s) failed", peer_id, state)

    def _tier_moved(self, peer_id: str, tier: str, reason: str) -> None:
        try:
            self.on_tier(peer_id, tier, reason)
        except Exception:
            log.exception("media relay: on_tier(%s, %s) failed", peer_id, tier)

    def spawn(self, coro) -> asyncio.Task:
        """Run `coro` as a task the relay owns (cancelled when it closes)."""
        return self._spawn(coro)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

"""Relay-to-relay links (issue 11, item 2): one meeting's program flows down a tree of relays, and
the source below climbs it, as encoded packets: nothing is decoded anywhere.

A link is one WebRTC peer connection (DTLS-SRTP, aiortc to aiortc) between a parent relay and a
child relay, dialled by the child (`ParentLink`), answered by the parent as a peer of its own
(`Relay.open_link`). The child offers what a room offers (m-lines in this order):

  video sendrecv  down: the program's picture           up: the source's picture, when it is below
  audio sendrecv  down: audio slot 0 (the chair)         up: the source's sound (else the chair's)
  audio recvonly  down: audio slot 1 (the source)
  video recvonly  down: the chair for the source room, while the source is below this child
  video sendrecv  down: the program's shared low layer (media/lowlayer.py), while a room here may take it
                  up: the source's low layer, when the source is below and sends one

so on the parent a link is a peer whose slots follow the program (even a source behind that link:
the child's other rooms watch it through the parent) and whose feeds are sources like a room's.
Below the root, every program slot follows the parent link's down tracks, which never switch: the
switch happens once, at the root, at the source's keyframe, and every level downstream forwards one
continuous stream. Keyframe requests from below reach a down track's `Feed`, which coalesces them
(<= 1 per PLI_INTERVAL) into one request up the link, where the parent's slot passes it to its
source's feed, coalesced again. Retransmissions are answered per hop: each relay's slots keep their
own history (peerslot.PeerSlot) and each link's receiving end asks for what it missed (NACK). A muted
room's sound never reaches its feed's slots (routing.Feed), so it is cut at the relay it sits on.

Tiers (issue 15, item 4): the rooms on a leaf take their tiers there, as on the root (the VP8 descriptor the
parent writes keeps each frame's temporal layer). For each video track coming down, a child asks its parent for
only the layers of the best tier among what follows that track here (`down_tiers`, reported by `ParentLink`'s
watch, applied by `set_link_tier` to the parent's slots of that link): a weak subtree never carries the full
rate, and a track nothing here follows (the floor room's own picture, when it is alone on its leaf) carries no
video. Going up, the parent's slot takes the upper layers again at their next layer-sync frame, as a room's does.
The program's shared low layer comes down a track of its own (the fifth m-line; the down feed is the `low` of the
program's down feed, as a publisher's is of its camera), only while a room or child here is at T0 (the next
step down is the low layer, which a room takes only once it comes) or on it: a leaf's weak rooms get the
320x180 picture without the link carrying it for the others. The low layer of a source below climbs the same
m-line (the parent takes it as the `low` of the link's up feed, as a publisher's of its camera), so the floor room's
low layer reaches the weak rooms of every relay, as the chair's does.

The relay's side of this (`Cascade`, mixed into `Relay`): which child link each room below sits
behind (reported up by each child: `subtree_rooms`), the program's resolution over the tree, and
the up tracks. The relay process's operations are at the end (`OPS`, served by relayd).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiortc import RTCSessionDescription

from confserver.errors import DomainError, NotFound

from .peerslot import PeerSlot
from .routing import Feed, Slot
from .temporal import NO_VIDEO
from .tiers import AUDIO, FULL, LOW, MAX_TID, ORDER, T0
from .transport import apply_ice_config, new_peer_connection, offer_relay_codecs, take_receiver, take_sender

log = logging.getLogger(__name__)

# The child's offer, m-line by m-line: (kind, direction). Slots number per kind in this order.
M_LINES = (
    ("video", "sendrecv"),
    ("audio", "sendrecv"),
    ("audio", "recvonly"),
    ("video", "recvonly"),
    ("video", "sendrecv"),
)
LOW_TRACK = 2  # the video track (down) and the parent's video slot of a link that carry the program's low layer
UP_LOW = 1  # the child's video slot (on that m-line) that carries a source's low layer up
KINDS = ("video", "audio")
CONNECT_TIMEOUT_S = 10.0
LINK_PREFIX = "link:"  # a link's peer id on the parent: never a room's ("room-N")
TIER_CHECK_S = 0.25  # how often a child compares the tiers of what follows its link with what the link carries
TIER_REPORT_TIMEOUT_S = 5.0


class Cascade:
    """The cascade side of `Relay` (it holds `_peers`, `_program`, `_parent`, `_via`)."""

    async def open_link(self, link_id: str, offer_sdp: str, rooms=()) -> str:
        """Accept a child relay's offer (links.ParentLink): it takes the program, its up tracks
        carry a source among `rooms` (peer ids) below it; returns the answer SDP."""
        answer = await self.open_peer(link_id, offer_sdp, link=True)
        self.set_link_rooms(link_id, rooms)
        return answer

    def set_link_rooms(self, link_id: str, rooms) -> None:
        """The rooms (peer ids) served below the child link `link_id`, replacing those named before."""
        self._via = {room: via for room, via in self._via.items() if via != link_id}
        if link_id in self._peers:
            self._via.update((room, link_id) for room in rooms)
        self._reapply_program()
        self._rooms_changed()

    def _forget_link_rooms(self, link_id: str) -> None:
        if any(via == link_id for via in self._via.values()):
            self.set_link_rooms(link_id, ())

    def attach_parent(self, parent: "ParentLink") -> "ParentLink | None":
        """From now on the program comes down `parent` (and a source here climbs it); returns the
        link it replaces, for its owner to close once nothing follows it."""
        old, self._parent = self._parent, parent
        self._reapply_program()
        self._rooms_changed()
        return old

    def detach_parent(self, parent: "ParentLink") -> None:
        """`parent` closed: this relay is a root again (nothing comes down until another is attached)."""
        if self._parent is parent:
            self._parent = None
            self._reapply_program()

    def subtree_rooms(self) -> list[str]:
        """The rooms served here or below: what this relay's parent link carries up."""
        return sorted({pid for pid, peer in self._peers.items() if not peer.link} | set(self._via))

    def _reapply_program(self) -> None:
        if self._program is not None:
            for peer in self._subscribers():
                self._apply_program(peer)
            self._route_up()

    def _program_feed(self, source_id: str | None, slot: Slot) -> Feed | None:
        """The feed a program slot follows for `source_id`: the parent link's down track of the slot's
        role below the root; else the source's own feed, here or behind a child link."""
        if source_id is None:
            return None
        if self._parent is not None:
            if slot.kind == "video":
                index = 0 if source_id == self._program[0] else 1  # the program, or the source's view
            else:
                index = slot.index
            return self._parent.down_feed(slot.kind, index)
        return self._feed(source_id, slot.kind) or self._feed_below(source_id, slot.kind)

    def _feed_below(self, source_id: str | None, kind: str) -> Feed | None:
        via = self._peers.get(self._via.get(source_id)) if source_id is not None else None
        return via.feeds.get(kind) if via is not None else None

    def _route_up(self) -> None:
        """The parent link's up tracks carry the program's source when it is here or below, else nothing."""
        if self._parent is None or self._program is None:
            return
        video_source, audio_sources, _ = self._program
        video = self._feed(video_source, "video") or self._feed_below(video_source, "video")
        audio = None
        for source in reversed(audio_sources):  # the source's sound, else the chair's
            audio = self._feed(source, "audio") or self._feed_below(source, "audio")
            if audio is not None:
                break
        self._parent.route_up(video, audio)

    def _rooms_changed(self) -> None:
        if self._parent is not None:
            self._parent.rooms_changed()

    def down_tiers(self, link: "ParentLink") -> list[str]:
        """For each video track coming down `link`, the best tier of what follows it here: a room at its tier, a
        child link at the tier it asked for on that track, the recorder at all layers; AUDIO (no video) when
        nothing does. What the parent's slots of this link need to forward."""
        feeds = link.down["video"]
        best = [-1] * len(feeds)
        for peer in self._subscribers():
            if peer is self._recorder:
                tiers = None
            elif getattr(peer, "link", False):
                tiers = getattr(peer, "link_tiers", None)
            else:
                tiering = getattr(peer, "tiering", None)
                tiers = (tiering.state.tier,) if tiering is not None else None
            for slot in peer.slots["video"]:
                for feed in (slot.current, slot.pending):
                    for index, down in enumerate(feeds):
                        if feed is down:
                            tier = tiers[min(slot.index, len(tiers) - 1)] if tiers else FULL
                            rank = ORDER.index(tier) if tier in ORDER else len(ORDER) - 1
                            if rank > best[index]:
                                best[index] = rank
                            if index == 0 and tier in (T0, LOW) and len(best) > LOW_TRACK:
                                best[LOW_TRACK] = max(best[LOW_TRACK], ORDER.index(LOW))  # it may step down to it
        if len(best) > LOW_TRACK:
            best[LOW_TRACK] = min(best[LOW_TRACK], ORDER.index(LOW))  # the low layer is one tier whatever takes it
        return [ORDER[rank] if rank >= 0 else AUDIO for rank in best]

    def set_link_tier(self, link_id: str, tiers: "list[str] | str") -> None:
        """The child on `link_id` needs only what `tiers` carry, per video track (one tier: every track): its
        video slots forward those layers (down at once; up at the next layer-sync frame, or at a keyframe from
        the audio-only tier)."""
        if isinstance(tiers, str):
            tiers = [tiers]
        if not isinstance(tiers, list) or not tiers or not all(isinstance(t, str) and t in MAX_TID for t in tiers):
            raise DomainError("media.bad_tier", f"no tiers {tiers!r}")
        peer = self._peers.get(link_id)
        if peer is None or not peer.link:
            raise NotFound("media.unknown_peer", f"no open link {link_id}")
        video = peer.slots["video"]
        peer.link_tiers = [tiers[min(index, len(tiers) - 1)] for index in range(len(video))]
        for slot, tier in zip(video, peer.link_tiers):
            if slot.layers is not None and slot.layers.set_target(MAX_TID[tier]):
                slot.restart()

    def link_stats(self) -> dict[str, dict]:
        """Per link of this relay (children by id, the parent as "parent"): state, packets, keyframe requests."""
        out = {
            pid: _link_counts(peer, peer.feeds.values(), peer.slots, getattr(peer, "link_tiers", None))
            for pid, peer in self._peers.items()
            if peer.link
        }
        if self._parent is not None:
            parent = self._parent
            out["parent"] = _link_counts(parent, parent.feeds.values(), parent.slots, parent.tiers)
        return out

    def _apply_program_to_link(self, peer) -> None:
        # A child relay takes the program as it is, even a source behind that child (its other rooms
        # watch it through us), and on video slot 1 the source's view while the source is below it.
        video_source, audio_sources, source_view = self._program
        slots = peer.slots["video"]
        if slots:
            self._follow_program(slots[0], video_source)
        if len(slots) > 1:
            below = video_source is not None and self._via.get(video_source) == peer.id
            self._follow_program(slots[1], source_view if below and source_view != video_source else None)
        if len(slots) > LOW_TRACK:
            slots[LOW_TRACK].low_only = True  # the source's low layer, never its camera (none when it sends none)
            self._follow_program(slots[LOW_TRACK], video_source)
        for index, source in enumerate(audio_sources[: len(peer.slots["audio"])]):
            self._follow_program(peer.slots["audio"][index], source)


class ParentLink:
    """The child end of a link: a peer connection this relay offered to its parent. Its receivers
    are `Feed`s the program slots here follow (`down_feed`); its three senders are `PeerSlot`s that
    forward the source when it is here or below (`route_up`). Looks like a peer to the relay's
    RTCP task (state, next_rtcp, feeds, slots, pc)."""

    def __init__(
        self,
        relay,
        link_id: str,
        report: Callable[[list[str]], Awaitable] | None = None,
        report_tier: Callable[[list[str]], Awaitable] | None = None,
    ):
        self.relay = relay
        self.id = link_id
        self.parent_channel: str | None = None  # the parent relay's channel (dial_link), for treelinks
        self.report = report  # tells the parent which rooms are here or below
        self.report_tier = report_tier  # tells the parent the tiers its video tracks carry (None: all layers)
        self.tier_reports = 0
        self._tier_task: asyncio.Task | None = None
        self.muted = False  # read by audio feeds: a link is never muted, its rooms are
        self.state = "new"
        self.next_rtcp = 0.0
        self.pc = new_peer_connection(relay.ice, max_bundle=True)
        self.down: dict[str, list[Feed]] = {"video": [], "audio": []}
        self.slots: dict[str, list[Slot]] = {"video": [], "audio": []}
        self.feeds: dict[str, Feed] = {}
        self._connected = asyncio.Event()
        self._report_due = False
        for kind, direction in M_LINES:
            transceiver = self.pc.addTransceiver(kind, direction=direction)
            offer_relay_codecs(transceiver)
            feed = take_receiver(transceiver.receiver, lambda receiver, kind=kind: Feed(relay, self, kind, receiver))
            self.feeds[f"{kind}{len(self.down[kind])}"] = feed
            self.down[kind].append(feed)
            if direction == "sendrecv":
                index = len(self.slots[kind])
                take_sender(transceiver.sender, lambda sender, k=kind, i=index: PeerSlot(relay, self, k, i, sender))
                self.slots[kind].append(transceiver.sender._slot)
        self.slots["video"][UP_LOW].low_only = True  # a source's low layer or nothing, never its camera
        video = self.down["video"]
        video[LOW_TRACK].main, video[0].low = video[0], video[LOW_TRACK]  # as lowlayer.new_feed ties a publisher's
        self.tiers = [FULL] * len(video)  # what the parent was told (a link it opens starts full)
        self.pc.on("connectionstatechange", self._state_changed)

    async def offer(self) -> str:
        apply_ice_config(self.pc, self.relay.ice)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def wait_connected(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    def _state_changed(self) -> None:
        self.state = self.pc.connectionState
        if self.state == "connected":
            self._connected.set()
            for feed in self.down["video"]:
                for slot in feed.slots:
                    slot.restart()  # what waits for this link starts at a keyframe
        elif self.state in ("failed", "closed"):
            self.relay.detach_parent(self)
            if self.state == "failed":
                self.relay.spawn(self.close())

    def down_feed(self, kind: str, index: int) -> Feed | None:
        feeds = self.down[kind]
        return feeds[index] if index < len(feeds) else None

    def watch_tiers(self) -> None:
        """From now on, tell the parent whenever the tiers of what follows its tracks change (dial calls it)."""
        if self.report_tier is not None and self._tier_task is None:
            self._tier_task = self.relay.spawn(self._watch_tiers())

    async def _watch_tiers(self) -> None:
        while self.state != "closed":
            await asyncio.sleep(TIER_CHECK_S)
            if self.relay._parent is not self:
                continue  # replaced, closing: the new link tells
            want = self.relay.down_tiers(self)
            if want == self.tiers:
                continue
            try:
                await asyncio.wait_for(self.report_tier(want), TIER_REPORT_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next check tries again
                log.warning("link %s: telling the parent the tiers %s failed (%s)", self.id, want, exc)
                await asyncio.sleep(1.0)
                continue
            log.info("link %s: what follows its tracks needs %s (was %s)", self.id, want, self.tiers)
            self.tiers = want
            self.tier_reports += 1
            for feed, tier in zip(self.down["video"], want):
                if feed.layers is not None and feed.main is None:  # (the low layer's tier is its size, not layers)
                    feed.layers.hold(max(MAX_TID[tier], NO_VIDEO))

    def route_up(self, video: Feed | None, audio: Feed | None) -> None:
        self.slots["video"][0].route(video)
        self.slots["video"][UP_LOW].route(video)  # low_only: `video`'s low layer (lowlayer.py), if it has one
        self.slots["audio"][0].route(audio)

    def rooms_changed(self) -> None:
        """Tell the parent the rooms here and below, once per loop turn however many changed."""
        if self.report is None or self._report_due:
            return
        self._report_due = True
        asyncio.get_running_loop().call_soon(self._report)

    def _report(self) -> None:
        self._report_due = False
        if self.relay._parent is self:
            self.relay.spawn(self._send_report(self.relay.subtree_rooms()))

    async def _send_report(self, rooms: list[str]) -> None:
        try:
            await self.report(rooms)
        except Exception:
            log.exception("link %s: telling the parent its rooms failed", self.id)

    async def close(self) -> None:
        if self._tier_task is not None:
            self._tier_task.cancel()
        self.relay.detach_parent(self)
        for slots in self.slots.values():
            for slot in slots:
                slot.route(None)
        for feed in self.feeds.values():
            feed.close()
        self.state = "closed"
        await asyncio.shield(self.pc.close())


async def dial(
    relay,
    link_id: str,
    answer_for: Callable[[str], Awaitable[str]],
    report: Callable[[list[str]], Awaitable] | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
    report_tier: Callable[[list[str]], Awaitable] | None = None,
) -> ParentLink:
    """Link `relay` to a parent: offer, have `answer_for(offer)` answer it (the parent's open_link),
    and once connected take the program from it. A link it had before (to a parent that failed, or
    one it leaves) is closed after the new one took over, so the picture switches at a keyframe.
    `report_tier(tiers)`: tell the parent, per video track, the best tier of what follows it here (the parent's
    set_link_tier), so that it sends only the layers they take."""
    link = ParentLink(relay, link_id, report, report_tier)
    try:
        await link.accept(await answer_for(await link.offer()))
        await link.wait_connected(timeout)
    except BaseException:
        await link.close()
        raise
    old = relay.attach_parent(link)
    if old is not None:
        relay.spawn(_close_later(old))
    link.watch_tiers()
    return link


async def _close_later(link: ParentLink, after_s: float = 2.0) -> None:
    # The rooms' slots follow the new link's tracks from their next keyframe: keep the old one until then.
    await asyncio.sleep(after_s)
    await link.close()


def _link_counts(link, feeds, slots, tiers: list[str] | None) -> dict:
    tiers = tiers or [FULL] * len(slots["video"])
    return {
        "state": link.state,
        # what the child asked for, per video track and the best: the layers the link carries down (issue 15)
        "tiers": tiers,
        "tier": max(tiers, key=lambda t: ORDER.index(t) if t in ORDER else len(ORDER)) if tiers else FULL,
        "packets_in": sum(f.packets_in for f in feeds),
        "keyframe_requests_out": sum(f.plis_sent for f in feeds),
        "keyframes_in": sum(f.keyframes for f in feeds),
        "packets_out": {f"{kind}{s.index}": s.packets for kind in KINDS for s in slots[kind]},
        "octets_out": {f"{kind}{s.index}": s.octets for kind in KINDS for s in slots[kind]},
        "retransmitted": sum(s.retransmitted for kind in KINDS for s in slots[kind]),
    }


# --- the relay process's operations (served by relayd; rooms as numbers, like the other ops) --------------

OPS = ("open_link", "close_link", "link_rooms", "link_tier", "dial_link", "link_stats")


def link_peer(link_id: str) -> str:
    return LINK_PREFIX + link_id


async def open_link(meeting_id: int, link_id: str, offer_sdp: str, rooms=(), program: dict | None = None) -> str:
    """On the parent: a child relay of the meeting dials; returns the answer SDP."""
    from . import local

    relay = await local.relay_for(meeting_id, program)
    pid = link_peer(link_id)
    if pid in relay._peers:
        await relay.close_peer(pid)  # the child dials again (it restarted): the new link replaces it
    return await relay.open_link(pid, offer_sdp, [local.peer_id(r) for r in rooms])


async def close_link(meeting_id: int, link_id: str) -> None:
    """On the parent: close a child's link (the child's rooms then get no program from here)."""
    from . import local

    relay = local._relays.get(meeting_id)
    if relay is not None and link_peer(link_id) in relay._peers:
        await relay.close_peer(link_peer(link_id))


async def link_rooms(meeting_id: int, link_id: str, rooms: list[int]) -> None:
    """On the parent: the rooms served at or below a child (the child reports them itself)."""
    from . import local

    relay = local._relays.get(meeting_id)
    if relay is not None:
        relay.set_link_rooms(link_peer(link_id), [local.peer_id(r) for r in rooms])


async def link_tier(meeting_id: int, link_id: str, tiers: list[str]) -> None:
    """On the parent: per video track of a child's link, the best tier of what follows it there (the child
    reports it itself)."""
    from . import local

    relay = local._relays.get(meeting_id)
    if relay is None:
        raise NotFound("media.unknown_peer", f"no relay of meeting {meeting_id} here")
    relay.set_link_tier(link_peer(link_id), tiers)


async def dial_link(meeting_id: int, parent_channel: str, link_id: str, program: dict | None = None) -> dict:
    """On the child: link this process's relay of the meeting to the relay process on
    `parent_channel`, which answers as `open_link`; returns the link's state."""
    from . import local, remote

    relay = await local.relay_for(meeting_id, program)

    async def answer_for(offer_sdp: str) -> str:
        rooms = [local.room_of(pid) for pid in relay.subtree_rooms()]
        return await remote._client().call(
            parent_channel,
            "open_link",
            {"meeting_id": meeting_id, "link_id": link_id, "offer_sdp": offer_sdp, "rooms": rooms, "program": program},
        )

    async def report(rooms: list[str]) -> None:
        await remote._client().call(
            parent_channel,
            "link_rooms",
            {"meeting_id": meeting_id, "link_id": link_id, "rooms": [local.room_of(pid) for pid in rooms]},
            wait=False,
        )

    async def report_tier(tiers: list[str]) -> None:
        await remote._client().call(
            parent_channel, "link_tier", {"meeting_id": meeting_id, "link_id": link_id, "tiers": tiers}
        )

    link = await dial(relay, link_id, answer_for, report, report_tier=report_tier)
    link.parent_channel = parent_channel
    return {"link_id": link_id, "state": link.state}


async def link_stats(meeting_id: int) -> dict:
    """This process's links of the meeting: state, packets, keyframe requests (the operator's view)."""
    from . import local

    relay = local._relays.get(meeting_id)
    return relay.link_stats() if relay is not None else {}

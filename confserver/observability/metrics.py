"""Every metric this product exports, defined once (prometheus-client's default registry, per process).

Counted where the thing happens, with one call each: sockets (confserver/edge/websocket.py), joins and events sent
(confserver/signaling/consumers.py), page renders (confserver/agenda/render.py), recording bytes
(confserver/recording/recorder.py). The relay's figures are not counted per packet: its hot path already keeps
counters (confserver/media/routing.py, stats.py), and `RelayCollector` reads them when scraped, so forwarding costs
nothing more. A peer's totals are added to the process's when it closes (`peer_closed`), so counters never go back.
Several daphne workers: each has its own figures and its own /metrics (no multiprocess mode).
"""

import sys
import threading

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

SOCKETS_OPEN = Gauge("confserver_websockets_open", "WebSockets open on this daphne worker (handshake accepted)")
SOCKETS_OPENED = Counter("confserver_websockets_opened", "WebSockets accepted by this daphne worker")
JOINS = Counter("confserver_joins", "Meeting joins answered ok on this worker (kind: new or resume)", ["kind"])
for _kind in ("new", "resume"):
    JOINS.labels(_kind)  # both series exist from the start (a scrape before any join shows 0)
EVENTS_SENT = Counter("confserver_events_sent", "Meeting notifications sent to sockets by this worker")
PDF_RENDER_SECONDS = Histogram(
    "confserver_pdf_render_seconds",
    "Time to render one document page image in a PDF worker (failures too)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECORDING_BYTES = Counter(
    "confserver_recording_bytes_written",
    "Media bytes (VP8 + Opus payloads) handed to the recording files by this process",
)


def recorded(batch) -> None:
    """Count a batch the recording writer wrote: the relay's (stream, data, ts, key) tuples or EncodedPackets."""
    RECORDING_BYTES.inc(sum(len(p[1]) if type(p) is tuple else len(p.data) for p in batch))


# --- the relay ---------------------------------------------------------------------------------------------------

_RELAY_COUNTERS = {
    # name: (help, what one peer has counted)
    "packets_received": (
        "RTP packets received from publishers by this process's relays",
        lambda peer: sum(f.packets_in for f in peer.feeds.values()),
    ),
    "packets_forwarded": (
        "RTP packets sent to subscribers (rooms and relay links) by this process's relays",
        lambda peer: sum(s.packets for slots in peer.slots.values() for s in slots),
    ),
    "packets_lost": ("RTP packets publishers sent that never arrived (sequence gaps)", lambda peer: _lost(peer)),
    "frames_dropped": (
        "Video frames dropped on receipt as undecodable (a gap before the next keyframe)",
        lambda peer: sum(f.assembler.frames_dropped for f in peer.feeds.values() if f.assembler),
    ),
    "keyframe_requests": (
        "Keyframe requests (PLI) sent to publishers",
        lambda peer: sum(f.plis_sent for f in peer.feeds.values()),
    ),
}
_retired = dict.fromkeys(_RELAY_COUNTERS, 0)
_retired_lock = threading.Lock()


def _lost(peer) -> int:
    expected, received = peer.expected_and_received()
    return max(0, expected - received)


def peer_closed(peer) -> None:
    """A relay peer is going: keep what it counted in the process's totals."""
    try:
        counted = {name: count(peer) for name, (_, count) in _RELAY_COUNTERS.items()}
    except Exception:  # a peer half set up: what it counted is not worth failing a close for
        return
    with _retired_lock:
        for name, value in counted.items():
            _retired[name] += value


class RelayCollector:
    """The relays in this process (media/local.py: one per meeting), read when scraped."""

    def describe(self):
        return []  # no fixed set: nothing to describe before a relay exists

    def collect(self):
        local = sys.modules.get("confserver.media.local")  # not imported: no relay in this process
        relays = list(local._relays.values()) if local is not None else []
        peers = [p for relay in relays for p in list(relay._peers.values())]
        rooms = [p for p in peers if not p.link]
        yield GaugeMetricFamily(
            "confserver_relay_meetings", "Meetings with media on this process's relays", value=len(relays)
        )
        yield GaugeMetricFamily(
            "confserver_relay_rooms", "Rooms (media peers, relay links apart) on this process", value=len(rooms)
        )
        yield GaugeMetricFamily(
            "confserver_relay_rooms_connected",
            "Rooms whose media is connected",
            value=sum(p.state == "connected" for p in rooms),
        )
        yield GaugeMetricFamily(
            "confserver_relay_bitrate_in_bps",
            "Bits per second received (last second or so)",
            value=sum(p.kbps_in for p in peers) * 1000,
        )
        yield GaugeMetricFamily(
            "confserver_relay_bitrate_out_bps",
            "Bits per second sent (last second or so)",
            value=sum(p.kbps_out for p in peers) * 1000,
        )
        with _retired_lock:
            retired = dict(_retired)
        for name, (help_text, count) in _RELAY_COUNTERS.items():
            total = retired[name]
            for peer in peers:
                try:
                    total += count(peer)
                except Exception:  # changing under us (the relay's loop runs on): counted at the next scrape
                    pass
            yield CounterMetricFamily(f"confserver_relay_{name}", help_text, value=total)


REGISTRY.register(RelayCollector())

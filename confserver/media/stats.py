"""What the relay reports about each peer (plain data)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class PeerStats:
    """One peer as the relay sees it; rates are over the last second or so.

    loss_in_pct: packets missing from what the peer sent us (sequence gaps).
    loss_out_pct: what the peer reports missing from what we sent it (RTCP RR).
    rtt_ms: round trip from our sender reports and its receiver reports.
    last_keyframe_in: wall-clock time (time.time()) of its last keyframe, or None.
    downlink_kbps: the bandwidth the peer estimates for what we send (REMB), or None.
    """

    peer_id: str
    state: str
    connected: bool
    bitrate_in_kbps: float
    bitrate_out_kbps: float
    packets_in: int
    packets_out: int
    loss_in_pct: float
    loss_out_pct: float
    rtt_ms: float | None
    last_keyframe_in: float | None
    keyframes_in: int
    keyframe_requests_out: int
    frames_dropped_in: int
    downlink_kbps: float | None
    muted: bool

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
    remb_bps, loss_pct, jitter_ms, nack_per_s: its downlink's feedback, fresh reports only (see
    media/feedback.py `Downlink`): the inputs of a tier loop (issue 15).
    tier, tier_reason, tier_pinned: what of the program's video the room is sent (media/tiers.py) and why.
    program_video: its program slot has been sent a keyframe and forwards frames since (its picture can show).
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
    remb_bps: int | None = None
    loss_pct: float = 0.0
    jitter_ms: float | None = None
    nack_per_s: float = 0.0
    tier: str = "full"
    tier_reason: str = "start"
    tier_pinned: str | None = None
    program_video: bool = False

"""Bursty loss on an in-process relay's send path toward chosen rooms, for tests whose room is a browser (which
cannot be told to lose what it receives; the kernel here has no `netem`). Like testing/lossyrelay.py (same patch
point: a room's first sendings, audio and video; not retransmissions), but set in memory and bursty: a two-state
Gilbert-Elliott chain per room, `loss_pct` on average, in bursts of `burst` packets on average.

    losses = BurstyLosses()
    uninstall = losses.install()
    losses.set("W", loss_pct=5, burst=3)   # losses.set("W") ends it
    ...
    uninstall()
"""

import random

from .lossyrelay import _Losses
from .lossyrelay import install as _install


class BurstyLosses(_Losses):
    def __init__(self):
        super().__init__("")
        self.chains: dict[str, list] = {}  # peer_id -> [loss, burst, bad, seen, dropped]
        self.read_at = float("inf")  # never read a file

    def set(self, peer_id: str, loss_pct: float = 0.0, burst: float = 1.0) -> None:
        chain = self.chains.setdefault(peer_id, [0.0, 1.0, False, 0, 0])
        chain[0], chain[1] = max(0.0, min(loss_pct / 100, 0.95)), max(burst, 1.0)

    def counts(self, peer_id: str) -> tuple[int, int]:
        """(packets seen, packets dropped) toward that room."""
        chain = self.chains.get(peer_id)
        return (chain[3], chain[4]) if chain else (0, 0)

    def of(self, peer_id: str) -> float:
        """1.0 to drop the packet about to be sent to `peer_id`, else 0.0 (lossyrelay's link compares it)."""
        chain = self.chains.get(peer_id)
        if chain is None:
            return 0.0
        loss, burst, bad = chain[0], chain[1], chain[2]
        chain[3] += 1
        if not loss:
            chain[2] = False
            return 0.0
        leave_bad = 1 / burst
        enter_bad = loss * leave_bad / (1 - loss)  # stationary share of the bad state: loss
        chain[2] = bad = random.random() >= leave_bad if bad else random.random() < enter_bad
        if bad:
            chain[4] += 1
            return 1.0
        return 0.0

    def install(self):
        """Patch the relay's send path; returns a function that takes the patch off again."""
        return _install("", losses=self)

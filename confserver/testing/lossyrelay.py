"""A loss shim on the relay's send path, for browser tests of a weak room against a real server (issue 15): the
kernel here has no `netem`, and a browser cannot be told to lose what it receives. Installed only by a test's
settings (tests/e2e/settings_lossy.py adds `LossyRelayConfig` to INSTALLED_APPS); the test writes
{"room-<id>": loss_pct, ...} to the JSON file named by CONFSERVER_TEST_LOSS_FILE, read again every READ_EVERY_S.

A listed room's forwarded packets (audio and video, first sendings; not retransmissions, as on a real lossy
link a NACKed packet often gets through the second time) are dropped at random at that rate.
"""

import json
import os
import random
import time

from django.apps import AppConfig

READ_EVERY_S = 0.5


class _Losses:
    def __init__(self, path: str):
        self.path = path
        self.read_at = -1e9
        self.losses: dict[str, float] = {}

    def of(self, peer_id: str) -> float:
        now = time.monotonic()
        if now - self.read_at >= READ_EVERY_S:
            self.read_at = now
            try:
                with open(self.path) as f:
                    self.losses = {k: max(0.0, min(float(v) / 100, 1.0)) for k, v in json.load(f).items()}
            except (OSError, ValueError):
                self.losses = {}
        return self.losses.get(peer_id, 0.0)


def install(path: str, losses: "_Losses | None" = None):
    """Patch the relay's send path to read `path` (or ask `losses`, testing/burstyrelay.py); returns a function
    that takes the patch off again."""
    from confserver.media import peerslot
    from confserver.media.transport import Link

    losses = losses if losses is not None else _Losses(path)

    class LossyLink(Link):
        __slots__ = ("peer_id",)

        def send(self, packet: bytes) -> None:
            if random.random() >= losses.of(self.peer_id):
                Link.send(self, packet)

    original = peerslot.PeerSlot._output

    def _output(self):
        send = original(self)
        link = self.link
        if send is None or link is None or isinstance(link, LossyLink):
            return send
        lossy = object.__new__(LossyLink)
        for name in Link.__slots__:
            setattr(lossy, name, getattr(link, name))
        lossy.peer_id = self.peer.id
        self.link = lossy
        return lossy.send

    peerslot.PeerSlot._output = _output

    def uninstall() -> None:
        peerslot.PeerSlot._output = original

    return uninstall


class LossyRelayConfig(AppConfig):
    name = "confserver.testing"
    label = "confserver_testing_lossy"

    def ready(self) -> None:
        path = os.environ.get("CONFSERVER_TEST_LOSS_FILE")
        if path:
            install(path)

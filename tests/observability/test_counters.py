"""Counters fed by one call at the place the thing happens (confserver/observability/metrics.py)."""

from fractions import Fraction

from prometheus_client import REGISTRY

from confserver.observability import metrics
from confserver.recording.packets import EncodedPacket


def value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_recording_bytes_count_both_kinds_of_batch():
    before = value("confserver_recording_bytes_written_total")
    metrics.recorded([(0, b"x" * 100, 9000, True), (1, b"y" * 20, 960, False)])  # the relay's hand-over
    metrics.recorded([EncodedPacket.audio(b"z" * 7, 0, Fraction(1, 48000))])
    assert value("confserver_recording_bytes_written_total") - before == 127

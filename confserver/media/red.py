"""Redundant audio (RFC 2198, Chromium's `red/48000/2`) for the rooms that need it (issue 15, "audio first").

What fits aiortc 1.16: it knows no RED (its codec table has Opus, G.722, PCMU, PCMA), so it drops `red` from
every answer and a publisher's RED could never pass through. The relay needs no publisher RED, though: it adds
the redundancy itself, per room. transport.py keeps the `red` a browser offers (its blocks our Opus) in the
answer after Opus; Chromium sends RED only when `red` comes before its codec in the answer, so every room still
publishes plain Opus, and a room that offered it can be sent either. A room on a low tier (T0 or the low layer:
its link loses packets, yet carries ~100 kbps or more) is sent RED: each packet carries the previous one too, so
a single loss costs no sound (Opus in-band FEC, weaker, covers the rest). Not at audio only: its link's capacity
is unknown there and likely under what RED adds (the Opus payload again, ~32 kbps at most, MEDIA_OPUS_MAXAVGBITRATE);
not above T0, where losses are few. A room that did not offer `red` (aiortc) gets plain Opus at every tier.
"""

import struct

from .tiers import T0

MIME = "audio/red"
RED_TIERS = frozenset({T0, "low"})  # "low": the shared low layer's tier, when media/tiers.py has it
MAX_OFFSET = 0x3FFF  # a redundant block's timestamp offset has 14 bits (341 ms at 48 kHz)
MAX_BLOCK = 0x3FF  # and its length 10 bits

_BLOCK = struct.Struct("!BHB")  # F=1 | block PT, then offset (14 bits) and length (10 bits) in three bytes


def wanted(tier: str) -> bool:
    """Whether a room on `tier` is sent RED (when it offered it)."""
    return tier in RED_TIERS


def payload(opus_pt: int, data: bytes, ts: int, previous: tuple[int, bytes] | None) -> bytes:
    """One RED payload: the previous packet (its outgoing timestamp and Opus data) as the redundant block when it
    is recent and small enough, then `data` as the primary block."""
    if previous is not None:
        offset = (ts - previous[0]) & 0xFFFFFFFF
        block = previous[1]
        if 0 < offset <= MAX_OFFSET and 0 < len(block) <= MAX_BLOCK:
            head = _BLOCK.pack(0x80 | opus_pt, (offset << 2) | (len(block) >> 8), len(block) & 0xFF)
            return b"".join((head, bytes((opus_pt,)), block, data))
    return b"".join((bytes((opus_pt,)), data))


def primary(red_payload: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The primary block of a RED payload and its redundant blocks as (timestamp offset, data); (b"", []) for a
    payload cut short. For a publisher that sends RED anyway (transport.py) and for test rooms."""
    blocks, at, size = [], 0, len(red_payload)
    while at < size and red_payload[at] & 0x80:
        if at + 4 > size:
            return b"", []
        offset = (red_payload[at + 1] << 6) | (red_payload[at + 2] >> 2)
        length = ((red_payload[at + 2] & 0x03) << 8) | red_payload[at + 3]
        blocks.append((offset, length))
        at += 4
    at += 1
    redundant = []
    for offset, length in blocks:
        redundant.append((offset, red_payload[at : at + length]))
        at += length
    if at > size:
        return b"", []
    return red_payload[at:], redundant
